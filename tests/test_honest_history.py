"""History from imports says what the file says: status_since, the row's own dates, the import day.

A row's status takes effect on its ``status_since``, else on the best date the row gives
(``transformed_on`` for transformed, ``designated_on`` for a hotspot), else on the day of the
import; a unit designated on a day counts as listed from that day on. The trend marks the
months whose changes rest on import dates.
"""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import client_as

from geo_app.core.changes import (
    DATE_GIVEN,
    DATE_IMPORT,
    DATE_ROW,
    ChangeRefused,
    check_effective,
    plan_row,
)
from geo_app.core.records import Event, Record, month_ends, state_as_of
from geo_app.errors import ImportFailed
from geo_app.io.importer import run_import
from geo_app.readmodel import ReadModel

IMPORT_DAY = dt.date(2026, 11, 30)
WITHOUT = (
    "code,status,designated_on,transformed_on\n"
    "16522,transformed,2022-12-15,2023-03-16\n"
    "16417,in_progress,2023-02-01,\n"
    "16438,hotspot,2023-04-10,\n"
    "15187,relapsed,2023-01-20,\n"
)
WITH = (
    "code,status,designated_on,transformed_on,status_since\n"
    "16522,transformed,2022-12-15,2023-03-16,\n"
    "16417,in_progress,2023-02-01,,2024-05-15\n"
    "16438,hotspot,2023-04-10,,\n"
    "15187,relapsed,2023-01-20,,2025-08-01\n"
)
DESIGNATED = {
    "16522": dt.date(2022, 12, 15),
    "16417": dt.date(2023, 2, 1),
    "16438": dt.date(2023, 4, 10),
    "15187": dt.date(2023, 1, 20),
}


def imp(store, units, text: str, name: str = "f.csv", **kw):
    return run_import(store, text.encode(), name, units, today=IMPORT_DAY, **kw)


def statuses_on(store, day: dt.date) -> dict[str, str]:
    return {c: e.status for c, e in state_as_of(store.events("2025"), day).items()}


def every_day_checked():
    """Each unit's designation day and the day before, and every month's end."""
    days = set(month_ends(dt.date(2022, 11, 1), IMPORT_DAY))
    for d in DESIGNATED.values():
        days |= {d, d - dt.timedelta(days=1)}
    return sorted(days)


@pytest.mark.parametrize("text", [WITHOUT, WITH], ids=["without status_since", "with it"])
def test_no_designated_unit_shows_as_not_listed_after_its_designation(store, units, text):
    before = statuses_on(store, IMPORT_DAY)
    assert before == {}
    imp(store, units, text)
    for day in every_day_checked():
        shown = statuses_on(store, day)
        for code, designated in DESIGNATED.items():
            if day >= designated:
                assert code in shown, (code, day)  # listed from its designation on
            else:
                assert code not in shown, (code, day)


def test_without_status_since_the_rows_dates_then_the_import_day(store, units):
    result = imp(store, units, WITHOUT)
    assert any("no date for their status" in w for w in result.warnings)
    # transformed: listed when designated, transformed on its transformed_on
    assert statuses_on(store, dt.date(2023, 3, 15))["16522"] == "hotspot"
    assert statuses_on(store, dt.date(2023, 3, 16))["16522"] == "transformed"
    # in progress: listed (hotspot) from designated_on; in progress from the import day only
    assert statuses_on(store, IMPORT_DAY - dt.timedelta(days=1))["16417"] == "hotspot"
    assert statuses_on(store, IMPORT_DAY)["16417"] == "in_progress"
    assert statuses_on(store, IMPORT_DAY)["15187"] == "relapsed"
    history = store.history("2025", "16417")
    assert [(h["new_status"], h["effective_on"], h["dated_by"]) for h in history] == [
        ("hotspot", "2023-02-01", DATE_ROW),
        ("in_progress", IMPORT_DAY.isoformat(), DATE_IMPORT),
    ]
    # importing the same file again changes nothing and adds no history
    count = store.history_count()
    again = imp(store, units, WITHOUT)
    assert again.unchanged == 4 and store.history_count() == count


