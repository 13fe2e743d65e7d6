"""Rows of a status or targets file: its headers, the table under them, the units they name."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geo_app.core import programme as programmes
from geo_app.core.names import (
    canonical_kind,
    full_name,
    match_key,
    nfc,
    search_key,
    split_kind,
)
from geo_app.core.programme import Programme
from geo_app.errors import ImportFailed
from geo_app.io import sheets

LOGGER = logging.getLogger(__name__)


#: The columns every status file may have, whatever the programme: the unit, its status, and
#: ``status_since`` (the day the row's status took effect; see `geo_app.core.changes`).
BASE_HEADERS = ("code", "name", "kind", "status")


#: Vietnamese headers accepted for the base columns (matched ignoring case and tone marks'
#: place); a programme's fields bring their own (``headers`` in its definition).
VI_HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("Mã", "Mã đơn vị hành chính", "Mã ĐVHC", "Mã xã"),
    "name": ("Tên", "Tên đơn vị", "Tên đơn vị hành chính", "Tên xã", "Xã, phường"),
    "kind": ("Loại", "Loại đơn vị", "Cấp"),
    "status": ("Trạng thái", "Tình trạng"),
    "status_since": ("Trạng thái từ ngày", "Từ ngày", "Ngày hiệu lực"),
}


#: Other English names a column is known by (``effective_on`` was the first name of
#: ``status_since``, and files made with it still import).
ALIASES = {"effective_on": "status_since"}


def headers(prog: Programme | None = None) -> tuple[str, ...]:
    """Return the English headers of a programme's status files, in file order (also the
    export's columns): the unit, its status, then the programme's fields."""
    prog = prog or programmes.get()
    return BASE_HEADERS + tuple(f.name for f in prog.fields)


def header_keys(prog: Programme) -> dict[str, str]:
    """Return the column each header names, by its match key (English or Vietnamese)."""
    names: dict[str, tuple[str, ...]] = {**VI_HEADERS}
    for f in prog.fields:
        names[f.name] = f.headers
    for alias in ALIASES:
        names[alias] = ()
    keys: dict[str, str] = {}
    for column, vi in names.items():
        target = ALIASES.get(column, column)
        for text in (column, column.replace("_", " "), *vi):
            keys[match_key(text)] = target
    return keys


#: The hotspot programme's headers (the default programme's, for those who import them).
HEADERS = headers()


#: The reason given for a code that names no unit of the division.
NO_SUCH_CODE = "no unit has this code"


#: The largest status file read (CSV or XLSX), in bytes.
MAX_BYTES = 20 * 1024 * 1024


#: The most rows below the header a file may have (GEO_APP_IMPORT_MAX_ROWS overrides it).
MAX_ROWS = 20_000


#: Problems listed in a refused import's report (the message gives the total): a rejected file
#: of 200,000 bad rows answers with 200 of them, not tens of megabytes.
MAX_PROBLEMS = 200


#: What a cell that begins with one of these characters was prefixed with when an export wrote
#: it (a quote, as OWASP advises against formula injection); the import takes it off again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


FORMULA_PREFIX = "'"


@dataclass(frozen=True)
class UnitRef:
    """A unit records may be joined to."""

    code: str
    name: str
    kind: str

    @property
    def label(self) -> str:
        return f"{full_name(self.kind, self.name)} ({self.code})"


def problem(row: int | None, column: str | None, value: Any, reason: str) -> dict[str, Any]:
    return {
        "row": row,
        "column": column,
        "value": "" if value is None else str(value),
        "reason": reason,
    }


def format_problem(p: dict[str, Any]) -> str:
    """Return one problem as a line: "row 5, column status, value 'x': reason"."""
    where = []
    if p.get("row") is not None:
        where.append(f"row {p['row']}")
    if p.get("column"):
        where.append(f"column {p['column']}")
    if p.get("value"):
        where.append(f"value {p['value']!r}")
    return (", ".join(where) + ": " if where else "") + p["reason"]


def _fail(filename: str, problems: list[dict[str, Any]]) -> ImportFailed:
    """Return the refusal of a file: the number of problems, and the first `MAX_PROBLEMS`."""
    n = len(problems)
    message = f"{filename}: {n} problem{'s' if n != 1 else ''}; nothing was imported"
    if n > MAX_PROBLEMS:
        message += f" (the first {MAX_PROBLEMS} are listed)"
    failed = ImportFailed(message, details=problems[:MAX_PROBLEMS])
    failed.total = n
    return failed


# -- reading cells -------------------------------------------------------------------------
#: Rows searched for the header (title blocks above it are common in official lists).
HEADER_SEARCH_ROWS = 20


def _sheet_fail(filename: str, exc: sheets.SheetError) -> ImportFailed:
    return _fail(filename, [problem(None, None, None, str(exc))])


def _cell_text(value: Any) -> str:
    """Return a cell's value as the text the importer reads (the one place cells become text)."""
    if value is None or value is sheets.NO_VALUE:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    if text[:1] == FORMULA_PREFIX and text[1:2] and text[1] in FORMULA_START:
        text = text[1:]  # an export's guard against formulas (`geo_app.outputs.records`)
    return nfc(text)


