"""Statuses, their fixed colours, records and the figures computed from them (pure rules).

The palette is documented here and only here. Colours are fixed (never computed from data)
and taken from the Okabe–Ito set, which stays distinct for the common colour-vision
deficiencies; printed exports also hatch the two grave statuses so a greyscale copy reads.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from geo_app.core.names import match_key, search_key


@dataclass(frozen=True)
class Status:
    code: str
    label_vi: str
    label_en: str
    color: str  # fill colour, hex
    hatch: str  # matplotlib hatch pattern for printed exports ("" = none)
    gravity: int  # higher = graver; the roll-up keeps the gravest


HOTSPOT = "hotspot"
IN_PROGRESS = "in_progress"
TRANSFORMED = "transformed"
RELAPSED = "relapsed"
NOT_LISTED = "not_listed"

#: The statuses in legend order. ``not_listed`` is what a unit without a record shows.
STATUSES: tuple[Status, ...] = (
    Status(HOTSPOT, "Trọng điểm, phức tạp", "Hotspot", "#D55E00", "//", 3),  # vermillion
    Status(IN_PROGRESS, "Đang chuyển hóa", "Being transformed", "#E69F00", "", 2),  # orange
    Status(TRANSFORMED, "Đã chuyển hóa", "Transformed", "#009E73", "", 1),  # bluish green
    Status(RELAPSED, "Phức tạp trở lại", "Relapsed", "#CC79A7", "xx", 4),  # reddish purple
    Status(NOT_LISTED, "Không thuộc diện", "Not listed", "#E8E8E8", "", 0),  # neutral grey
)
BY_CODE: dict[str, Status] = {s.code: s for s in STATUSES}
#: Statuses a record can hold (a record never says "not listed": it is deleted instead).
RECORD_STATUSES = (HOTSPOT, IN_PROGRESS, TRANSFORMED, RELAPSED)
OUTLINE_COLOR = "#404040"

_PUNCT = re.compile(r"[\s,.;:_\-–—]+")
#: Other ways an office writes a status, read by `parse_status` like the labels.
STATUS_VARIANTS: dict[str, str] = {
    "Trọng điểm": HOTSPOT,
    "Trọng điểm, phức tạp về an ninh, trật tự": HOTSPOT,
    "Trọng điểm, phức tạp về ANTT": HOTSPOT,
    "Chưa chuyển hóa": HOTSPOT,
    "Đang thực hiện chuyển hóa": IN_PROGRESS,
    "Đã được công nhận chuyển hóa": TRANSFORMED,
    "Đã hoàn thành chuyển hóa": TRANSFORMED,
    "Tái phức tạp": RELAPSED,
}
#: Words an office puts before a status that do not change it ("Địa bàn trọng điểm...").
_STATUS_PREFIXES = ("địa bàn ", "dia ban ")


def _status_key(text: str) -> str:
    key = match_key(_PUNCT.sub(" ", text))
    for prefix in _STATUS_PREFIXES:
        if key.startswith(match_key(prefix) + " "):
            key = key[len(match_key(prefix)) + 1 :]
    return key


_BY_KEY: dict[str, str] = {}
for _s in STATUSES:
    for _text in (_s.code, _s.label_vi, _s.label_en):
        _BY_KEY[_status_key(_text)] = _s.code
for _text, _code in STATUS_VARIANTS.items():
    _BY_KEY[_status_key(_text)] = _code


def parse_status(text: str) -> str:
    """Return the status code for a code or label, in either language.

    Case, tone-mark placement and punctuation are ignored: "Đã chuyển hoá", "in progress" and
    "Trọng điểm phức tạp" are accepted, and so are the variants offices write
    (`STATUS_VARIANTS`: "Trọng điểm", "Chưa chuyển hóa"...), with or without "Địa bàn" before.

    Raises
    ------
    ValueError
        When the text names no status; the message lists the accepted values.
    """
    code = _BY_KEY.get(_status_key(text or ""))
    if code is None or code == NOT_LISTED:
        accepted = ", ".join(f"{s.code} / {s.label_vi}" for s in STATUSES if s.code != NOT_LISTED)
        raise ValueError(f"unknown status; use one of: {accepted}")
    return code


def label(code: str, lang: str = "vi") -> str:
    """Return the label of a status code in `lang` ("vi" or "en")."""
    s = BY_CODE[code]
    return s.label_en if lang == "en" else s.label_vi


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


@dataclass
class Record:
    """The status record of one unit of one division."""

    code: str
    status: str
    division: str = "2025"
    designated_on: dt.date | None = None
    target_on: dt.date | None = None
    transformed_on: dt.date | None = None
    unit: str = ""
    problems: list[str] = field(default_factory=list)
    notes: str = ""

    def content(self) -> dict[str, Any]:
        """Return the fields that an import or edit may change (for comparing and history)."""
        out = asdict(self)
        for key in ("designated_on", "target_on", "transformed_on"):
            out[key] = out[key].isoformat() if out[key] else None
        out["problems"] = list(self.problems)
        return out

    @classmethod
    def from_content(cls, data: dict[str, Any]) -> Record:
        """Build a record from `content()` output."""
        kwargs = {f.name: data.get(f.name) for f in fields(cls) if f.name in data}
        for key in ("designated_on", "target_on", "transformed_on"):
            kwargs[key] = parse_date(kwargs.get(key))
        kwargs["problems"] = list(kwargs.get("problems") or [])
        kwargs["unit"] = kwargs.get("unit") or ""
        kwargs["notes"] = kwargs.get("notes") or ""
        return cls(**kwargs)


def split_problems(text: str) -> list[str]:
    """Split a problems cell ("ma túy; trộm cắp") into a list of trimmed items."""
    return [p.strip() for p in re.split(r"[;\n]", text or "") if p.strip()]


def summary(statuses: Iterable[str], total_units: int) -> dict[str, Any]:
    """Return the figures: count per status, units listed, % transformed of listed.

    Parameters
    ----------
    statuses:
        The current status of every unit that has a record.
    total_units:
        Number of units in the boundary set (the rest are "not listed").
    """
    counts = {s: 0 for s in RECORD_STATUSES}
    for s in statuses:
        counts[s] += 1
    listed = sum(counts.values())
    counts[NOT_LISTED] = max(total_units - listed, 0)
    pct = round(100.0 * counts[TRANSFORMED] / listed, 1) if listed else 0.0
    return {
        "units": total_units,
        "listed": listed,
        "counts": counts,
        "transformed_pct": pct,
    }


def join_units(units, records: dict[str, Any], lang: str = "vi"):
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
    out["status_label"] = [label(s, lang) for s in statuses]
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
) -> list[dict[str, Any]]:
    """Return the count per status at each month's end, from the first event to `today`.

    The last point is `today` itself when the month has not ended. With `former` (the events
    of older divisions, by division) and the crosswalk `pairs` into this division, each unit
    counts with the roll-up of its own record and its former units' (see `rolled_up`), as the
    map shows it on that day. Each point also says how many of the changes since the previous
    point took effect on the day they were imported (``import_dated``: their file gave no
    date), so a chart can mark the months that rest on import dates.
    """
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
        counts = {s: 0 for s in RECORD_STATUSES}
        for s in rolled_up(codes, own, pairs, old).values():
            if s != NOT_LISTED:
                counts[s] += 1
        points.append({"date": day.isoformat(), "counts": counts, "import_dated": import_dated})
    return points


def rollup(statuses: Iterable[str]) -> str:
    """Return the gravest of `statuses`: relapsed > hotspot > in progress > transformed.

    Used where one unit of today stands for several former units; ``not_listed`` when none
    has a record.
    """
    return max(statuses, key=lambda s: BY_CODE[s].gravity, default=NOT_LISTED)


def rolled_up(
    codes: Iterable[str],
    own: dict[str, str],
    pairs: Iterable[dict[str, Any]],
    former: dict[tuple[str, str], str],
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
    """
    found: dict[str, list[str]] = {c: [own[c]] if c in own else [] for c in codes}
    for p in pairs:
        status = former.get((p["old_division"], p["old_code"]))
        if status is not None and p["new_code"] in found:
            found[p["new_code"]].append(status)
    return {c: rollup(s) for c, s in found.items()}


