"""Running the programme: targets per unit, deadlines, the list, what changed, who is responsible,
and the drug programme's criteria."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from click.testing import CliRunner
from conftest import HOTSPOT, THANH_HOA, add_users, client_as, csrf_token
from pypdf import PdfReader

from geo_app import create_app
from geo_app.cli import main
from geo_app.config import SAMPLE_DIR
from geo_app.core import programme as programmes
from geo_app.core.criteria import assess
from geo_app.core.targets import Target, TargetEvent, checklists, deadline
from geo_app.io.importer import run_import
from geo_app.store import Store

TODAY = dt.date(2026, 11, 30)


# -- deadline states on their edges -------------------------------------------------------------
@pytest.mark.parametrize(
    "status, values, expected",
    [
        ("hotspot", {"target_on": TODAY}, ("due_soon", 0)),  # due today
        ("hotspot", {"target_on": TODAY - dt.timedelta(days=1)}, ("overdue", -1)),  # yesterday
        ("hotspot", {"target_on": TODAY - dt.timedelta(days=45)}, ("overdue", -45)),
        ("in_progress", {"target_on": TODAY + dt.timedelta(days=30)}, ("due_soon", 30)),
        ("in_progress", {"target_on": TODAY + dt.timedelta(days=31)}, ("on_track", 31)),
        ("transformed", {"target_on": TODAY, "transformed_on": TODAY}, ("met_early", 0)),
        (
            "transformed",
            {"target_on": TODAY, "transformed_on": TODAY + dt.timedelta(days=1)},
            ("met_late", -1),
        ),
        ("hotspot", {}, ("none", None)),
        ("not_listed", {"target_on": TODAY}, ("none", None)),
    ],
)
def test_deadline_states_on_their_edges(status, values, expected):
    got = deadline(HOTSPOT, status, values, [], TODAY)
    assert (got.state, got.days) == expected


def test_without_a_target_date_the_latest_due_date_of_the_open_targets_counts():
    targets = [
        Target("1", "a", due_on=TODAY + dt.timedelta(days=5)),
        Target("2", "b", due_on=TODAY + dt.timedelta(days=90), met_on=TODAY),  # met: ignored
        Target("3", "c", due_on=TODAY + dt.timedelta(days=10)),
    ]
    got = deadline(HOTSPOT, "hotspot", {}, targets, TODAY)
    assert (got.state, got.due_on, got.days) == ("due_soon", TODAY + dt.timedelta(days=10), 10)


def test_a_checklist_stands_as_it_was_on_a_day():
    day = dt.date(2026, 1, 10)
    events = [
        TargetEvent(1, "x", "1", day, "a", None, None, "", False, "u"),
        TargetEvent(2, "x", "1", day + dt.timedelta(days=5), "a", None, day, "ok", False, "u"),
        TargetEvent(3, "x", "2", day + dt.timedelta(days=6), "b", None, None, "", False, "u"),
        TargetEvent(4, "x", "2", day + dt.timedelta(days=9), "b", None, None, "", True, "u"),
    ]
    assert [(t.key, t.met) for t in checklists(events, day)["x"]] == [("1", False)]
    assert [t.key for t in checklists(events, day + dt.timedelta(days=7))["x"]] == ["1", "2"]
    latest = checklists(events)["x"]
    assert [(t.key, t.met, t.note) for t in latest] == [("1", True, "ok")]


# -- the seed's four units and an overdue hotspot ----------------------------------------------
SEED = (
    "code,status,designated_on,target_on,transformed_on,status_since,unit\n"
    # Quảng Thành, Quảng Thắng, Tân Phong, Kim Tân met their targets early (May 2023 report)
    "16522,transformed,2022-12-15,2023-06-30,2023-03-16,,Công an phường Quảng Phú\n"
    "16417,transformed,2022-12-15,2023-06-30,2023-04-02,,CA phường Đông Quang\n"
    "16438,transformed,2022-12-20,2023-06-30,2023-05-10,,Công an xã Lưu Vệ\n"
    "15187,transformed,2023-01-05,2023-06-30,2023-06-30,,Công an xã Kim Tân\n"
    # a hotspot whose deadline passed 45 days ago
    "14845,hotspot,2023-02-06,2026-10-16,,,Công an xã Mường Lát\n"
    "14857,in_progress,2023-02-16,2026-12-20,,2024-03-01,Công an xã Mường Lát (đội 2)\n"
)


@pytest.fixture
def seed_app(settings, units, tmp_path):
    store = Store(settings["DATABASE_URL"])
    run_import(store, SEED.encode(), "seed.csv", units)
    add_users(store)
    store.dispose()
    app = create_app({**settings, "TESTING": True})
    yield app
    app.extensions["geo_app"].store.dispose()


def test_the_seed_units_met_early_and_a_late_hotspot_is_overdue(seed_app):
    client = client_as(seed_app, "admin")
    for code in ("16522", "16417", "16438", "15187"):
        d = client.get(f"/api/communes/{code}").get_json()["deadline"]
        assert d["state"] == "met_early" and d["target_on"] == "2023-06-30", code
        assert client.get(f"/api/communes/{code}").get_json()["targets_met"] == 5
    late = client.get("/api/communes/14845").get_json()
    assert late["deadline"] == {"state": "overdue", "target_on": "2026-10-16", "days": -45}
    assert (late["targets_met"], late["targets_total"]) == (0, 5)
    assert late["targets"][0]["state"] == "overdue"
    summary = client.get("/api/summary").get_json()
    assert (summary["overdue"], summary["due_soon"], summary["met_early"]) == (1, 1, 4)
    html = client.get("/").get_data(as_text=True)
    assert 'data-deadline="overdue"><span class="figure-value">1<' in html
    assert '"14845": "overdue"' in html  # the map's outline marks

    # the list: filters, sort, downloads of what is shown
    rows = client.get("/api/communes?deadline=met_early&sort=name").get_json()["units"]
    assert [r["code"] for r in rows] == ["16417", "15187", "16438", "16522"]  # by name
    assert all(r["deadline"]["state"] == "met_early" for r in rows)
    overdue = client.get("/api/communes?deadline=overdue").get_json()["units"]
    assert [(r["code"], r["deadline"]["days"]) for r in overdue] == [("14845", -45)]
    by_unit = client.get("/api/communes").get_json()["by_unit"]
    lat = next(g for g in by_unit if g["unit"].startswith("Công an xã Mường Lát"))
    assert (lat["listed"], lat["overdue"]) == (2, 1)  # "(đội 2)" groups with it
    dong_quang = client.get("/api/communes?unit=Công an phường Đông Quang").get_json()["units"]
    assert [r["code"] for r in dong_quang] == ["16417"]  # "CA" is "Công an"
    assert client.get("/api/communes?sort=colour").status_code == 400
    page = client.get("/list?deadline=overdue").get_data(as_text=True)
    assert 'data-code="14845"' in page and 'data-code="16522"' not in page
    assert "Quá hạn 45 ngày" in page
    download = client.get("/list.csv?deadline=met_early&sort=name")
    lines = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert [line[0] for line in lines[1:]] == ["16417", "15187", "16438", "16522"]

    # the pack: the summary table is its second page
    pack = client.get("/export/pack.pdf?area=16522")
    pages = PdfReader(io.BytesIO(pack.data)).pages
    text = pages[1].extract_text()
    assert "DANH SÁCH ĐỊA BÀN" in text and "Đạt sớm" in text and "Quá hạn 45 ngày" in text
    assert "SỐ LIỆU THEO ĐƠN VỊ PHỤ TRÁCH" in pages[2].extract_text()


def test_an_officer_ticks_a_target_and_an_admin_edits_the_list(seed_app):
    officer = client_as(seed_app, "officer")  # assigned 14845 and 16522
    token = csrf_token(officer)
    unit = officer.get("/api/communes/14845").get_json()
    first = unit["targets"][0]
    r = officer.post(
        "/api/communes/14845/targets",
        json={"key": first["key"], "met_on": "2026-11-20", "note": "Giảm 30 %"},
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 200, r.get_json()
    after = r.get_json()
    assert after["targets_met"] == 1 and after["targets"][0]["state"] == "met"
    assert after["targets"][0]["updated_by"] == "officer"
    refused = officer.post(
        "/api/communes/14845/targets",
        json={"key": None, "title": "Mới"},
        headers={"X-CSRFToken": token},
    )
    assert refused.status_code == 403
    future = officer.post(
        "/api/communes/14845/targets",
        json={"key": first["key"], "met_on": "2026-12-25"},
        headers={"X-CSRFToken": token},
    )
    assert future.status_code == 400
    admin = client_as(seed_app, "admin")
    r = admin.post(
        "/api/communes/14845/targets",
        json={"key": None, "title": "Tổ chức hội nghị sơ kết", "due_on": "2027-03-01"},
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert r.status_code == 200 and r.get_json()["targets_total"] == 6
    store = seed_app.extensions["geo_app"].store
    actions = [e["action"] for e in store.audit_entries(action="target.")]
    assert actions == ["target.set", "target.set"]
    # as of yesterday, the checklist stood as before the tick
    before = admin.get("/api/communes/14845?as_of=2026-11-29").get_json()
    assert before["targets_met"] == 0 and before["targets_total"] == 5


def test_targets_import_and_export_round_trip_with_row_numbered_problems(
    seed_app, monkeypatch, tmp_path
):
    settings = seed_app.config["GEO_APP"]
    monkeypatch.setenv("GEO_APP_DATABASE_URL", settings["DATABASE_URL"])
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", settings["CACHE_DIR"])
    out = tmp_path / "targets.xlsx"
    r = CliRunner().invoke(main, ["targets", "export", "--out", str(out)])
    assert r.exit_code == 0 and "30 targets of 6 units" in r.output
    r = CliRunner().invoke(main, ["targets", "import", str(out)])
    assert r.exit_code == 0 and "0 targets were added, 0 updated, 30 unchanged" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,target,due_on,met_on,note\n"
        "14845,Kéo giảm tội phạm và vi phạm pháp luật về trật tự xã hội,2026-10-16,2026-11-01,x\n"
        "99999,y,,,\n14848,y,,,\n14845,z,2026-13-01,,\n",
        encoding="utf-8",
    )
    count = len(seed_app.extensions["geo_app"].store.audit_entries())
    r = CliRunner().invoke(main, ["targets", "import", str(bad)])
    assert r.exit_code == 1
    assert "row 3, column code, value '99999': no unit has this code" in r.output
    assert "row 4, column code, value '14848'" in r.output
    assert "row 5, column due_on" in r.output
    assert len(seed_app.extensions["geo_app"].store.audit_entries()) == count  # nothing written
    good = tmp_path / "good.csv"
    good.write_text("\n".join(bad.read_text(encoding="utf-8").splitlines()[:2]) + "\n", "utf-8")
    r = CliRunner().invoke(main, ["targets", "import", str(good)])
    assert r.exit_code == 0 and "1 updated" in r.output


# -- what changed ------------------------------------------------------------------------------
def test_changes_between_two_dates_include_a_change_through_a_former_unit(app, frozen_clock):
    from test_rollup_web import import_2024, load_crosswalk

    store = app.extensions["geo_app"].store
    client = client_as(app, "admin")
    token = csrf_token(client)

    def edit(code: str, status: str, day: str):
        unit = client.get(f"/api/communes/{code}").get_json()
        body = {"status": status, "effective_on": day, "note": "kỳ này"}
        body["version"] = unit["record"]["version"] if unit["record"] else None
        r = client.post(f"/api/communes/{code}/status", json=body, headers={"X-CSRFToken": token})
        assert r.status_code == 200, r.get_json()

    edit("16213", "transformed", "2026-11-30")  # inside the period
    load_crosswalk(store)
    import_2024(store)  # old records: Sơn Lư (15016 → 15019) relapsed on the import day
    frozen_clock.move_to(dt.datetime(2026, 12, 20, 3, 0, tzinfo=dt.UTC))
    client = client_as(app, "admin")  # twenty days on, the session has long been idle
    token = csrf_token(client)
    edit("14845", "in_progress", "2026-12-20")  # after the period
    found = client.get("/api/changes?from=2026-11-01&to=2026-12-19").get_json()
    changed = {e["code"]: e for e in found["changes"]}
    # its edit came after the period: only its deadline moved in it (on track to due soon)
    assert (
        changed["14845"]["status_after"] == "hotspot" and changed["14845"]["change"] == "deadline"
    )
    assert changed["16213"]["status_after"] in ("hotspot", "relapsed")  # roll-up
    son_lu = changed["15019"]  # only through a former (2024) unit: listed since 2023
    assert son_lu["status_before"] == "hotspot" and son_lu["status_after"] == "relapsed"
    assert son_lu["change"] == "relapsed" and son_lu["source"] == "import"
    assert son_lu["date"] == "2026-11-30"
    assert sum(found["counts"].values()) == len(found["changes"])
    page = client.get("/?since=2026-11-01").get_data(as_text=True)
    assert 'id="since-banner"' in page and '"15019"' in page
    assert client.get("/api/changes?from=2026-12-31&to=2026-12-01").status_code == 400


def test_the_changes_report_from_the_command_line(sample_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("GEO_APP_DATABASE_URL", sample_settings["DATABASE_URL"])
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", sample_settings["CACHE_DIR"])
    out = tmp_path / "changes.csv"
    r = CliRunner().invoke(main, ["report", "changes", "--from", "2023-01-01", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 62 and {r["change"] for r in rows} >= {"newly_listed"}
    future = ["report", "changes", "--from", "2030-01-01", "--out", str(out)]
    assert CliRunner().invoke(main, future).exit_code == 1


# -- the drug programme's criteria ---------------------------------------------------------------
def test_a_unit_whose_indicators_meet_type_two_but_recorded_type_three_is_flagged(app, units):
    drugs = programmes.get("drugs")
    values = {"users_pct": 0.264, "use_points": 1, "offenders_pct": 0.072, "plants": 820}
    found = assess(drugs, values)
    assert found.suggested == "type_2" and found.disagrees_with(drugs, "type_3")
    assert not found.disagrees_with(drugs, "type_2")
    store = app.extensions["geo_app"].store
    sample = SAMPLE_DIR / "drugs_sample_2025.csv"
    run_import(store, sample.read_bytes(), sample.name, units, programme="drugs")
    client = client_as(app, "admin")
    unit = client.get("/api/communes/15607?programme=drugs").get_json()
    assert unit["criteria"]["suggested"] == "type_2" and unit["criteria"]["disagrees"] is True
    assert any(m["clause"] == "Khoản 2, điểm b" for m in unit["criteria"]["met"])
    rows = client.get("/api/communes?programme=drugs").get_json()["units"]
    flagged = [r["code"] for r in rows if r["criteria"] and r["criteria"]["disagrees"]]
    assert flagged == ["15607"]  # the sample's one inconsistent row
    page = client.get("/list?programme=drugs").get_data(as_text=True)
    assert page.count('data-flag="criteria"') == 1
