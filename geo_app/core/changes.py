"""The one rule for a change of a unit's record, whatever door it comes through.

A web edit, an import (from the web page or the command line) and any later door ask this
module when a change takes effect and what it records; they all refuse the same things with
the same message (`ChangeRefused`):

1. **Not in the future.** A change takes effect on a day that is not after today (the app's
   clock, `geo_app.clock`).
2. **Not before the unit's last change**: a unit's history never goes back in time, unless the
   change is sent explicitly as a *correction* (``"correction": true`` on the web,
   ``--correct`` on the command line). A correction is put into the past where it belongs;
   what was recorded after it still stands, so the current record is still the unit's latest
   change by date.
3. **Not before** `EARLIEST` (2000-01-01): no record of these programmes is older, and such a
   date is a typing error.
4. **Relapse.** Where the programme's definition has a relapse rule (hotspot: a transformed or
   relapsed unit that turns hotspot or in progress again is recorded as relapsed), it applies
   against the status in force on the change's day (`relapse`).

Every date field of a record has a **plausible range**, checked here for every door
(`implausible_dates`, `check_dates`): from `EARLIEST` to today, or, for a field the programme's
definition marks ``ahead`` (hotspot: ``target_on``), to `AHEAD_YEARS` (20) years after today. A
year 9999 or 0001 typed by mistake is refused with the field, the value and the range; it would
otherwise lock the unit against every later change or make the trend thousands of months long.
A unit damaged before this rule is repaired by an administrator (`check_repair`,
`Store.repair_history`).

An imported row says when its status took effect in its ``status_since`` column; without one,
`plan_row` takes the best date the row itself gives (the field its status is ``dated_by`` in
the definition: ``transformed_on`` for a transformed unit, ``designated_on`` for a hotspot),
else the import day. Where the definition has a listing (hotspot: ``designated_on``), a unit
listed on a day counts as listed from that day, so it is never "not listed" afterwards. Every
change keeps how its date was found (`DATE_GIVEN`, `DATE_ROW`, `DATE_IMPORT`), so the trend can
say which months rest on import dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from geo_app.core import programme as programmes
from geo_app.core.records import Event, Record
from geo_app.errors import BadRequest
from geo_app.i18n import N_, gettext

#: No date of these programmes (when a change took effect, when a unit was listed or
#: transformed, a target) is before this day.
EARLIEST = dt.date(2000, 1, 1)

#: A date field marked ``ahead`` (a target) is at most this many years after today.
AHEAD_YEARS = 20

#: How the day a change took effect was found: given by the user (a web edit, a
#: ``status_since`` cell), read from another date of the row, or the import's own day.
DATE_GIVEN = "given"
DATE_ROW = "row"
DATE_IMPORT = "import"

FUTURE = N_(
    "%(field)s %(day)s is after today (%(today)s): a change cannot take effect in the future."
)
BACKWARDS = N_(
    "%(field)s %(day)s is before the unit's last change (%(last)s): history cannot go back in "
    "time. To record what happened earlier, send it as a correction."
)
TOO_OLD = N_("%(field)s %(day)s is before %(earliest)s: it cannot be a date of this programme.")
OUT_OF_RANGE = N_(
    "%(field)s %(day)s is outside the plausible range, from %(earliest)s to %(latest)s: "
    "check the year."
)


class ChangeRefused(BadRequest):
    """A change breaks the rule; nothing is written. Says which field, which value, and why."""

    def __init__(self, field: str, value: Any, msgid: str, **params: Any):
        self.field = field
        self.value = value
        self.msgid = msgid
        self.params = {"field": field, **params}
        super().__init__(self.text("en"))

    def text(self, lang: str) -> str:
        """Return the message in `lang` (``vi`` or ``en``)."""
        return gettext(self.msgid, lang, **self.params)


def relapse(old: str | None, new: str, programme: str | None = None) -> str:
    """Return the status to record when a unit goes from `old` to `new` in `programme`.

    Hotspot: a transformed (or already relapsed) unit that turns hotspot or in progress again
    is recorded as relapsed, so the programme counts every unit that turns complex after its
    transformation. A programme without a relapse rule records `new`.
    """
    return programmes.get(programme).relapse(old, new)


def check_effective(
    day: dt.date,
    *,
    today: dt.date,
    last: dt.date | None,
    correction: bool = False,
    field: str = "effective_on",
) -> None:
    """Check the day a change takes effect.

    Parameters
    ----------
    last:
        The effective day of the unit's latest change (None when it has none).
    correction:
        The change is explicitly a correction: it may go before `last`.

    Raises
    ------
    ChangeRefused
        When `day` is after `today`, before `EARLIEST`, or (unless `correction`) before `last`.
    """
    if day > today:
        raise ChangeRefused(field, day, FUTURE, day=day, today=today)
    if day < EARLIEST:
        raise ChangeRefused(field, day, TOO_OLD, day=day, earliest=EARLIEST)
    if last is not None and day < last and not correction:
        raise ChangeRefused(field, day, BACKWARDS, day=day, last=last)


def date_range(field: str, today: dt.date, programme: str | None = None) -> tuple[dt.date, dt.date]:
    """Return the first and last plausible day of the date `field` of `programme`'s records."""
    if programmes.get(programme).by_field[field].ahead:
        return EARLIEST, latest_ahead(today)
    return EARLIEST, today


