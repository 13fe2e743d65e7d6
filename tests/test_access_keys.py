"""Everyone can use it (issue 16, items 3, 4, 6, 7): search by former names, the figures the
page refreshes after an edit, the map page's keyboard and screen-reader markup (Flask test
client; the browser half is in `test_browser_access.py`)."""

from __future__ import annotations

import re

import pytest
from conftest import add_users, client_as, csrf_token
from test_rollup_web import import_2024, load_crosswalk

from geo_app.store import Store


@pytest.fixture
def app(sample_settings):
    """The app on the 2025 sample records with the 2024 division and its crosswalk loaded."""
    from geo_app import create_app

    store = Store(sample_settings["DATABASE_URL"])
    add_users(store, sample_settings["DIVISION"])
    load_crosswalk(store)
    import_2024(store)
    store.dispose()
    application = create_app({**sample_settings, "TESTING": True})
    yield application
    application.extensions["geo_app"].store.dispose()


@pytest.fixture
def client(app):
    return client_as(app, "admin")


def search(client, q: str, **params) -> list[dict]:
    r = client.get("/api/search", query_string={"q": q, **params})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["matches"]


# -- search by former names -------------------------------------------------------------------
def test_a_former_town_is_found_by_its_old_kind_and_name_and_gives_todays_unit(client):
    (m,) = search(client, "Thị trấn Mường Lát")
    assert (m["code"], m["kind"], m["name"], m["exact"]) == ("14845", "Xã", "Mường Lát", True)
    assert m["former"] == {
        "division": "2024",
        "code": "14845",
        "kind": "Thị trấn",
        "name": "Mường Lát",
    }
    assert search(client, "thi tran muong lat") == [m]  # typed without diacritics


def test_a_former_commune_merged_into_another_is_found(client):
    (m,) = search(client, "Minh Tân")
    assert (m["code"], m["kind"], m["name"]) == ("15382", "Xã", "Biện Thượng")
    assert m["former"]["name"] == "Minh Tân" and m["former"]["kind"] == "Xã"
    assert search(client, "xa minh tan") == [m]


def test_a_unit_found_by_its_own_name_is_not_given_again_for_a_former_name(client):
    matches = search(client, "Mường Lát")
    codes = [m["code"] for m in matches]
    assert codes.count("14845") == 1
    first = matches[0]
    assert first["code"] == "14845" and "former" not in first  # today's name ranks first


def test_current_names_still_rank_before_former_ones(client):
    matches = search(client, "quang phu")
    assert matches[0]["code"] == "16522" and "former" not in matches[0]


def test_a_split_former_unit_gives_each_unit_it_went_into(client, app):
    store = app.extensions["geo_app"].store
    split = [p for p in store.crosswalk_into("2025") if p["split"]]
    assert split, "the shared crosswalk has split units"
    old = split[0]
    into = {p["new_code"] for p in split if p["old_code"] == old["old_code"]}
    matches = search(client, f"{old['kind']} {old['name']}", limit=50)
    former = {m["code"] for m in matches if m.get("former", {}).get("code") == old["old_code"]}
    own = {m["code"] for m in matches if "former" not in m}
    assert former | (into & own) == into


def test_without_a_crosswalk_former_names_find_nothing(sample_settings):
    from geo_app import create_app

    store = Store(sample_settings["DATABASE_URL"])
    add_users(store, sample_settings["DIVISION"])
    store.dispose()
    application = create_app({**sample_settings, "TESTING": True})
    try:
        c = client_as(application, "admin")
        assert search(c, "Minh Tân") == []
        load_crosswalk(application.extensions["geo_app"].store)  # a new revision: found now
        assert [m["code"] for m in search(c, "Minh Tân")] == ["15382"]
    finally:
        application.extensions["geo_app"].store.dispose()


def test_bad_search_input_gets_a_clear_message(client):
    r = client.get("/api/search?q=%20")
    assert r.status_code == 400 and "q is required" in r.get_json()["error"]
    r = client.get("/api/search", query_string={"q": "x" * 101})
    assert r.status_code == 400 and "too long" in r.get_json()["error"]


def test_names_of_today_shared_by_former_units_still_come_first(client):
    matches = search(client, "dong tien", limit=50)
    today = [m for m in matches if "former" not in m]
    assert {(m["kind"], m["name"]) for m in today} == {("Phường", "Đông Tiến"), ("Xã", "Đồng Tiến")}
    assert matches[: len(today)] == today
    assert all(m["code"] not in {t["code"] for t in today} for m in matches[len(today) :])


def test_the_summary_sends_the_tiles_as_the_page_shows_them(client):
    s = client.get("/api/summary").get_json()
    tiles = {t["code"]: t for t in s["tiles"]}
    assert set(tiles) == {"hotspot", "in_progress", "transformed", "relapsed"}
    assert all(tiles[c]["count"] == s["counts"][c] for c in tiles)
    head = s["tiles"][0]
    assert head["note"] and "%" in head["note"]
    html = client.get("/").get_data(as_text=True)
    assert head["note"] in html
    s_en = client.get("/api/summary?lang=en").get_json()
    assert s_en["tiles"][0]["note"] != head["note"]


def test_the_summary_tiles_follow_an_edit(client):
    before = client.get("/api/summary").get_json()["tiles"][0]
    version = client.get("/api/communes/14845").get_json()["record"]["version"]
    body = {"status": before["code"], "effective_on": "2026-11-30", "note": "Đạt tiêu chí"}
    r = client.post(
        "/api/communes/14845/status",
        json={**body, "version": version},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    after = client.get("/api/summary").get_json()["tiles"][0]
    assert after["count"] == before["count"] + 1
    assert after["note"] != before["note"]


def test_the_map_page_has_a_skip_link_first_a_live_region_and_the_trend_table(client):
    html = client.get("/").get_data(as_text=True)
    body = html[html.index("<body") :]
    first = re.search(r"<(a|button|input|select|summary|textarea)\b[^>]*>", body).group(0)
    assert 'id="skip-link"' in first and 'href="#search-input"' in first
    assert "Đến ô tìm kiếm" in body
    assert re.search(r'id="live-status" role="status" aria-live="polite"', body)
    assert re.search(r'<h2 id="panel-title"[^>]*tabindex="-1"', body)
    assert "<summary>Xem dạng bảng</summary>" in body and 'id="trend-table"' in body
    assert 'id="trend-legend"' in body