def _header_map(
    cells: Sequence[Any], row: int, keys: Mapping[str, str]
) -> tuple[dict[str, int], list[dict[str, Any]], list[str]]:
    """Map a header row's cells to fields (`keys`: `header_keys`): (columns, problems,
    warnings)."""
    columns: dict[str, int] = {}
    problems: list[dict[str, Any]] = []
    warnings: list[str] = []
    for pos, value in enumerate(cells):
        text = _cell_text(value)
        if not text:
            continue
        fld = keys.get(match_key(text))
        if fld is None:
            warnings.append(f"column {text!r} is not a known field and was ignored")
        elif fld in columns:
            problems.append(problem(row, text, text, f"a second column for {fld}"))
        else:
            columns[fld] = pos
    if "status" not in columns:
        problems.append(problem(row, "status", None, "the header has no status column"))
    if "code" not in columns and "name" not in columns:
        problems.append(
            problem(row, "code", None, "the header needs a code column or a name column")
        )
    return columns, problems, warnings


@dataclass
class Table:
    """The table a status file holds: its header and a stream of the rows below it."""

    sheet: str | None
    header_row: int
    columns: dict[str, int]
    rows: Iterable[tuple[int, list[Any]]]
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def _find_header(
    sheet: sheets.Sheet, keys: Mapping[str, str]
) -> tuple[int, dict[str, int], list[str]] | list[dict[str, Any]]:
    """Return (row, columns, warnings) of the sheet's header, or the problems of its first row.

    The header is the first of the first `HEADER_SEARCH_ROWS` rows that names a status column
    and a code or name column; rows above it (a title block) are left out.
    """
    first_problems: list[dict[str, Any]] | None = None
    for n, cells in sheet.head(HEADER_SEARCH_ROWS):
        if not any(_cell_text(v) for v in cells):
            continue
        columns, problems, warnings = _header_map(cells, n, keys)
        if "status" in columns and ("code" in columns or "name" in columns):
            if problems:  # a right header with a duplicate column: report it
                return problems
            return n, columns, warnings
        if first_problems is None:
            first_problems = problems
    return first_problems or [problem(None, None, None, "the file is empty")]