def latest_ahead(today: dt.date) -> dt.date:
    """Return the last plausible day of a date ahead (a target): `AHEAD_YEARS` after today."""
    try:
        return today.replace(year=today.year + AHEAD_YEARS)
    except ValueError:  # 29 February
        return today.replace(year=today.year + AHEAD_YEARS, day=28)


def implausible_dates(
    dates: Mapping[str, dt.date | None], today: dt.date, programme: str | None = None
) -> list[ChangeRefused]:
    """Return a refusal for each of `dates` (field name → day; the date fields of `programme`)
    outside its plausible range (`date_range`); empty when every date is plausible or absent."""
    out = []
    for f in programmes.get(programme).fields:
        day = dates.get(f.name) if f.type == "date" else None
        if day is None:
            continue
        earliest, latest = date_range(f.name, today, programme)
        if not earliest <= day <= latest:
            out.append(
                ChangeRefused(f.name, day, OUT_OF_RANGE, day=day, earliest=earliest, latest=latest)
            )
    return out


def check_dates(
    dates: Mapping[str, dt.date | None], today: dt.date, programme: str | None = None
) -> None:
    """Check the dates of a record (field name → day).

    Raises
    ------
    ChangeRefused
        For the first date outside its plausible range (`date_range`).
    """
    refused = implausible_dates(dates, today, programme)
    if refused:
        raise refused[0]


def check_repair(day: dt.date, record: Record, *, today: dt.date) -> None:
    """Check what an administrator's repair of a history entry writes: the day it took effect
    (not after today, not before `EARLIEST`; it may go anywhere in the unit's history) and the
    record's dates (`check_dates`).

    Raises
    ------
    ChangeRefused
        Naming the field, its value and the limit.
    """
    check_effective(day, today=today, last=None, correction=True)
    check_dates(record.values, today, record.programme)


def ordered(history: Sequence[Event]) -> list[Event]:
    """Return a unit's events in the order they hold: by effective day, then as recorded."""
    return sorted(history, key=lambda e: (e.effective_on, e.id))


def status_on(history: Sequence[Event], day: dt.date) -> str | None:
    """Return the status in force on `day` according to `history` (None: not listed)."""
    found = None
    for e in ordered(history):
        if e.effective_on > day:
            break
        found = e.status
    return found


def held_since(history: Sequence[Event]) -> dt.date | None:
    """Return the day the unit's current status took effect (the start of its last run)."""
    events = ordered(history)
    if not events:
        return None
    since = events[-1].effective_on
    for e in reversed(events):
        if e.status != events[-1].status:
            break
        since = e.effective_on
    return since


@dataclass(frozen=True)
class Step:
    """One change to record: the record it leaves, the day it took effect and how that day was
    found; a correction goes before the unit's last change."""

    record: Record
    day: dt.date
    dated_by: str
    correction: bool = False


def _row_date(record: Record) -> tuple[dt.date | None, str]:
    """Return the date the row's own fields give its status, and that field's name."""
    name = programmes.get(record.programme).by_code[record.status].dated_by
    if name and record.get(name):
        return record.get(name), name
    return None, "status_since"


def plan_row(
    record: Record,
    *,
    current: Record | None,
    history: Sequence[Event],
    since: dt.date | None,
    today: dt.date,
    correct: bool = False,
) -> list[Step]:
    """Return the changes an imported row makes to its unit (empty: it changes nothing).

    Parameters
    ----------
    record:
        What the row says.
    current:
        The unit's current record (None when it has none).
    history:
        The unit's events.
    since:
        The row's ``status_since``: the day its status took effect (None when not given).
    correct:
        The import is a correction: rows may date their status before the unit's last change,
        and a unit whose history starts after its ``designated_on`` gets its listing.

    Raises
    ------
    ChangeRefused
        When the row's date breaks the rule (`check_effective`).
    """
    last = max((e.effective_on for e in history), default=None)
    derived, derived_field = _row_date(record)
    if since is not None:
        day, dated_by, field = since, DATE_GIVEN, "status_since"
    elif derived is not None and (last is None or derived >= last or correct):
        day, dated_by, field = derived, DATE_ROW, derived_field
    else:  # the row says nothing usable of when: it took effect when we learn it
        day, dated_by, field = today, DATE_IMPORT, "status_since"
    check_effective(day, today=today, last=last, correction=correct, field=field)
    correction = last is not None and day < last
    before = status_on(history, day) if correction else (current.status if current else None)
    prog = programmes.get(record.programme)
    new = record.replace(status=prog.relapse(before, record.status))
    steps: list[Step] = []
    if current is None or current.content() != new.content():
        steps.append(Step(new, day, dated_by, correction))
    elif correct and day < (held_since(history) or day):
        steps.append(Step(new, day, dated_by, True))  # the same status, known since earlier
    designated = record.get(prog.listing_field) if prog.listing_field else None
    if designated is not None and new.status != prog.listing_status and designated <= today:
        first = min((e.effective_on for e in history), default=None)
        if first is None:
            missing = bool(steps) and designated < steps[0].day
        else:
            missing = correct and designated < first
        if missing:
            check_effective(designated, today=today, last=None, field=prog.listing_field)
            cleared = {f: None for f in {s.stamps for s in prog.statuses if s.stamps}}
            listing = record.replace(status=prog.listing_status, **cleared)
            steps.insert(0, Step(listing, designated, DATE_ROW, first is not None))
    return steps
