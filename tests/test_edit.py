"""Editing a unit's record from the web, the import page, admin actions: each change audited."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from conftest import OFFICER_UNITS, client_as, csrf_token
from conftest import TODAY as CONFTEST_TODAY


def store_of(app):
    return app.extensions["geo_app"].store


def snapshot(app) -> tuple:
    """Everything an edit could write: records, history and audit."""
    store = store_of(app)
    return (
        {c: r.to_dict() for c, r in store.records("2025").items()},
        store.history_count(),
        len(store.audit_entries()),
    )


def edit(client, code: str, token: str | None = None, **body):
    headers = {"X-CSRFToken": token or csrf_token(client)}
    return client.post(f"/api/communes/{code}/status", json=body, headers=headers)


def current(client, code: str) -> dict:
    return client.get(f"/api/communes/{code}").get_json()


def last_effective(client, code: str) -> str:
    return current(client, code)["history"][-1]["effective_on"]


TODAY = CONFTEST_TODAY.isoformat()


# -- the edit -----------------------------------------------------------------------------------
def test_officer_changes_an_assigned_unit_with_one_history_and_one_audit_entry(app):
    officer = client_as(app, "officer")
    before = current(officer, "14845")
    assert before["status"] == "hotspot" and before["can_edit"] is True
    audit_before = len(store_of(app).audit_entries())
    r = edit(
        officer,
        "14845",
        status="in_progress",
        effective_on=TODAY,
        note="Kế hoạch chuyển hóa được phê duyệt",
        version=before["record"]["version"],
        unit="Công an xã Mường Lát (đội 2)",
    )
    assert r.status_code == 200, r.get_json()
    after = r.get_json()
    assert after["status"] == "in_progress" and after["code"] == "14845"
    assert after["record"]["version"] == before["record"]["version"] + 1
    assert after["record"]["unit"] == "Công an xã Mường Lát (đội 2)"
    assert after["record"]["problems"] == before["record"]["problems"]  # kept when not sent
    h = after["history"][-1]
    assert (h["actor"], h["source"], h["effective_on"]) == ("officer", "web", TODAY)
    assert h["note"] == "Kế hoạch chuyển hóa được phê duyệt"
    assert (h["old_status"], h["new_status"]) == ("hotspot", "in_progress")
    audit = store_of(app).audit_entries()
    assert len(audit) == audit_before + 1
    assert audit[0]["actor"] == "officer" and audit[0]["action"] == "status.update"
    assert audit[0]["source"] == "web" and audit[0]["target"] == "2025:14845"
    summary = officer.get("/api/summary").get_json()
    assert summary["counts"]["hotspot"] == 23 and summary["counts"]["in_progress"] == 23


def test_stale_version_is_409_with_the_current_record_and_nothing_written(app):
    admin = client_as(app, "admin")
    v = current(admin, "14845")["record"]["version"]
    ok = edit(admin, "14845", status="in_progress", effective_on=TODAY, note="first", version=v)
    assert ok.status_code == 200
    before = snapshot(app)
    stale = edit(admin, "14845", status="transformed", effective_on=TODAY, note="late", version=v)
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["current"]["status"] == "in_progress"
    assert body["current"]["record"]["version"] == v + 1
    assert body["error"].startswith("Hồ sơ này vừa được người khác thay đổi")
    assert snapshot(app) == before


def test_null_version_for_a_unit_with_a_record_is_a_conflict(app):
    admin = client_as(app, "admin")
    before = snapshot(app)
    r = edit(admin, "14845", status="transformed", effective_on=TODAY, note="x", version=None)
    assert r.status_code == 409 and r.get_json()["current"]["status"] == "hotspot"
    assert snapshot(app) == before


def test_a_unit_without_record_gets_its_first_one(app):
    admin = client_as(app, "admin")
    assert current(admin, "14848")["record"] is None
    r = edit(
        admin, "14848", status="hotspot", effective_on=TODAY, note="Đưa vào diện", version=None
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["record"]["version"] == 1
    assert store_of(app).audit_entries(limit=1)[0]["action"] == "status.create"


def test_transformed_unit_turning_hotspot_is_recorded_as_relapsed(app):
    admin = client_as(app, "admin")
    unit = current(admin, "16522")
    assert unit["status"] == "transformed"
    before = admin.get("/api/summary").get_json()["counts"]
    r = edit(
        admin,
        "16522",
        status="hotspot",
        effective_on=TODAY,
        note="Phức tạp trở lại",
        version=unit["record"]["version"],
    )
    assert r.status_code == 200
    assert r.get_json()["status"] == "relapsed"
    assert r.get_json()["history"][-1]["new_status"] == "relapsed"
    after = admin.get("/api/summary").get_json()["counts"]
    assert after["relapsed"] == before["relapsed"] + 1
    assert after["transformed"] == before["transformed"] - 1
    geo = admin.get("/api/communes.geojson").get_json()
    props = {f["properties"]["code"]: f["properties"] for f in geo["features"]}
    assert props["16522"]["status"] == "relapsed"


def test_transformed_gets_its_date_when_none_is_given(app):
    admin = client_as(app, "admin")
    unit = current(admin, "14845")
    r = edit(
        admin,
        "14845",
        status="transformed",
        effective_on=TODAY,
        note="Công nhận",
        version=unit["record"]["version"],
    )
    assert r.get_json()["record"]["transformed_on"] == TODAY


def valid(client, code="14845", **override):
    unit = current(client, code)
    body = {
        "status": "in_progress",
        "effective_on": TODAY,
        "note": "a reason",
        "version": unit["record"]["version"] if unit["record"] else None,
    }
    body.update(override)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"status": "burning"}, "status"),
        ({"status": ...}, "status"),
        ({"status": "not_listed"}, "status"),
        ({"effective_on": "2025-13-01"}, "effective_on"),
        ({"effective_on": ...}, "effective_on"),
        ({"effective_on": "2999-01-01"}, "effective_on"),
        ({"effective_on": "2001-01-01"}, "effective_on"),  # before the unit's last change
        ({"note": "  "}, "note"),
        ({"note": ...}, "note"),
        ({"note": "x" * 2001}, "note"),
        ({"version": "3"}, "version"),
        ({"designated_on": "yesterday"}, "designated_on"),
        ({"problems": 5}, "problems"),
        ({"colour": "red"}, "colour"),
        ({"status": "hotspot"}, "Nothing changed"),
    ],
)
def test_bad_edits_are_400_naming_the_field_and_change_nothing(app, override, needle):
    admin = client_as(app, "admin")
    body = valid(admin, **override)
    before = snapshot(app)
    r = admin.post(
        "/api/communes/14845/status?lang=en", json=body, headers={"X-CSRFToken": csrf_token(admin)}
    )
    assert r.status_code == 400, r.get_json()
    assert needle in r.get_json()["error"]
    assert snapshot(app) == before


def test_not_json_unknown_and_malformed_codes(app):
    admin = client_as(app, "admin")
    token = csrf_token(admin)
    r = admin.post("/api/communes/14845/status", data="status=x", headers={"X-CSRFToken": token})
    assert r.status_code == 400 and "JSON" in r.get_json()["error"]
    r = admin.post("/api/communes/99999/status", json={}, headers={"X-CSRFToken": token})
    assert r.status_code == 404
    r = admin.post("/api/communes/a%20b/status", json={}, headers={"X-CSRFToken": token})
    assert r.status_code == 400


def test_back_dated_change_is_refused_with_the_last_date(app):
    admin = client_as(app, "admin")
    last = dt.date.fromisoformat(last_effective(admin, "14845"))
    day_before = (last - dt.timedelta(days=1)).isoformat()
    r = admin.post(
        "/api/communes/14845/status?lang=en",
        json=valid(admin, effective_on=day_before),
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert r.status_code == 400
    assert last.isoformat() in r.get_json()["error"]
    same_day = admin.post(
        "/api/communes/14845/status",
        json=valid(admin, effective_on=last.isoformat()),
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert same_day.status_code == 200


def test_officer_may_not_change_a_unit_not_assigned(app):
    officer = client_as(app, "officer")
    other = "16417"
    assert other not in OFFICER_UNITS
    unit = current(officer, other)
    assert unit["can_edit"] is False
    before = snapshot(app)
    r = officer.post(
        f"/api/communes/{other}/status?lang=en",
        json={"status": "hotspot", "effective_on": TODAY, "note": "x", "version": None},
        headers={"X-CSRFToken": csrf_token(officer)},
    )
    assert r.status_code == 403
    assert "assigned to you" in r.get_json()["error"]
    assert snapshot(app) == before


@pytest.mark.parametrize("user", ["chief", "staff"])
def test_commander_and_staff_cannot_edit(app, user):
    c = client_as(app, user)
    assert current(c, "14845")["can_edit"] is False
    before = snapshot(app)
    r = edit(c, "14845", **valid(c))
    assert r.status_code == 403
    assert snapshot(app) == before


def test_no_editing_on_a_past_date(app):
    admin = client_as(app, "admin")
    assert current(admin, "14845")["can_edit"] is True
    past = admin.get("/api/communes/14845?as_of=2024-01-01").get_json()
    assert past["can_edit"] is False and past["as_of"] == "2024-01-01"


# -- the web import -------------------------------------------------------------------------------
def _csv(rows: list[tuple[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["code", "status", "notes"])
    for code, status in rows:
        w.writerow([code, status, "web import"])
    return out.getvalue().encode()


def test_web_import_writes_one_audit_entry_per_change_as_the_user(app):
    staff = client_as(app, "staff")
    token = csrf_token(staff)
    data = _csv([("14848", "hotspot"), ("14845", "transformed")])
    audit_before = len(store_of(app).audit_entries())
    dry = staff.post(
        "/api/status/import",
        data={"file": (io.BytesIO(data), "changes.csv"), "dry_run": "1"},
        headers={"X-CSRFToken": token},
    )
    assert dry.status_code == 200 and dry.get_json()["dry_run"] is True
    assert len(store_of(app).audit_entries()) == audit_before
    r = staff.post(
        "/api/status/import",
        data={"file": (io.BytesIO(data), "changes.csv")},
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["created"], r.get_json()["updated"]) == (1, 1)
    audit = store_of(app).audit_entries()
    assert len(audit) == audit_before + 2
    assert {(a["actor"], a["source"]) for a in audit[:2]} == {("staff", "import:changes.csv")}
    assert {a["target"] for a in audit[:2]} == {"2025:14848", "2025:14845"}


def test_web_import_of_a_bad_file_reports_and_writes_nothing(app):
    staff = client_as(app, "staff")
    before = snapshot(app)
    r = staff.post(
        "/api/status/import",
        data={"file": (io.BytesIO(_csv([("99999", "hotspot")])), "bad.csv")},
        headers={"X-CSRFToken": csrf_token(staff)},
    )
    assert r.status_code == 422
    assert r.get_json()["details"][0]["row"] == 2
    assert snapshot(app) == before
    r = staff.post("/api/status/import", data={}, headers={"X-CSRFToken": csrf_token(staff)})
    assert r.status_code == 400


def test_import_page_shows_the_result(app):
    staff = client_as(app, "staff")
    page = staff.get("/import")
    assert page.status_code == 200 and 'id="import-form"' in page.get_data(as_text=True)
    token = csrf_token(staff)
    r = staff.post(
        "/import?lang=en",
        data={"file": (io.BytesIO(_csv([("14848", "hotspot")])), "one.csv"), "csrf_token": token},
    )
    assert r.status_code == 200
    assert "1 created, 0 updated, 0 unchanged" in r.get_data(as_text=True)
    bad = staff.post(
        "/import?lang=en",
        data={"file": (io.BytesIO(b"code,status\n14848,burning\n"), "x.csv"), "csrf_token": token},
    )
    assert bad.status_code == 422 and "row 2" in bad.get_data(as_text=True)


# -- admin actions --------------------------------------------------------------------------------
def _admin_post(client, url: str, **form):
    return client.post(url, data={**form, "csrf_token": csrf_token(client)})


def test_every_admin_action_writes_exactly_one_audit_entry(app):
    admin = client_as(app, "admin")
    store = store_of(app)

    def one_more(action: str, target: str, response) -> None:
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        entries = store.audit_entries()
        assert len(entries) == n[0] + 1, entries[:3]
        assert (entries[0]["action"], entries[0]["target"], entries[0]["actor"]) == (
            action,
            target,
            "admin",
        )
        assert entries[0]["source"] == "web"
        n[0] += 1

    n = [len(store.audit_entries())]
    one_more(
        "user.add",
        "lan.nguyen",
        _admin_post(
            admin,
            "/admin/users",
            username="lan.nguyen",
            role="officer",
            password="a long enough password",
        ),
    )
    one_more(
        "user.update", "lan.nguyen", _admin_post(admin, "/admin/users/lan.nguyen", role="staff")
    )
    one_more(
        "user.update",
        "lan.nguyen",
        _admin_post(admin, "/admin/users/lan.nguyen", password="another long password"),
    )
    one_more(
        "user.assign",
        "lan.nguyen",
        _admin_post(admin, "/admin/users/lan.nguyen/assignments", codes="16522, 16417"),
    )
    assert store.assignments("lan.nguyen", "2025") == {"16522", "16417"}
    one_more(
        "user.disable", "lan.nguyen", _admin_post(admin, "/admin/users/lan.nguyen", disabled="1")
    )
    assert store.user("lan.nguyen")["disabled"] is True
    assert store.user("lan.nguyen")["role"] == "staff"


@pytest.mark.parametrize(
    ("url", "form", "needle"),
    [
        ("/admin/users", {"username": "Bad Name", "role": "staff", "password": "x" * 12}, "name"),
        ("/admin/users", {"username": "okname", "role": "king", "password": "x" * 12}, "role"),
        ("/admin/users", {"username": "okname", "role": "staff", "password": "short"}, "10"),
        ("/admin/users", {"username": "chief", "role": "staff", "password": "x" * 12}, "exists"),
        ("/admin/users/chief", {"role": "king"}, "role"),
        ("/admin/users/chief", {}, "Nothing"),
        ("/admin/users/admin", {"disabled": "1"}, "own"),
        ("/admin/users/admin", {"role": "staff"}, "own"),
        ("/admin/users/officer/assignments", {"codes": "16522 99999"}, "99999"),
    ],
)
def test_bad_admin_actions_change_nothing(app, url, form, needle):
    admin = client_as(app, "admin")
    store = store_of(app)
    users_before = store.users()
    audit_before = len(store.audit_entries())
    r = _admin_post(admin, url + "?lang=en", **form)
    assert r.status_code in (400, 409), r.status_code
    assert needle in r.get_data(as_text=True)
    assert store.users() == users_before
    assert len(store.audit_entries()) == audit_before
    assert store.assignments("officer", "2025") == set(OFFICER_UNITS)


def test_unknown_user_is_404(app):
    admin = client_as(app, "admin")
    assert _admin_post(admin, "/admin/users/nobody", role="staff").status_code == 404


def test_audit_page_and_csv_filter_by_actor_action_unit_and_date(app):
    admin = client_as(app, "admin")
    officer = client_as(app, "officer")
    assert edit(officer, "14845", **valid(officer)).status_code == 200
    page = admin.get("/admin?actor=officer&action=status&unit=14845")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "2025:14845" in html
    assert 'data-action="status.update"' in html and 'data-action="user.add"' not in html
    r = admin.get(f"/admin/audit.csv?actor=officer&action=status&since={TODAY}&until={TODAY}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 1
    assert (rows[0]["actor"], rows[0]["action"], rows[0]["target"], rows[0]["source"]) == (
        "officer",
        "status.update",
        "2025:14845",
        "web",
    )
    assert '"new_status": "in_progress"' in rows[0]["details"]
    old = admin.get("/admin/audit.csv?until=2000-01-01").get_data(as_text=True)
    assert len(old.strip().splitlines()) == 1  # the header only
    every = list(csv.DictReader(io.StringIO(admin.get("/admin/audit.csv").get_data(as_text=True))))
    assert len(every) == len(store_of(app).audit_entries())
    assert admin.get("/admin?since=yesterday").status_code == 400
