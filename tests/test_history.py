"""History: relapse, dated changes, the state "as of" a date, the monthly trend, the audit."""

import datetime as dt

import pytest
from conftest import RECORD_STATUSES
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_app.core.changes import relapse as transition
from geo_app.core.records import Event, state_as_of, trend
from geo_app.errors import ImportFailed
from geo_app.io.importer import run_import

HEADER = "code,status,effective_on,transformed_on,designated_on\n"


def imp(store, units, body, name="f.csv"):
    return run_import(store, (HEADER + body).encode(), name, units, today=dt.date(2026, 1, 1))


def test_transition_records_relapse():
    assert transition("transformed", "hotspot") == "relapsed"
    assert transition("transformed", "in_progress") == "relapsed"
    assert transition("relapsed", "hotspot") == "relapsed"
    assert transition("relapsed", "transformed") == "transformed"
    assert transition("hotspot", "transformed") == "transformed"
    assert transition(None, "hotspot") == "hotspot"


def test_import_turning_a_transformed_unit_complex_records_a_relapse(store, units):
    imp(store, units, "16522,transformed,2023-03-16,,\n")
    result = imp(store, units, "16522,hotspot,2025-02-01,,\n")
    assert result.updated == 1
    assert store.record("2025", "16522").record.status == "relapsed"
    again = imp(store, units, "16522,hotspot,2025-02-01,,\n")
    assert again.unchanged == 1  # idempotent after the rule
    hist = store.history("2025", "16522")
    assert [(h["old_status"], h["new_status"], h["effective_on"]) for h in hist] == [
        (None, "transformed", "2023-03-16"),
        ("transformed", "relapsed", "2025-02-01"),
    ]


def test_effective_dates_never_go_back_in_time(store, units):
    imp(store, units, "16417,hotspot,2024-06-01,,\n")
    with pytest.raises(ImportFailed) as refused:  # back-dated: refused, as on the web
        imp(store, units, "16417,in_progress,2023-01-01,,\n")
    (problem,) = refused.value.details
    assert (problem["row"], problem["column"], problem["value"]) == (
        2,
        "status_since",
        "2023-01-01",
    )
    assert "before the unit's last change (2024-06-01)" in problem["reason"]
    assert "correction" in problem["reason"]
    assert [h["effective_on"] for h in store.history("2025", "16417")] == ["2024-06-01"]
    # sent as a correction, it goes where it belongs; the later change still stands
    result = run_import(
        store,
        (HEADER + "16417,in_progress,2023-01-01,,\n").encode(),
        "fix.csv",
        units,
        today=dt.date(2026, 1, 1),
        correct=True,
    )
    assert result.corrected == 1 and result.updated == 0
    hist = store.history("2025", "16417")
    assert [(h["effective_on"], h["new_status"]) for h in hist] == [
        ("2023-01-01", "in_progress"),
        ("2024-06-01", "hotspot"),
    ]
    assert store.record("2025", "16417").record.status == "hotspot"
    assert store.record("2025", "16417").version == 2
    events = store.events("2025")
    assert state_as_of(events, dt.date(2023, 6, 1))["16417"].status == "in_progress"
    assert state_as_of(events, dt.date(2024, 6, 1))["16417"].status == "hotspot"
    assert "16417" not in state_as_of(events, dt.date(2022, 12, 31))
    assert store.audit_entries(action="status.correct")[0]["target"] == "2025:16417"


def test_a_date_after_today_is_refused(store, units):
    with pytest.raises(ImportFailed) as refused:
        imp(store, units, "16417,hotspot,2026-01-02,,\n")  # today is 2026-01-01 here
    (problem,) = refused.value.details
    assert problem["column"] == "status_since" and "after today (2026-01-01)" in problem["reason"]
    with pytest.raises(ImportFailed) as refused:  # a row's own date counts too
        imp(store, units, "16417,transformed,,2026-03-01,2025-01-01\n")
    assert refused.value.details[0]["column"] == "transformed_on"
    assert store.history_count() == 0


def test_every_import_change_has_exactly_one_audit_entry(store, units):
    imp(store, units, "16417,hotspot,2024-06-01,,\n16522,hotspot,2024-06-01,,\n", "a.csv")
    imp(store, units, "16417,transformed,2024-09-01,,\n16522,hotspot,2024-06-01,,\n", "b.csv")
    entries = store.audit_entries(action="status.")
    assert len(entries) == 3 == store.history_count()
    newest = entries[0]
    assert newest["action"] == "status.update" and newest["source"] == "import:b.csv"
    assert newest["target"] == "2025:16417"
    assert newest["details"]["old_status"] == "hotspot"


codes = st.sampled_from(["16522", "16417", "16438", "15187"])
days = st.dates(dt.date(2023, 1, 1), dt.date(2026, 12, 31))
changes = st.lists(st.tuples(codes, st.sampled_from(RECORD_STATUSES), days), max_size=30)


def replay_by_hand(seq, day):
    """The state on `day`: per unit, of its changes dated no later, the latest date wins and,
    on one date, the one made last."""
    state = {}
    for i, (code, st_, d) in enumerate(seq):
        if d <= day and (code not in state or (d, i) >= state[code][1:]):
            state[code] = (st_, d, i)
    return {c: v[0] for c, v in state.items()}


@settings(max_examples=300, deadline=None)
@given(seq=changes, probe=days)
def test_state_as_of_equals_the_state_built_by_hand(seq, probe):
    events = [Event(i + 1, c, d, s) for i, (c, s, d) in enumerate(seq)]
    got = {c: e.status for c, e in state_as_of(events, probe).items()}
    assert got == replay_by_hand(seq, probe)
    for point in trend(events, dt.date(2027, 1, 15)):
        day = dt.date.fromisoformat(point["date"])
        expected = replay_by_hand(seq, day)
        assert sum(point["counts"].values()) == len(expected)
        for s in RECORD_STATUSES:
            assert point["counts"][s] == sum(1 for v in expected.values() if v == s)


def test_trend_has_month_ends_then_today():
    events = [
        Event(1, "a", dt.date(2023, 1, 10), "hotspot"),
        Event(2, "a", dt.date(2023, 3, 5), "transformed"),
    ]
    points = trend(events, dt.date(2023, 3, 20))
    assert [p["date"] for p in points] == ["2023-01-31", "2023-02-28", "2023-03-20"]
    assert points[0]["counts"]["hotspot"] == 1 and points[-1]["counts"]["transformed"] == 1
