"""Old-division records on today's map: roll-up on the map, figures, API, as-of, trend, exports;
the panel's list of former units; a split old unit in every unit it went into."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from conftest import THANH_HOA, add_users, client_as, csrf_token

from geo_app import clock
from geo_app.cache import weight_of
from geo_app.config import SAMPLE_DIR
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.outputs import printmap
from geo_app.readmodel import ReadModel
from geo_app.store import Store

CROSSWALK = THANH_HOA / "crosswalk_2024units_to_2025_vietnamadminunits.csv"
SAMPLE_2024 = SAMPLE_DIR / "status_sample_2024.csv"


def load_crosswalk(store: Store, pairs: bool = True) -> None:
    """Register the old division 2024 and its crosswalk into 2025, as `divisions crosswalk`."""
    units = boundaries.load(THANH_HOA).units
    new = [
        {"code": c, "name": n, "kind": k}
        for c, n, k in zip(units.code, units.name, units.kind, strict=True)
    ]
    old, crosswalk = boundaries.read_crosswalk(CROSSWALK, new)
    store.save_division(
        "2024",
        old,
        valid_from=None,
        valid_to=dt.date(2025, 6, 30),
        source="crosswalk",
        actor="test",
        replace=True,
    )
    if pairs:
        store.save_crosswalk("2024", "2025", crosswalk, actor="test", source="test")


def import_2024(store: Store) -> None:
    old = [importer.UnitRef(u["code"], u["name"], u["kind"]) for u in store.division_units("2024")]
    result = importer.run_import(
        store, SAMPLE_2024.read_bytes(), SAMPLE_2024.name, old, division="2024"
    )
    assert result.created == 38


@pytest.fixture
def app(sample_settings):
    """The app on both sample files (2025 and 2024) with the shared crosswalk loaded."""
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


def shown(client, query: str = "") -> dict[str, str]:
    data = client.get(f"/api/communes.geojson{query}").get_json()
    return {f["properties"]["code"]: f["properties"]["status"] for f in data["features"]}


def test_the_four_units_of_the_2023_report_list_their_former_units(client):
    """DESIGN.md's four: each new unit lists the old unit (old code) it was made of."""
    for new, old_code, old_name in (
        ("16522", "14806", "Quảng Thành"),
        ("16417", "14803", "Quảng Thắng"),
        ("16438", "16438", "Tân Phong"),
        ("15187", "15187", "Kim Tân"),
    ):
        d = client.get(f"/api/communes/{new}").get_json()
        former = {f["code"]: f for f in d["former"]}
        assert former[old_code]["name"] == old_name and former[old_code]["division"] == "2024"
        assert former[old_code]["status"] == "transformed"
        assert former[old_code]["record"]["sample"] is True
        assert d["status"] == "transformed" and d["own_status"] == "transformed"
    d = client.get("/api/communes/16417?lang=vi").get_json()
    thang = next(f for f in d["former"] if f["code"] == "14803")
    assert thang["status_label"] == "Đã chuyển hóa" and thang["kind"] == "Phường"
    assert thang["record"]["display"]["transformed_on"] == "10/04/2023"
    assert thang["split"] is False


def test_a_split_old_unit_shows_in_every_unit_it_went_into_flagged(client):
    """Thị trấn Sơn Lư (relapsed) went into 15016 and 15019; both show it, flagged as split."""
    for code in ("15016", "15019"):
        d = client.get(f"/api/communes/{code}?lang=en").get_json()
        son_lu = next(f for f in d["former"] if f["code"] == "15016")
        assert son_lu["split"] is True and son_lu["status"] == "relapsed"
        assert son_lu["status_label"] == "Relapsed"
        assert d["status"] == "relapsed" and d["status_label"] == "Relapsed"
    assert client.get("/api/communes/15016").get_json()["own_status"] == "hotspot"
    assert client.get("/api/communes/15019").get_json()["own_status"] == "not_listed"
    assert client.get("/api/communes/15019").get_json()["record"] is None


def test_map_data_figures_and_page_show_the_roll_up(client):
    statuses = shown(client)
    assert statuses["15016"] == "relapsed"  # own hotspot, former relapsed
    assert statuses["16213"] == "hotspot"  # own in progress, former hotspot
    assert statuses["15421"] == "hotspot"  # own transformed, former hotspot
    assert statuses["14797"] == "hotspot"  # no own record; two former units
    assert statuses["16522"] == "transformed"
    s = client.get("/api/summary").get_json()
    assert s["listed"] == sum(1 for v in statuses.values() if v != "not_listed") == 80
    assert s["counts"]["relapsed"] == sum(1 for v in statuses.values() if v == "relapsed")
    html = client.get("/").get_data(as_text=True)
    found = re.search(r'<script id="geoapp-statuses" type="application/json">(.*?)</script>', html)
    embedded = json.loads(found.group(1))
    assert embedded["15019"] == "relapsed" and embedded["14797"] == "hotspot"


def test_trend_ends_at_the_figures(client):
    s = client.get("/api/summary").get_json()
    last = client.get("/api/trend").get_json()["points"][-1]
    assert last["counts"] == {k: v for k, v in s["counts"].items() if k != "not_listed"}