def test_with_status_since_the_status_holds_from_that_day(store, units):
    result = imp(store, units, WITH)
    assert not any("no date" in w for w in result.warnings)
    assert statuses_on(store, dt.date(2024, 5, 14))["16417"] == "hotspot"
    assert statuses_on(store, dt.date(2024, 5, 15))["16417"] == "in_progress"
    assert statuses_on(store, dt.date(2025, 8, 1))["15187"] == "relapsed"
    assert {e.dated_by for e in store.events("2025")} == {DATE_ROW, DATE_GIVEN}


def test_the_trend_has_no_jump_the_data_does_not_hold(store, units):
    imp(store, units, WITH)
    points = ReadModel(store, "2025").trend(IMPORT_DAY)
    listed = [sum(p["counts"].values()) for p in points]
    assert listed == sorted(listed)  # units only ever join the list here
    assert listed[-1] == 4 and max(listed[-12:]) - min(listed[-12:]) == 0
    assert not any(p["import_dated"] for p in points)


def test_the_trend_says_which_months_rest_on_import_dates(store, units):
    imp(store, units, WITHOUT)
    points = ReadModel(store, "2025").trend(IMPORT_DAY)
    marked = [p["date"] for p in points if p["import_dated"]]
    assert marked == [IMPORT_DAY.isoformat()]  # in progress and relapsed, dated by the import
    assert points[-1]["import_dated"] == 2


def test_the_sample_trend_on_the_api_marks_the_import_month(app):
    client = client_as(app, "admin")
    points = client.get("/api/trend").get_json()["points"]
    assert [p["date"] for p in points if p["import_dated"]] == ["2026-11-30"]
    before = points[-2]["counts"]  # end of October: every unit of the sample is listed already
    assert sum(before.values()) == sum(points[-1]["counts"].values())


# -- the one rule, for every door -------------------------------------------------------------
def test_the_rule_refuses_the_future_the_past_and_typing_errors():
    today = dt.date(2026, 12, 1)
    check_effective(today, today=today, last=today)
    with pytest.raises(ChangeRefused) as e:
        check_effective(dt.date(2026, 12, 2), today=today, last=None)
    assert "after today (2026-12-01)" in str(e.value)
    assert "sau hôm nay (01/12/2026)" in e.value.text("vi")
    with pytest.raises(ChangeRefused, match="history cannot go back in time"):
        check_effective(dt.date(2026, 1, 1), today=today, last=dt.date(2026, 2, 1))
    check_effective(dt.date(2026, 1, 1), today=today, last=dt.date(2026, 2, 1), correction=True)
    with pytest.raises(ChangeRefused, match="before 2000-01-01"):
        check_effective(dt.date(1, 1, 1), today=today, last=None, correction=True)


def test_a_relapse_is_judged_against_the_status_of_that_day():
    history = [
        Event(1, "x", dt.date(2023, 1, 1), "hotspot"),
        Event(2, "x", dt.date(2024, 1, 1), "transformed"),
    ]
    current = Record("x", "transformed")
    later = plan_row(
        Record("x", "hotspot"), current=current, history=history, since=None, today=IMPORT_DAY
    )
    assert [s.record.status for s in later] == ["relapsed"]
    earlier = plan_row(
        Record("x", "in_progress"),
        current=current,
        history=history,
        since=dt.date(2023, 6, 1),
        today=IMPORT_DAY,
        correct=True,
    )
    assert [(s.record.status, s.correction) for s in earlier] == [("in_progress", True)]


def test_the_web_and_the_import_refuse_with_the_same_words(app, units):
    client = client_as(app, "admin")
    store = app.extensions["geo_app"].store
    token = client.get("/api/me").get_json()["csrf_token"]
    last = store.last_effective("2025")["16522"]
    early = (last - dt.timedelta(days=1)).isoformat()
    r = client.post(
        "/api/communes/16522/status?lang=en",
        json={"status": "hotspot", "effective_on": early, "note": "x", "version": 2},
        headers={"X-CSRFToken": token},
    )
    web = r.get_json()["error"]
    with pytest.raises(ImportFailed) as refused:
        run_import(
            store, f"code,status,status_since\n16522,hotspot,{early}\n".encode(), "a.csv", units
        )
    (problem,) = refused.value.details
    assert problem["reason"].replace("status_since", "effective_on") == web
