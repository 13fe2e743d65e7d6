"""Plausible dates in one place of the core, for every door, and the repair of a unit damaged
before the rule (issue 12, item 2)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from conftest import TODAY, client_as, csrf_token

from geo_app.cli import main as cli_main
from geo_app.core import changes
from geo_app.core.records import Record
from geo_app.errors import ImportFailed
from geo_app.io.importer import run_import
from geo_app.store import Change


def _store(app):
    return app.extensions["geo_app"].store


def _edit(client, code: str, **body):
    return client.post(
        f"/api/communes/{code}/status", json=body, headers={"X-CSRFToken": csrf_token(client)}
    )


def _state(store) -> tuple:
    return (
        {c: r.to_dict() for c, r in store.records("2025").items()},
        store.history_count(),
        len(store.audit_entries()),
        store.revision(),
    )


# -- the rule -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "day", "ok"),
    [
        ("designated_on", dt.date(9999, 12, 31), False),
        ("designated_on", dt.date(1, 1, 1), False),
        ("designated_on", dt.date(1999, 12, 31), False),
        ("designated_on", dt.date(2000, 1, 1), True),
        ("designated_on", TODAY, True),
        ("designated_on", TODAY + dt.timedelta(days=1), False),
        ("transformed_on", TODAY + dt.timedelta(days=1), False),
        ("transformed_on", dt.date(2023, 5, 19), True),
        ("target_on", dt.date(2046, 11, 30), True),
        ("target_on", dt.date(2046, 12, 1), False),
        ("target_on", dt.date(1999, 1, 1), False),
    ],
)
def test_each_date_has_a_plausible_range(field, day, ok):
    refused = changes.implausible_dates({field: day}, TODAY)
    assert (not refused) is ok
    if not ok:
        (exc,) = refused
        assert (exc.field, exc.value) == (field, day)
        latest = "2046-11-30" if field == "target_on" else "2026-11-30"
        assert f"from 2000-01-01 to {latest}" in exc.text("en")
        assert f"từ 01/01/2000 đến {dt.date.fromisoformat(latest):%d/%m/%Y}" in exc.text("vi")


def test_the_effective_day_of_a_change_starts_in_2000_too():
    assert changes.EARLIEST == dt.date(2000, 1, 1)
    with pytest.raises(changes.ChangeRefused, match="before 2000-01-01"):
        changes.check_effective(dt.date(1999, 12, 31), today=TODAY, last=None, correction=True)


# -- the import ---------------------------------------------------------------------------------
def test_an_import_names_the_row_and_the_range_and_writes_nothing(sqlite_store, units):
    data = (
        b"code,status,designated_on,target_on,transformed_on\n"
        b"16522,hotspot,31/12/9999,,\n"
        b"16417,transformed,2023-05-19,,0001-01-01\n"
        b"15187,hotspot,2023-05-19,2060-01-01,\n"
        b"14845,hotspot,2023-05-19,2030-12-31,\n"
    )
    with pytest.raises(ImportFailed) as info:
        run_import(sqlite_store, data, "dates.csv", units)
    found = {(p["row"], p["column"], p["value"]) for p in info.value.details}
    assert found == {
        (2, "designated_on", "9999-12-31"),
        (3, "transformed_on", "0001-01-01"),
        (4, "target_on", "2060-01-01"),
    }
    reasons = {p["column"]: p["reason"] for p in info.value.details if "plausible" in p["reason"]}
    assert set(reasons) == {"designated_on", "transformed_on", "target_on"}
    assert "from 2000-01-01 to 2026-11-30" in reasons["designated_on"]
    assert "from 2000-01-01 to 2046-11-30" in reasons["target_on"]
    assert sqlite_store.history_count() == 0 and sqlite_store.revision() == 0


def test_an_import_of_a_year_0001_cannot_make_the_trend_thousands_of_months_long(app):
    admin = client_as(app, "admin")
    r = admin.post(
        "/api/status/import",
        data={"file": (_bytes("code,status,status_since\n16522,hotspot,0001-01-01\n"), "x.csv")},
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert r.status_code == 422
    assert "01/01/0001 là trước 01/01/2000" in r.get_json()["details"][0]["reason"]
    points = admin.get("/api/trend").get_json()["points"]
    assert len(points) < 12 * (TODAY.year - 2000 + 1)


def _bytes(text: str):
    import io

    return io.BytesIO(text.encode())


# -- the web edit -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [("designated_on", "9999-12-31"), ("target_on", "2099-01-01"), ("transformed_on", "1899-1-1")],
)
def test_a_web_edit_refuses_an_implausible_date_and_writes_nothing(app, field, value):
    admin = client_as(app, "admin")
    unit = admin.get("/api/communes/14845").get_json()
    before = _state(_store(app))
    r = _edit(
        admin,
        "14845",
        status="in_progress",
        effective_on=TODAY.isoformat(),
        note="typo",
        version=unit["record"]["version"],
        **{field: value},
    )
    assert r.status_code == 400
    assert field in r.get_json()["error"] and "plausible" not in r.get_json()["error"]  # vi
    assert "từ 01/01/2000 đến" in r.get_json()["error"]
    assert _state(_store(app)) == before


# -- a damaged unit and its repair --------------------------------------------------------------
def _damage(app, code: str = "16522") -> int:
    """Write what an import before the rule could: a change dated 31/12/9999, with that date as
    its designated_on. Return the damaged history entry's id."""
    store = _store(app)
    current = store.record("2025", code)
    bad = Record(code, "hotspot", designated_on=dt.date(9999, 12, 31))
    store.apply(
        [Change(bad, current.record, dt.date(9999, 12, 31), expected_version=current.version)],
        actor="old-import",
        source="import:damaged.xlsx",
    )
    return store.history("2025", code)[-1]["id"]