def read_table(
    data: bytes, filename: str, sheet: str | None = None, programme: str | None = None
) -> tuple[Table, Any]:
    """Open a status file and find its header (the headers of `programme`'s files): in the
    named sheet, or the first that has one.

    Returns
    -------
    tuple
        The `Table` (rows streamed, cut to the header's width) and a function closing the file.

    Raises
    ------
    ImportFailed
        When the file cannot be read, the sheet does not exist, or no header is found.
    """
    if len(data) > MAX_BYTES:
        raise _fail(
            filename,
            [problem(None, None, None, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")],
        )
    keys = header_keys(programmes.get(programme))
    try:
        book = sheets.open_book(data, filename)
    except sheets.SheetError as exc:
        raise _sheet_fail(filename, exc) from None
    try:
        names = [s.name for s in book.sheets]
        if sheet is not None:
            chosen = [s for s in book.sheets if s.name is not None and s.name == sheet]
            if not chosen:
                where = ", ".join(repr(n) for n in names if n) or "none: a CSV has no sheets"
                raise _fail(
                    filename, [problem(None, "sheet", sheet, f"no such sheet; sheets: {where}")]
                )
        else:
            chosen = book.sheets
        first_failure: list[dict[str, Any]] | None = None
        for candidate in chosen:
            found = _find_header(candidate, keys)
            if isinstance(found, list):
                if first_failure is None:
                    first_failure = found
                continue
            header_row, columns, warnings = found
            width = max(columns.values()) + 1
            notices = list(book.notices)
            if candidate.name is not None:
                notices.append(
                    f"read sheet {candidate.name!r}"
                    + (f" (of {len(names)} sheets)" if len(names) > 1 else "")
                    + f", header on row {header_row}"
                )
            elif header_row != 1:
                notices.append(f"header on row {header_row}")
            table = Table(
                candidate.name,
                header_row,
                columns,
                candidate.rows(width, header_row),
                warnings,
                notices,
            )
            return table, book.close
        problems = list(first_failure or [])
        if any(p["row"] is not None for p in problems):
            where = f"sheet {chosen[0].name!r}" if len(chosen) == 1 and chosen[0].name else ""
            if len(chosen) > 1:
                where = "any sheet (" + ", ".join(repr(s.name) for s in chosen) + ")"
            problems.append(
                problem(
                    None,
                    None,
                    None,
                    f"no header found in the first {HEADER_SEARCH_ROWS} rows"
                    + (f" of {where}" if where else "")
                    + ": a header row names a status column and a code or name column "
                    "(see the accepted headers in the manual)"
                    + ("; choose a sheet with --sheet" if len(chosen) > 1 else ""),
                )
            )
        raise _fail(filename, problems)
    except BaseException:
        book.close()
        raise


# -- validating rows -----------------------------------------------------------------------
class UnitIndex:
    """Units of one division, looked up by code or by (kind, name)."""

    def __init__(self, units: Iterable[UnitRef]):
        self.by_code: dict[str, UnitRef] = {}
        self.by_name: dict[str, list[UnitRef]] = {}
        for u in units:
            self.by_code[u.code] = u
            self.by_name.setdefault(match_key(u.name), []).append(u)
        widths = {len(c) for c in self.by_code if c.isdigit()}
        self.code_width = widths.pop() if len(widths) == 1 else None

    def normalise_code(self, text: str) -> str:
        text = text.strip()
        if self.code_width and text.isdigit() and len(text) < self.code_width:
            return text.zfill(self.code_width)
        return text


def _match(
    index: UnitIndex, code: str, name: str, kind_text: str, row: int, problems: list[dict[str, Any]]
) -> UnitRef | None:
    kind = canonical_kind(kind_text) if kind_text else None
    if kind_text and kind is None:
        problems.append(
            problem(row, "kind", kind_text, "unknown kind; use Xã, Phường, Thị trấn or Đặc khu")
        )
        return None
    prefix_kind, bare = split_kind(name) if name else (None, "")
    if prefix_kind and kind and prefix_kind != kind:
        problems.append(
            problem(row, "name", name, f"the name says {prefix_kind}, kind says {kind}")
        )
        return None
    kind = kind or prefix_kind
    if code:
        unit = index.by_code.get(index.normalise_code(code))
        if unit is None:
            problems.append(problem(row, "code", code, NO_SUCH_CODE))
            return None
        if bare and match_key(bare) != match_key(unit.name):
            problems.append(
                problem(row, "name", name, f"code {unit.code} is {full_name(unit.kind, unit.name)}")
            )
            return None
        if kind and kind != unit.kind:
            problems.append(
                problem(
                    row,
                    "kind",
                    kind_text or name,
                    f"code {unit.code} is {full_name(unit.kind, unit.name)}",
                )
            )
            return None
        return unit
    if not bare:
        problems.append(problem(row, "code", "", "give the unit's code, or its name and kind"))
        return None
    candidates = index.by_name.get(match_key(bare), [])
    if kind:
        same_kind = [u for u in candidates if u.kind == kind]
    else:
        same_kind = candidates
    if not same_kind:
        reason = f"no {kind.lower() + ' ' if kind else 'unit '}named {bare!r}"
        if candidates:
            reason += "; did you mean " + ", ".join(u.label for u in candidates)
        problems.append(problem(row, "name", name, reason))
        return None
    if not kind:
        problems.append(
            problem(
                row,
                "kind",
                "",
                "a name matches only with the unit's kind (Xã, Phường...); candidates: "
                + ", ".join(u.label for u in same_kind),
            )
        )
        return None
    if len(same_kind) > 1:
        problems.append(
            problem(
                row,
                "name",
                name,
                "ambiguous: several units have this name; "
                "give the code of one of: " + ", ".join(u.label for u in same_kind),
            )
        )
        return None
    return same_kind[0]


#: A totals row: "Tổng cộng", "Tổng số: 4", "Cộng", "4 xã, phường", "12 đơn vị" (diacritics off;
#: "Công an..." is not one).
_TOTALS = re.compile(
    r"^(?:(?:tong cong|tong so|tong|cong)(?:\s*[:.]|\s*$|\s+\d)"
    r"|\d+\s*(?:xa|phuong|thi tran|don vi|dia ban|dvhc)\b)"
)


#: A cell of the row that numbers the columns under an official form's header: 1, (2), [3].
_COLUMN_NUMBER = re.compile(r"^[(\[]?\d{1,2}[)\]]?$")


#: What numbers a group in the first column: I, II, A, B, 1. ...
_GROUP_NUMBER = re.compile(r"^(?:[IVXLC]{1,6}|[A-Z]|\d{1,3})[.)]?$")


def _names_a_unit(text: str, index: UnitIndex) -> bool:
    _, bare = split_kind(text)
    return index.normalise_code(text) in index.by_code or match_key(bare) in index.by_name


def _skipped(
    n: int,
    texts: list[str],
    columns: dict[str, int],
    index: UnitIndex,
    header_row: int,
    prog: Programme,
) -> str | None:
    """Return why row `n` is not a record (a notice), or None when it is one.

    A totals row ("Tổng cộng", "4 xã, phường") and a group row (one cell, e.g. a district's
    name across the row, maybe numbered I, II..., that names no unit) have no status and no
    unit's code; the row numbering the columns (1, 2, 3... or (1), (2)...) follows the header
    directly. Any row with a status, or naming a unit by its code, is a record.
    """
    filled = [t for t in texts if t]
    status_pos = columns.get("status")
    status_text = texts[status_pos] if status_pos is not None and status_pos < len(texts) else ""
    if status_text:
        try:
            prog.parse_status(status_text)
            return None
        except ValueError:
            pass
    if n == header_row + 1 and len(filled) >= 3 and all(_COLUMN_NUMBER.match(t) for t in filled):
        return f"row {n} numbers the columns ({', '.join(filled[:4])}…): skipped"
    if any(index.normalise_code(t) in index.by_code for t in filled):
        return None
    if any(_TOTALS.match(search_key(t)) for t in filled):
        return f"row {n} is a totals row ({' '.join(filled)[:60]!r}): skipped"
    words = [t for t in filled if not _GROUP_NUMBER.match(t)] if len(filled) == 2 else filled
    if len(words) == 1 and not status_text:
        text = words[0]
        if not _names_a_unit(text, index) and not text.isdigit():
            return f"row {n} is a group row ({' '.join(filled)[:60]!r}): skipped"
    return None


def unit_refs(units) -> list[UnitRef]:
    """Return UnitRefs for the rows of a boundary GeoDataFrame (code, name, kind)."""
    return [
        UnitRef(c, n, k)
        for c, n, k in zip(units["code"], units["name"], units["kind"], strict=True)
    ]
