"""History and "as of": the state on a past date, computed from the status history."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import RECORD_STATUSES, TODAY, client_as, csrf_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_app.core.changes import relapse as transition
from geo_app.store.models import HistoryEntry, StatusRecord


def test_summary_as_of_a_day_before_any_record_lists_nothing(client):
    now = client.get("/api/summary").get_json()
    assert now["listed"] == 62 and now["as_of"] is None
    before = client.get("/api/summary?as_of=2000-01-01").get_json()
    assert before["listed"] == 0 and before["as_of"] == "2000-01-01"
    assert before["updated_on"] == "2000-01-01"
    today = client.get(f"/api/summary?as_of={TODAY.isoformat()}").get_json()
    assert today["counts"] == now["counts"]


@pytest.mark.parametrize(
    "value", ["yesterday", "2024-02-30", "2024-2-3", "20240203", "2999-01-01", "x" * 500]
)
@pytest.mark.parametrize(
    "url", ["/api/summary", "/api/communes.geojson", "/api/communes/16522", "/api/trend"]
)
def test_bad_as_of_is_a_400_naming_it(client, url, value):
    r = client.get(f"{url}?as_of={value}")
    assert r.status_code == 400 and "as_of" in r.get_json()["error"]


def test_bad_as_of_on_the_page_and_exports_is_a_400(client):
    assert client.get("/?as_of=2024-13-01").status_code == 400
    r = client.get("/export/map.png?dpi=50&as_of=soon")
    assert r.status_code == 400 and b"as_of" in r.data


def test_the_sample_on_a_past_date(client):
    """The sample's units count as listed from their designated_on; the map follows them."""
    day = "2023-02-10"
    summary = client.get(f"/api/summary?as_of={day}").get_json()
    geo = client.get(f"/api/communes.geojson?as_of={day}").get_json()
    statuses = [f["properties"]["status"] for f in geo["features"]]
    assert sum(summary["counts"][s] for s in RECORD_STATUSES) == summary["listed"]
    for s in RECORD_STATUSES:
        assert statuses.count(s) == summary["counts"][s]
    assert 0 < summary["listed"] < 62
    unit = client.get(f"/api/communes/16522?as_of={day}").get_json()
    assert all(h["effective_on"] <= day for h in unit["history"])
    html = client.get(f"/?as_of={day}").get_data(as_text=True)
    assert 'id="as-of-banner"' in html and "10/02/2023" in html
    assert re.search(rf'data-figure="listed".*?figure-value">{summary["listed"]}<', html, re.S)
    assert f'value="{day}"' in html


def test_details_as_of_show_the_record_of_that_day(client, app):
    admin = client
    unit = admin.get("/api/communes/14845").get_json()
    first_day = unit["history"][-1]["effective_on"]
    r = admin.post(
        "/api/communes/14845/status",
        json={
            "status": "in_progress",
            "effective_on": TODAY.isoformat(),
            "note": "later",
            "version": unit["record"]["version"],
            "notes": "new notes",
        },
        headers={"X-CSRFToken": csrf_token(admin)},
    )
    assert r.status_code == 200
    then = admin.get(f"/api/communes/14845?as_of={first_day}").get_json()
    if first_day < TODAY.isoformat():
        assert then["status"] == "hotspot" and then["record"]["notes"] == unit["record"]["notes"]
        assert len(then["history"]) == len(unit["history"])
    now = admin.get("/api/communes/14845").get_json()
    assert now["status"] == "in_progress" and now["record"]["notes"] == "new notes"


def test_trend_counts_per_status_at_month_ends(client):
    data = client.get("/api/trend?lang=en").get_json()
    points = data["points"]
    assert points[-1]["date"] == TODAY.isoformat()
    assert points[-1]["counts"] == {
        s: c
        for s, c in client.get("/api/summary").get_json()["counts"].items()
        if s != "not_listed"
    }
    for p in points[:-1]:
        day = dt.date.fromisoformat(p["date"])
        assert (day + dt.timedelta(days=1)).day == 1  # a month's last day
        as_of = client.get(f"/api/summary?as_of={p['date']}").get_json()["counts"]
        assert p["counts"] == {s: as_of[s] for s in RECORD_STATUSES}
    assert data["labels"]["relapsed"] == "Relapsed" and set(data["colors"]) == set(RECORD_STATUSES)
    short = client.get("/api/trend?as_of=2023-06-30").get_json()["points"]
    assert short[-1]["date"] == "2023-06-30"


def test_exports_as_of_a_date(client):
    r = client.get("/export/map.png?dpi=50&as_of=2023-06-30")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert "2023-06-30" in r.headers["Content-Disposition"]
    now = client.get("/export/map.png?dpi=50")
    assert now.data != r.data


def test_page_is_cached_per_date(client, app):
    a = client.get("/?as_of=2023-06-30")
    b = client.get("/?as_of=2024-06-30")
    assert a.headers["ETag"] != b.headers["ETag"]
    assert client.get("/").headers["ETag"] not in (a.headers["ETag"], b.headers["ETag"])


# -- the property -------------------------------------------------------------------------------
CODES = ["14845", "16522", "16417"]
START = dt.date(2024, 1, 1)
changes = st.lists(
    st.tuples(st.sampled_from(CODES), st.sampled_from(RECORD_STATUSES), st.integers(0, 40)),
    min_size=1,
    max_size=12,
)


def _empty(app) -> None:
    store = app.extensions["geo_app"].store
    with store.engine.begin() as conn:
        conn.execute(HistoryEntry.__table__.delete())
        conn.execute(StatusRecord.__table__.delete())
    app.extensions["geo_app"].cache.clear()  # revisions restart after the delete


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=changes)
def test_state_as_of_any_day_is_the_replay_by_hand(app, sequence):
    _empty(app)
    admin = client_as(app, "admin")
    token = csrf_token(admin)
    day = START
    applied: list[tuple[str, str, dt.date]] = []  # (code, recorded status, date), in order
    state: dict[str, str] = {}
    for code, wanted, gap in sequence:
        day = min(day + dt.timedelta(days=gap), TODAY)
        unit = admin.get(f"/api/communes/{code}").get_json()
        r = admin.post(
            f"/api/communes/{code}/status",
            json={
                "status": wanted,
                "effective_on": day.isoformat(),
                "note": "property",
                "version": unit["record"]["version"] if unit["record"] else None,
            },
            headers={"X-CSRFToken": token},
        )
        recorded = transition(state.get(code), wanted)
        if recorded == state.get(code):  # no change: refused, nothing written
            assert r.status_code == 400, r.get_json()
            continue
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["status"] == recorded
        state[code] = recorded
        applied.append((code, recorded, day))

    def by_hand(on: dt.date) -> dict[str, str]:
        out: dict[str, str] = {}
        for code, status, when in applied:  # in order: a later change of one day wins
            if when <= on:
                out[code] = status
        return out

    days = {START - dt.timedelta(days=1), TODAY} | {d for _, _, d in applied}
    days |= {d + dt.timedelta(days=1) for _, _, d in applied if d < TODAY}
    for on in sorted(days):
        expected = by_hand(on)
        summary = admin.get(f"/api/summary?as_of={on.isoformat()}").get_json()
        assert summary["counts"] == {
            **{s: list(expected.values()).count(s) for s in RECORD_STATUSES},
            "not_listed": 166 - len(expected),
        }, on
        for code in CODES:
            got = admin.get(f"/api/communes/{code}?as_of={on.isoformat()}").get_json()["status"]
            assert got == expected.get(code, "not_listed"), (code, on)