def test_a_damaged_unit_is_locked_until_an_admin_repairs_its_history_entry(app):
    entry = _damage(app)
    admin = client_as(app, "admin")
    unit = admin.get("/api/communes/16522").get_json()
    assert unit["record"]["designated_on"] == "9999-12-31"
    r = _edit(
        admin,
        "16522",
        status="in_progress",
        effective_on=TODAY.isoformat(),
        note="x",
        version=unit["record"]["version"],
        designated_on="2023-05-19",
    )
    assert r.status_code == 400 and "9999" in r.get_json()["error"]  # history cannot go back

    # the repair: the entry's day and record, audited; the record is recomputed
    revision = _store(app).revision()
    r = admin.post(
        f"/api/communes/16522/history/{entry}?lang=en",
        json={
            "effective_on": "2026-11-01",
            "designated_on": "2023-05-19",
            "note": "31/12/9999 was a typing error",
        },
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert r.status_code == 200, r.get_json()
    unit = r.get_json()
    assert unit["record"]["designated_on"] == "2023-05-19"
    assert unit["record"]["status"] == "hotspot"
    assert unit["history"][-1]["effective_on"] == "2026-11-01"
    assert _store(app).revision() > revision  # every worker shows the repair at once
    (audit,) = _store(app).audit_entries(action="status.repair")
    assert audit["actor"] == "admin" and audit["target"] == "2025:16522"
    assert audit["details"]["entry"] == entry
    assert audit["details"]["old"]["effective_on"] == "9999-12-31"
    assert audit["details"]["old"]["record"]["designated_on"] == "9999-12-31"
    assert audit["details"]["new"]["effective_on"] == "2026-11-01"
    assert audit["details"]["new"]["record"]["designated_on"] == "2023-05-19"
    assert audit["details"]["note"] == "31/12/9999 was a typing error"

    # the unit takes changes again
    r = _edit(
        admin,
        "16522",
        status="in_progress",
        effective_on=TODAY.isoformat(),
        note="works again",
        version=unit["record"]["version"],
    )
    assert r.status_code == 200, r.get_json()


def test_a_repair_recomputes_the_current_record_as_the_latest_event(app):
    """Moving the latest entry into the past makes the entry before it the current record."""
    entry = _damage(app)
    store = _store(app)
    history = store.history("2025", "16522")
    previous = history[-2]
    admin = client_as(app, "admin")
    r = admin.post(
        f"/api/communes/16522/history/{entry}",
        json={"effective_on": "2020-01-01", "designated_on": "2020-01-01", "note": "older"},
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert r.status_code == 200
    assert store.record("2025", "16522").record.status == previous["new_status"]
    assert r.get_json()["history"][0]["id"] == entry  # it sits where its date puts it


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"effective_on": "9999-01-01", "note": "x"}, 400, "after today"),
        ({"designated_on": "0001-01-01", "effective_on": "2026-11-01", "note": "x"}, 400, "2000"),
        ({"note": "keeps 9999"}, 400, "after today"),  # the entry's own day is still impossible
        ({"effective_on": "2026-11-01"}, 400, "note"),
        ({"effective_on": "2026-11-01", "note": "x", "version": 3}, 400, "version"),
        ({"effective_on": "2026-11-01", "note": "x", "status": "gone"}, 400, "gone"),
    ],
)
def test_a_bad_repair_is_refused_and_changes_nothing(app, body, status, text):
    entry = _damage(app)
    admin = client_as(app, "admin")
    before = _state(_store(app))
    r = admin.post(
        f"/api/communes/16522/history/{entry}?lang=en",
        json=body,
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert r.status_code == status and text in r.get_json()["error"]
    assert _state(_store(app)) == before


def test_a_repair_names_an_entry_of_that_unit_only(app):
    entry = _damage(app)
    admin = client_as(app, "admin")
    r = admin.post(
        f"/api/communes/16417/history/{entry}",
        json={"effective_on": "2026-11-01", "note": "x"},
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert r.status_code == 404


def test_the_command_line_lists_and_repairs_history_entries(app, monkeypatch):
    entry = _damage(app)
    monkeypatch.setenv("GEO_APP_DATABASE_URL", _store(app).url)
    run = CliRunner().invoke
    listed = run(cli_main, ["status", "history", "16522"])
    assert listed.exit_code == 0 and f"#{entry}" in listed.output
    assert "9999-12-31" in listed.output
    bad = run(cli_main, ["status", "repair", "16522", str(entry), "--note", "x"])
    assert bad.exit_code == 1 and "after today" in bad.output
    r = run(
        cli_main,
        [
            "status",
            "repair",
            "16522",
            str(entry),
            "--effective-on",
            "2026-11-01",
            "--set",
            "designated_on=19/05/2023",
            "--note",
            "typing error",
        ],
    )
    assert r.exit_code == 0, r.output
    record = _store(app).record("2025", "16522").record
    assert record.get("designated_on") == dt.date(2023, 5, 19)
    (audit,) = _store(app).audit_entries(action="status.repair")
    assert audit["actor"] == "cli" and audit["details"]["old"]["effective_on"] == "9999-12-31"
