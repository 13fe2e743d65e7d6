"""Records, their dated history, the state on a day, the roll-up and the trend (pure rules).

A record belongs to one programme (`geo_app.core.programme`): its status is one of the
programme's, its fields are the programme's fields. The statuses' colours, hatches and
gravity, and what counts as listed, are the programme's too: fixed in its definition file,
never computed from data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geo_app.core import programme as programmes
from geo_app.core.names import search_key
from geo_app.core.programme import NOT_LISTED, Programme

#: Outline of every unit on the maps (not a status colour).
OUTLINE_COLOR = "#404040"

_ISO = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})$")
_WORDS = re.compile(r"^ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})$")
_SERIAL = re.compile(r"^\d{5}(?:\.0+)?$")
#: Spreadsheet serial numbers read as dates (1954-10-03 to 2119-01-11): day 1 is 1900-01-01.
SERIAL_RANGE = (20000, 80000)
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _serial_date(number: float) -> dt.date:
    if not SERIAL_RANGE[0] <= number < SERIAL_RANGE[1]:
        raise ValueError(
            "not a date; write YYYY-MM-DD or dd/mm/yyyy (a number is read as a spreadsheet "
            f"date only from {SERIAL_RANGE[0]} to {SERIAL_RANGE[1]})"
        )
    return _EXCEL_EPOCH + dt.timedelta(days=int(number))


def parse_date(value: Any) -> dt.date | None:
    """Return a date from the ways offices write one, always day first when the day leads.

    Accepted: ISO (2023-05-19, also 2023/05/19, 2023.05.19, with a time after it), day first
    (19/05/2023, 19-05-2023, 19.05.2023, 19/5/23: a two-digit year is 2000-2069 or 1970-1999),
    "ngày 19 tháng 5 năm 2023", a spreadsheet date, and a spreadsheet's serial number
    (45065 = 2023-05-19) as a number or as text.

    Raises
    ------
    ValueError
        When the value is not a real date in one of those forms.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial_date(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        m = _ISO.match(text)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _DAY_FIRST.match(text)
        if m:
            year = int(m.group(3))
            if len(m.group(3)) == 2:
                year += 2000 if year < 70 else 1900
            return dt.date(year, int(m.group(2)), int(m.group(1)))
        m = _WORDS.match(search_key(text))
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError as exc:
        raise ValueError(f"not a real date ({exc})") from None
    if _SERIAL.match(text):
        return _serial_date(float(text))
    raise ValueError("not a date; write YYYY-MM-DD or dd/mm/yyyy (day first)")


class Record:
    """The record of one unit of one division in one programme: its status and its fields.

    Field values are kept as their field's type says (`geo_app.core.programme.Field.clean`):
    dates as `date`, lists as lists of text, numbers as floats, text as text.
    """

    __slots__ = ("code", "status", "division", "programme", "values")

    def __init__(
        self,
        code: str,
        status: str,
        division: str = "2025",
        programme: str = programmes.DEFAULT,
        values: Mapping[str, Any] | None = None,
        **fields: Any,
    ):
        prog = programmes.get(programme)
        given = {**(values or {}), **fields}
        unknown = sorted(set(given) - set(prog.by_field))
        if unknown:
            raise ValueError(f"programme {prog.code} has no field {', '.join(unknown)}")
        self.code = code
        self.status = status
        self.division = division
        self.programme = prog.code
        self.values = {f.name: f.clean(given.get(f.name)) for f in prog.fields}

    def get(self, name: str, default: Any = None) -> Any:
        """Return the value of one field (`default` when the programme has no such field)."""
        return self.values.get(name, default)

    def content(self) -> dict[str, Any]:
        """Return what an import or edit may change, JSON-ready (for comparing and history)."""
        prog = programmes.get(self.programme)
        out: dict[str, Any] = {
            "code": self.code,
            "status": self.status,
            "division": self.division,
            "programme": self.programme,
        }
        for f in prog.fields:
            out[f.name] = f.to_json(self.values.get(f.name))
        return out

    @classmethod
    def from_content(cls, data: Mapping[str, Any], programme: str | None = None) -> Record:
        """Build a record from `content()` output (history written before programmes existed
        has no ``programme``: `programme` says which it is)."""
        prog = programmes.get(data.get("programme") or programme)
        values = {f.name: data.get(f.name) for f in prog.fields}
        return cls(data["code"], data["status"], data.get("division", "2025"), prog.code, values)

    def replace(self, **changes: Any) -> Record:
        """Return a copy with some of code, status, division or fields changed."""
        base = {k: changes.pop(k, getattr(self, k)) for k in ("code", "status", "division")}
        return Record(programme=self.programme, values={**self.values, **changes}, **base)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self.content() == other.content()

    def __hash__(self) -> int:  # records are compared by content; they are not dict keys
        raise TypeError("Record is not hashable")

    def __repr__(self) -> str:
        return f"Record({self.content()!r})"


def join_units(units, records: dict[str, Any], lang: str = "vi", programme: str | None = None):
    """Return a copy of `units` with each unit's current status joined by code.

    Parameters
    ----------
    units:
        GeoDataFrame with at least a ``code`` column (display geometry).
    records:
        Current records by code: `Record` objects or objects with a ``record`` attribute.

    Returns
    -------
    GeoDataFrame
        With ``status`` (``not_listed`` when there is no record) and ``status_label`` columns.
    """
    out = units.copy()
    statuses = []
    for code in out["code"]:
        rec = records.get(code)
        rec = getattr(rec, "record", rec)
        statuses.append(rec.status if rec is not None else NOT_LISTED)
    out["status"] = statuses
    prog = programmes.get(programme)
    out["status_label"] = [prog.label(s, lang) for s in statuses]
    return out


@dataclass(frozen=True)
class Event:
    """One dated change of one unit's record (a history entry)."""

    id: int
    code: str
    effective_on: dt.date
    status: str
    content: dict[str, Any] | None = None
    #: how the day was found (`geo_app.core.changes.DATE_GIVEN`, ``DATE_ROW``, ``DATE_IMPORT``)
    dated_by: str | None = None
    source: str = ""  # through what: "web", "import:FILE", "cli"...
    actor: str = ""


def state_as_of(events: Iterable[Event], day: dt.date) -> dict[str, Event]:
    """Return, per unit, the event in force on `day`.

    That is the event with the latest ``effective_on`` not after `day`; of several on one date,
    the one recorded last (highest id).
    """
    best: dict[str, Event] = {}
    for e in events:
        if e.effective_on > day:
            continue
        cur = best.get(e.code)
        if cur is None or (e.effective_on, e.id) > (cur.effective_on, cur.id):
            best[e.code] = e
    return best


def month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    """Return the last day of every month from `first`'s month to `last`'s month."""
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append(dt.date(ny, nm, 1) - dt.timedelta(days=1))
        y, m = ny, nm
    return out


def trend(
    events: list[Event],
    today: dt.date,
    former: Mapping[str, list[Event]] | None = None,
    pairs: Sequence[Mapping[str, Any]] = (),
    programme: Programme | None = None,
) -> list[dict[str, Any]]:
    """Return the count per status at each month's end, from the first event to `today`.

    The last point is `today` itself when the month has not ended. With `former` (the events
    of older divisions, by division) and the crosswalk `pairs` into this division, each unit
    counts with the roll-up of its own record and its former units' (see `rolled_up`), as the
    map shows it on that day. Each point also says how many of the changes since the previous
    point took effect on the day they were imported (``import_dated``: their file gave no
    date), so a chart can mark the months that rest on import dates.
    """
    prog = programme or programmes.get()
    tagged = [(None, e) for e in events]
    for division, evs in (former or {}).items():
        tagged.extend((division, e) for e in evs)
    if not tagged:
        return []
    tagged.sort(key=lambda t: (t[1].effective_on, t[1].id))
    codes = {e.code for e in events} | {p["new_code"] for p in pairs}
    first = tagged[0][1].effective_on
    days = [d for d in month_ends(first, today) if d < today] + [today]
    points = []
    own: dict[str, str] = {}
    old: dict[tuple[str, str], str] = {}
    i = 0
    for day in days:
        import_dated = 0
        while i < len(tagged) and tagged[i][1].effective_on <= day:
            division, e = tagged[i]
            if division is None:
                own[e.code] = e.status
            else:
                old[(division, e.code)] = e.status
            import_dated += e.dated_by == "import"
            i += 1
        counts = {s: 0 for s in prog.record_statuses}
        for s in rolled_up(codes, own, pairs, old, prog).values():
            if s != NOT_LISTED:
                counts[s] += 1
        points.append({"date": day.isoformat(), "counts": counts, "import_dated": import_dated})
    return points


def rolled_up(
    codes: Iterable[str],
    own: dict[str, str],
    pairs: Iterable[Mapping[str, Any]],
    former: Mapping[tuple[str, str], str],
    programme: Programme | None = None,
) -> dict[str, str]:
    """Return each current unit's status: the gravest of its own and its former units'.

    Parameters
    ----------
    codes:
        The units of the current division.
    own:
        Status of the current units that have a record of their own, by code.
    pairs:
        Crosswalk pairs (``old_division``, ``old_code``, ``new_code``); a split old unit has
        a pair into each new unit it went into, and counts in every one of them.
    former:
        Status of old-division records, by (division, code).
    programme:
        Whose statuses' gravity decides (the default programme when None).
    """
    prog = programme or programmes.get()
    found: dict[str, list[str]] = {c: [own[c]] if c in own else [] for c in codes}
    for p in pairs:
        status = former.get((p["old_division"], p["old_code"]))
        if status is not None and p["new_code"] in found:
            found[p["new_code"]].append(status)
    return {c: prog.rollup(s) for c, s in found.items()}


def _record(value: Any) -> Any:
    """Return the `Record` of a record or of a stored record (which holds one in ``record``)."""
    return getattr(value, "record", value)


@dataclass
class Standing:
    """What the units of the current division show: own records and former units' records.

    Since the 2025 reform most units of today were made of several former units, and records
    keep the division they were made in. A unit shows the gravest (`Programme.rollup`) of its
    own record and of the records of the former units that went into it (a split former unit
    counts in every unit it went into).

    Attributes
    ----------
    records:
        The current division's records by code (`Record` or stored records).
    former:
        Older divisions' records by (division, code).
    pairs:
        The crosswalk pairs into the current division (``old_division``, ``old_code``,
        ``new_code``, ``split``, and the old unit's ``name`` and ``kind`` when known).
    programme:
        The programme of every record here.
    """

    records: Mapping[str, Any]
    former: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    pairs: Sequence[Mapping[str, Any]] = ()
    programme: str = programmes.DEFAULT

    def cache_weight(self) -> int:
        """About 1 KB per record and crosswalk pair (what `geo_app.cache` counts)."""
        return 1024 * (1 + len(self.records) + len(self.former) + len(self.pairs))

    def statuses(self, codes: Iterable[str]) -> dict[str, str]:
        """Return the status each unit of `codes` shows (``not_listed`` when none)."""
        own = {c: _record(r).status for c, r in self.records.items()}
        old = {k: _record(r).status for k, r in self.former.items()}
        return rolled_up(codes, own, self.pairs, old, programmes.get(self.programme))

    def former_units(self, code: str) -> list[tuple[Mapping[str, Any], Any]]:
        """Return the former units that went into `code`, each with its record (or None)."""
        return [
            (p, self.former.get((p["old_division"], p["old_code"])))
            for p in self.pairs
            if p["new_code"] == code
        ]

    def shown(self, codes: Iterable[str]) -> list[Any]:
        """Return the records that count for the units `codes`: their own and their former."""
        wanted = set(codes)
        out = [r for c, r in self.records.items() if c in wanted]
        for p in self.pairs:
            rec = self.former.get((p["old_division"], p["old_code"]))
            if rec is not None and p["new_code"] in wanted:
                out.append(rec)
        return out