def _record(value: Any) -> Any:
    """Return the `Record` of a record or of a stored record (which holds one in ``record``)."""
    return getattr(value, "record", value)


@dataclass
class Standing:
    """What the units of the current division show: own records and former units' records.

    Since the 2025 reform most units of today were made of several former units, and records
    keep the division they were made in. A unit shows the gravest (`rollup`) of its own record
    and of the records of the former units that went into it (a split former unit counts in
    every unit it went into).

    Attributes
    ----------
    records:
        The current division's records by code (`Record` or stored records).
    former:
        Older divisions' records by (division, code).
    pairs:
        The crosswalk pairs into the current division (``old_division``, ``old_code``,
        ``new_code``, ``split``, and the old unit's ``name`` and ``kind`` when known).
    """

    records: Mapping[str, Any]
    former: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    pairs: Sequence[Mapping[str, Any]] = ()

    def cache_weight(self) -> int:
        """About 1 KB per record and crosswalk pair (what `geo_app.cache` counts)."""
        return 1024 * (1 + len(self.records) + len(self.former) + len(self.pairs))

    def statuses(self, codes: Iterable[str]) -> dict[str, str]:
        """Return the status each unit of `codes` shows (``not_listed`` when none)."""
        own = {c: _record(r).status for c, r in self.records.items()}
        old = {k: _record(r).status for k, r in self.former.items()}
        return rolled_up(codes, own, self.pairs, old)

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