def test_as_of_rolls_up_the_former_records_in_force_that_day(client):
    """Thanh Lâm (old 16219) was listed on 04/01/2023 and went into 16213, whose own record
    says it was listed on 09/05/2023: in March 2023 16213 shows the hotspot through its former
    unit alone."""
    before = client.get("/api/communes/16213?as_of=2022-12-31").get_json()
    assert before["status"] == "not_listed"
    assert before["former"][0]["status"] == "not_listed"
    mid = client.get("/api/communes/16213?as_of=2023-03-31").get_json()
    assert mid["status"] == "hotspot" and mid["own_status"] == "not_listed"
    assert [f["name"] for f in mid["former"] if f["status"] == "hotspot"] == ["Thanh Lâm"]
    assert shown(client, "?as_of=2023-03-31")["16213"] == "hotspot"
    assert client.get("/api/communes/16213?as_of=2023-06-30").get_json()["own_status"] == "hotspot"
    yesterday = (clock.today() - dt.timedelta(days=1)).isoformat()
    # Sơn Lư was listed in 2023; its relapse has no date in the file, so it took effect on the
    # day of the import (today): yesterday 15019 showed it listed, not yet relapsed
    assert shown(client, f"?as_of={yesterday}")["15019"] == "hotspot"
    assert shown(client)["15019"] == "relapsed"
    past = client.get("/api/summary?as_of=2023-06-30").get_json()
    assert past["listed"] == sum(
        1 for v in shown(client, "?as_of=2023-06-30").values() if v != "not_listed"
    )


def test_an_edit_of_the_own_record_keeps_the_graver_former_status(client):
    before = client.get("/api/communes/15016").get_json()
    r = client.post(
        "/api/communes/15016/status",
        json={
            "status": "in_progress",
            "effective_on": clock.today().isoformat(),
            "note": "Kiểm tra lại sau đợt ra quân",
            "version": before["record"]["version"],
        },
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert r.status_code == 200, r.get_json()
    d = r.get_json()
    assert d["own_status"] == "in_progress" and d["status"] == "relapsed"
    assert shown(client)["15016"] == "relapsed"


def test_the_pack_page_of_a_unit_lists_its_former_units(client):
    from pypdf import PdfReader

    r = client.get("/export/pack.pdf?area=15019")
    assert r.status_code == 200
    text = PdfReader(io.BytesIO(r.data)).pages[-1].extract_text()
    assert "ĐƠN VỊ CŨ SÁP NHẬP VÀO (3)" in text  # Sơn Hà, Sơn Lư (split), Tam Lư
    assert "Sơn Lư" in text and "Phức tạp trở lại" in text
    assert "đã chia cho nhiều đơn vị" in text
    assert "Hồ sơ của đơn vị: Không thuộc diện" in text


def test_exports_draw_the_roll_up(app):
    svc = app.extensions["geo_app"]
    display = svc.display()
    view = ReadModel(svc.store, "2025").view(list(display.units["code"]))
    data = printmap.MapData(display.units, view, key=display.key)
    statuses = data.statuses()
    assert statuses["15019"] == "relapsed" and statuses["16213"] == "hotspot"
    assert data.summary()["listed"] == 80


def test_a_crosswalk_loaded_into_a_running_app_shows_at_once(sample_settings):
    """The crosswalk is part of the data revision, so cached pages and figures refresh."""
    from geo_app import create_app

    store = Store(sample_settings["DATABASE_URL"])
    add_users(store, sample_settings["DIVISION"])
    application = create_app({**sample_settings, "TESTING": True})
    c = client_as(application, "admin")
    load_crosswalk(store, pairs=False)  # the old division's units, not yet the crosswalk
    import_2024(store)
    assert c.get("/api/summary").get_json()["listed"] == 62  # old records without a crosswalk
    rev = store.revision()
    load_crosswalk(store)
    assert store.revision() > rev
    assert c.get("/api/summary").get_json()["listed"] == 80
    assert shown(c)["15019"] == "relapsed"
    store.dispose()
    application.extensions["geo_app"].store.dispose()


def test_standing_and_revision_on_both_databases(store, units):
    """What the views read, on SQLite and PostgreSQL: roll-up now and as of a day."""
    from conftest import SAMPLE

    importer.run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    load_crosswalk(store, pairs=False)
    import_2024(store)
    codes = [u.code for u in units]
    assert store.standing("2025").statuses(codes)["15019"] == "not_listed"  # no crosswalk yet
    rev = store.revision()
    load_crosswalk(store)
    assert store.revision() > rev
    now = store.standing("2025")
    assert now.statuses(codes)["15019"] == "relapsed"
    assert sum(1 for s in now.statuses(codes).values() if s != "not_listed") == 80
    son_lu = [(p["old_code"], p["split"]) for p, rec in now.former_units("15019") if rec]
    assert son_lu == [("15016", True)]
    past = store.standing("2025", dt.date(2023, 3, 31))
    assert past.statuses(codes)["16213"] == "hotspot"  # through Thanh Lâm, listed 04/01/2023
    assert past.records.get("16213") is None  # its own record says listed on 09/05/2023


def test_the_page_cache_weighs_a_standing_by_its_records(app):
    standing = app.extensions["geo_app"].reader.standing()
    assert weight_of(standing) >= 1024 * (62 + 38 + 558)
