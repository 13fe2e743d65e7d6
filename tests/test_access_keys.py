"""Everyone can use it (issue 16, items 3, 4, 6, 7): search by former names, the figures the
page refreshes after an edit, the map page's keyboard and screen-reader markup (Flask test
client; the browser half is in `test_browser_access.py`)."""

from __future__ import annotations

import pytest
from conftest import add_users, client_as
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
