"""Targets files (CSV, XLSX): ``code,target,due_on,met_on,note``, one row per target of a unit.

The same rules as status files: every row is checked first, then all changes are written in
one transaction, or nothing; each problem names its row, column, value and reason. A row names
a target of a listed unit by its title (matched ignoring case and tone marks' place); a title the
unit does not have yet adds a target. Importing the same file again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geo_app import clock
from geo_app.core import programme as programmes
from geo_app.core.changes import EARLIEST, latest_ahead
from geo_app.core.names import match_key
from geo_app.core.records import parse_date
from geo_app.core.targets import Target
from geo_app.io import sheets
from geo_app.io.rows import (
    HEADER_SEARCH_ROWS,
    MAX_BYTES,
    UnitIndex,
    UnitRef,
    _cell_text,
    _fail,
    _sheet_fail,
    problem,
)
from geo_app.store import Store, TargetChange

#: The headers of a targets file, in order.
HEADERS = ("code", "target", "due_on", "met_on", "note")
VI_HEADERS = {
    "code": ("Mã", "Mã đơn vị hành chính", "Mã ĐVHC", "Mã xã"),
    "target": ("Chỉ tiêu", "Tên chỉ tiêu"),
    "due_on": ("Hạn", "Thời hạn", "Hạn hoàn thành"),
    "met_on": ("Ngày đạt", "Ngày hoàn thành"),
    "note": ("Ghi chú",),
}
MAX_TITLE = 300
MAX_NOTE = 2000


@dataclass
class TargetsResult:
    """What a targets import did, or would do with a dry run."""

    file: str
    rows: int
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, **self.__dict__}


def _keys() -> dict[str, str]:
    keys = {}
    for column, names in VI_HEADERS.items():
        for text in (column, column.replace("_", " "), *names):
            keys[match_key(text)] = column
    return keys


def _read(data: bytes, filename: str) -> list[tuple[int, Any]]:
    """Return the header (row, columns) and then the rows with a value (row, cells) of a targets
    file's first sheet, read as status files are (`geo_app.io.sheets`: CSV encodings, XLSX read
    lazily and checked); the header is its first row with a value, and names a code and a
    target column.

    Raises
    ------
    ImportFailed
        When the file cannot be read or has no such header.
    """
    if len(data) > MAX_BYTES:
        limit = MAX_BYTES // (1024 * 1024)
        raise _fail(filename, [problem(None, None, None, f"the file is larger than {limit} MB")])
    try:
        book = sheets.open_book(data, filename)
    except sheets.SheetError as exc:
        raise _sheet_fail(filename, exc) from None
    keys = _keys()
    try:
        sheet = book.sheets[0]
        for n, cells in sheet.head(HEADER_SEARCH_ROWS):
            columns: dict[str, int] = {}
            for pos, value in enumerate(cells):
                name = keys.get(match_key(_cell_text(value)))
                if name is not None and name not in columns:
                    columns[name] = pos
            if "code" in columns and "target" in columns:
                width = max(columns.values()) + 1
                body = [(i, r) for i, r in sheet.rows(width, n) if any(_cell_text(v) for v in r)]
                return [(n, columns), *body]
            if any(_cell_text(v) for v in cells):
                missing = [c for c in ("code", "target") if c not in columns]
                raise _fail(
                    filename,
                    [problem(n, c, None, f"the header has no {c} column") for c in missing],
                )
        return []
    except sheets.SheetError as exc:
        raise _sheet_fail(filename, exc) from None
    finally:
        book.close()


def export_rows(checklists: Mapping[str, Sequence[Target]]) -> list[list[str]]:
    """Return the header and one row per target, in unit-code order."""
    rows = [list(HEADERS)]
    for code in sorted(checklists):
        for t in checklists[code]:
            rows.append(
                [
                    code,
                    t.title,
                    t.due_on.isoformat() if t.due_on else "",
                    t.met_on.isoformat() if t.met_on else "",
                    t.note,
                ]
            )
    return rows


def run_import(
    store: Store,
    data: bytes,
    filename: str,
    units: Sequence[UnitRef],
    checklists: Mapping[str, Sequence[Target]],
    listed: set[str],
    division: str = "2025",
    programme: str | None = None,
    actor: str = "import",
    dry_run: bool = False,
) -> TargetsResult:
    """Import a targets file: every row valid, then all changes in one transaction.

    Parameters
    ----------
    checklists:
        Each unit's checklist now (`geo_app.readmodel.View.targets`).
    listed:
        The units a checklist may be given (those with a status in the programme).

    Raises
    ------
    ImportFailed
        Listing every problem with its row, column, value and reason; nothing is written.
    """
    prog = programmes.get(programme)
    today = clock.today()
    rows = _read(data, filename)
    if not rows:
        raise _fail(filename, [problem(None, None, None, "the file is empty")])
    header_row, columns = rows.pop(0)
    problems: list[dict[str, Any]] = []
    index = UnitIndex(units)
    result = TargetsResult(filename, len(rows), dry_run=dry_run)
    changes: list[TargetChange] = []
    seen: dict[tuple[str, str], int] = {}
    for n, raw in rows:

        def get(column: str, raw=raw) -> str:
            pos = columns.get(column)
            return _cell_text(raw[pos]) if pos is not None and pos < len(raw) else ""

        before = len(problems)
        code = index.normalise_code(get("code"))
        if code not in index.by_code:
            problems.append(problem(n, "code", get("code"), "no unit has this code"))
        elif code not in listed:
            problems.append(
                problem(n, "code", code, f"the unit has no status in programme {prog.code}")
            )
        title = " ".join(get("target").split())
        if not title:
            problems.append(problem(n, "target", "", "the target's title is empty"))
        elif len(title) > MAX_TITLE:
            problems.append(problem(n, "target", "", f"longer than {MAX_TITLE} characters"))
        dates: dict[str, dt.date | None] = {}
        for column in ("due_on", "met_on"):
            try:
                dates[column] = parse_date(get(column))
            except ValueError as exc:
                problems.append(problem(n, column, get(column), str(exc)))
                continue
            day = dates[column]
            latest = today if column == "met_on" else latest_ahead(today)
            if day is not None and not EARLIEST <= day <= latest:
                problems.append(
                    problem(n, column, day.isoformat(), f"not between {EARLIEST} and {latest}")
                )
        if dates.get("met_on") and dates["met_on"] > today:
            problems.append(
                problem(n, "met_on", dates["met_on"].isoformat(), f"after today ({today})")
            )
        note = get("note")
        if len(note) > MAX_NOTE:
            problems.append(problem(n, "note", "", f"longer than {MAX_NOTE} characters"))
        key = (code, match_key(title))
        if title and key in seen:
            problems.append(problem(n, "target", title, f"already given in row {seen[key]}"))
        seen[key] = n
        if len(problems) > before:
            continue
        existing = next(
            (t for t in checklists.get(code, []) if match_key(t.title) == match_key(title)), None
        )
        due, met = dates["due_on"], dates["met_on"]
        if existing is not None and (existing.due_on, existing.met_on, existing.note) == (
            due,
            met,
            note,
        ):
            result.unchanged += 1
            continue
        if existing is None:
            result.added += 1
        else:
            result.updated += 1
        changes.append(
            TargetChange(
                prog.code,
                division,
                code,
                existing.key if existing else None,
                existing.title if existing else title,
                due,
                met,
                note,
                today,
            )
        )
        result.changes.append({"row": n, "code": code, "target": title, "new": existing is None})
    if problems:
        raise _fail(filename, problems)
    if changes and not dry_run:
        store.save_targets(changes, actor=actor, source=f"import:{filename}")
    return result
