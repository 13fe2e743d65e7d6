"""Status files (CSV, XLSX) → validated records → one transaction, or a report of every problem.

Nothing is written unless every row is right. Each problem names its row (as the spreadsheet
numbers it: the header is row 1), column, value and reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geo_app import clock
from geo_app.config import SAMPLE_DIR
from geo_app.core import programme as programmes
from geo_app.core.changes import (
    DATE_IMPORT,
    ChangeRefused,
    implausible_dates,
    ordered,
    plan_row,
)
from geo_app.core.names import (
    canonical_kind,
    full_name,
    match_key,
    nfc,
    search_key,
    split_kind,
)
from geo_app.core.programme import Programme
from geo_app.core.records import Event, Record, parse_date
from geo_app.errors import ImportFailed
from geo_app.io import sheets
from geo_app.store import Change, Store

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


@dataclass
class ParsedRow:
    row: int
    unit: UnitRef
    record: Record
    #: the row's ``status_since`` (None when it gives none)
    since: dt.date | None = None


@dataclass
class ImportResult:
    """What an import did, or would do with --dry-run."""

    file: str
    division: str
    rows: int
    created: int = 0
    updated: int = 0
    corrected: int = 0
    unchanged: int = 0
    dry_run: bool = False
    sample: bool = False
    warnings: list[str] = field(default_factory=list)
    #: what was noticed reading the file: encoding, sheet and header row, rows skipped
    notices: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "file": self.file,
            "division": self.division,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "corrected": self.corrected,
            "unchanged": self.unchanged,
            "dry_run": self.dry_run,
            "sample": self.sample,
            "warnings": self.warnings,
            "notices": self.notices,
            "changes": self.changes,
        }


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


def parse_rows(
    table: Table,
    filename: str,
    index: UnitIndex,
    division: str,
    max_rows: int = MAX_ROWS,
    programme: str | None = None,
    today: dt.date | None = None,
    lang: str = "en",
) -> tuple[list[ParsedRow], list[str], list[str]]:
    """Validate every row; return the records, warnings and notices, or raise with every problem.

    Rows are records of `programme`. Dates outside their plausible range
    (`geo_app.core.changes.date_range`, as of `today`: the app's clock by default) are problems
    of their row, in `lang`.

    Raises
    ------
    ImportFailed
        Listing each problem with its row, column, value and reason.
    """
    prog = programmes.get(programme)
    today = today or clock.today()
    problems: list[dict[str, Any]] = []
    warnings = list(table.warnings)
    notices = list(table.notices)
    columns = table.columns
    header_row = table.header_row
    parsed: list[ParsedRow] = []
    seen: dict[str, int] = {}
    counted = 0
    skipped: list[str] = []
    try:
        for n, raw in table.rows:
            texts = [_cell_text(v) for v in raw]
            if not any(texts):
                continue
            counted += 1
            if counted > max_rows:
                raise _fail(
                    filename,
                    [
                        problem(
                            n,
                            None,
                            None,
                            f"the file has more than {max_rows:,} rows below its header "
                            "(GEO_APP_IMPORT_MAX_ROWS); split it into several files",
                        )
                    ],
                )
            why = _skipped(n, texts, columns, index, header_row, prog)
            if why:
                skipped.append(why)
                continue
            _parse_row(n, raw, columns, index, division, problems, seen, parsed, prog, today, lang)
    except sheets.SheetError as exc:
        raise _sheet_fail(filename, exc) from None
    notices.extend(skipped[:20])
    if len(skipped) > 20:
        notices.append(f"and {len(skipped) - 20} more rows skipped")
    if problems:
        raise _fail(filename, problems)
    return parsed, warnings, notices


def _parse_row(
    n: int,
    raw: list[Any],
    columns: dict[str, int],
    index: UnitIndex,
    division: str,
    problems: list[dict[str, Any]],
    seen: dict[str, int],
    parsed: list[ParsedRow],
    prog: Programme,
    today: dt.date,
    lang: str,
) -> None:
    """Validate row `n`: append its record to `parsed`, or its problems to `problems`."""

    def get(fld: str) -> Any:
        pos = columns.get(fld)
        return raw[pos] if pos is not None and pos < len(raw) else None

    before = len(problems)
    for fld in columns:
        if get(fld) is sheets.NO_VALUE:
            problems.append(
                problem(
                    n,
                    fld,
                    "",
                    "the cell is a formula with no saved value (the file was written by a "
                    "program that does not compute formulas): open and save it in a "
                    "spreadsheet program, or write the value itself",
                )
            )
    if len(problems) > before:
        return
    unit = _match(
        index,
        _cell_text(get("code")),
        _cell_text(get("name")),
        _cell_text(get("kind")),
        n,
        problems,
    )
    status_text = _cell_text(get("status"))
    status = None
    if not status_text:
        problems.append(problem(n, "status", "", "the status is empty"))
    else:
        try:
            status = prog.parse_status(status_text)
        except ValueError as exc:
            problems.append(problem(n, "status", status_text, str(exc)))
    since = None
    try:
        since = parse_date(get("status_since"))
    except ValueError as exc:
        problems.append(problem(n, "status_since", _cell_text(get("status_since")), str(exc)))
    values: dict[str, Any] = {}
    for f in prog.fields:
        raw_value = get(f.name)
        if isinstance(raw_value, dt.date | int | float) and f.type == "date":
            given = raw_value  # a spreadsheet's date, or its serial number
        else:
            given = _cell_text(raw_value)
        try:
            values[f.name] = f.clean(given)
        except ValueError as exc:
            problems.append(problem(n, f.name, _cell_text(raw_value), str(exc)))
            continue
        if f.type in ("text", "longtext", "list") and len(_cell_text(raw_value)) > f.max_length:
            problems.append(problem(n, f.name, "", f"longer than {f.max_length} characters"))
        if f.required and values[f.name] in (None, "", []):
            problems.append(problem(n, f.name, "", f"{f.name} is required"))
    for refused in implausible_dates(values, today, prog.code):
        problems.append(problem(n, refused.field, refused.value.isoformat(), refused.text(lang)))
    for f in prog.fields:
        other = f.not_before
        if other and values.get(f.name) and values.get(other):
            if values[f.name] < values[other]:
                problems.append(
                    problem(
                        n,
                        f.name,
                        values[f.name].isoformat(),
                        f"{f.name} is before {other} ({values[other].isoformat()})",
                    )
                )
    if unit is not None:
        if unit.code in seen:
            problems.append(
                problem(
                    n,
                    "code",
                    unit.code,
                    f"{unit.label} is already given in row {seen[unit.code]}",
                )
            )
        else:
            seen[unit.code] = n
    if len(problems) > before or unit is None or status is None:
        return
    record = Record(unit.code, status, division, prog.code, values)
    parsed.append(ParsedRow(n, unit, record, since))


# -- the whole import ----------------------------------------------------------------------
def _in_force(history: Sequence[Event], day: dt.date, programme: str) -> Record | None:
    """Return the record in force on `day` (None: not listed then), from a unit's events."""
    found = None
    for e in ordered(history):
        if e.effective_on > day:
            break
        found = e
    if found is None:
        return None
    content = found.content or {"code": found.code, "status": found.status}
    return Record.from_content(content, programme)


def is_sample(data: bytes) -> bool:
    """Tell whether `data` is one of the bundled sample status files."""
    digest = hashlib.sha256(data).digest()
    return any(
        digest == hashlib.sha256(f.read_bytes()).digest() for f in SAMPLE_DIR.glob("*_sample_*.csv")
    )


def run_import(
    store: Store,
    data: bytes,
    filename: str,
    units: Sequence[UnitRef],
    division: str = "2025",
    actor: str = "import",
    dry_run: bool = False,
    today: dt.date | None = None,
    correct: bool = False,
    lang: str = "en",
    sheet: str | None = None,
    max_rows: int = MAX_ROWS,
    other_divisions: Callable[[], Mapping[str, Collection[str]]] | None = None,
    programme: str | None = None,
) -> ImportResult:
    """Import a status file: every row valid, then all changes in one transaction.

    Each row's changes follow the one change rule (`geo_app.core.changes.plan_row`): the day
    its status took effect is its ``status_since``, else the best date the row gives, else the
    import day; never after today, never before the unit's last change unless `correct`.

    Parameters
    ----------
    units:
        The units of `division` that rows may name.
    dry_run:
        Validate and report what would change; never write.
    today:
        The import day (the app's clock by default).
    correct:
        The file corrects history: its dates may go before the units' last changes.
    lang:
        Language of the messages about the change rule (``en`` or ``vi``).
    sheet:
        The sheet of a workbook to read (default: the first whose header matches).
    max_rows:
        The most rows below the header (``GEO_APP_IMPORT_MAX_ROWS``).
    other_divisions:
        Returns the unit codes of the other registered divisions, by division; asked only
        when codes are not units of `division`, to hint at the division the file is of.
    programme:
        The programme the file's records belong to (the default programme when None).

    Returns
    -------
    ImportResult
        Counts of created, updated and unchanged records.

    Raises
    ------
    ImportFailed
        When any row has a problem (`details` lists them all); nothing is written.
    """
    prog = programmes.get(programme)
    today = today or clock.today()
    table, close = read_table(data, filename, sheet, prog.code)
    try:
        parsed, warnings, notices = parse_rows(
            table, filename, UnitIndex(units), division, max_rows, prog.code, today, lang
        )
    except ImportFailed as exc:
        _hint_division(exc, division, other_divisions)
        raise
    finally:
        close()
    sample = is_sample(data)
    current = store.records(division, prog.code)
    history: dict[str, list[Event]] = {}
    for event in store.events(division, prog.code):
        history.setdefault(event.code, []).append(event)
    result = ImportResult(
        filename,
        division,
        len(parsed),
        dry_run=dry_run,
        sample=sample,
        warnings=warnings,
        notices=notices,
    )
    changes: list[Change] = []
    problems: list[dict[str, Any]] = []
    import_dated = 0
    for row in parsed:
        code = row.record.code
        existing = current.get(code)
        try:
            steps = plan_row(
                row.record,
                current=existing.record if existing else None,
                history=history.get(code, []),
                since=row.since,
                today=today,
                correct=correct,
            )
        except ChangeRefused as exc:
            problems.append(problem(row.row, exc.field, exc.value.isoformat(), exc.text(lang)))
            continue
        if not steps:
            result.unchanged += 1
            continue
        latest = [st for st in steps if not st.correction]
        if existing is None:
            result.created += 1
        elif latest:
            result.updated += 1
        else:
            result.corrected += 1
        old = existing.record if existing else None
        version = existing.version if existing else None
        for step in steps:
            before = old
            if step.correction:
                before = _in_force(history.get(code, []), step.day, prog.code)
            changes.append(
                Change(
                    record=step.record,
                    old=before,
                    effective_on=step.day,
                    expected_version=version,
                    correction=step.correction,
                    dated_by=step.dated_by,
                )
            )
            if not step.correction:
                old = step.record
            version = None if version is None else version + 1
            import_dated += step.dated_by == DATE_IMPORT
        result.changes.append(
            {
                "row": row.row,
                "code": row.unit.code,
                "name": full_name(row.unit.kind, row.unit.name),
                "old_status": existing.record.status if existing else None,
                "new_status": steps[-1].record.status,
                "effective_on": steps[-1].day.isoformat(),
                "dated_by": steps[-1].dated_by,
                "correction": steps[-1].correction,
            }
        )
    if problems:
        raise _fail(filename, problems)
    if import_dated:
        result.warnings.append(
            f"{import_dated} row(s) give no date for their status: it takes effect on the day "
            f"of the import ({today.isoformat()}); add a status_since column to date it"
        )
    if not dry_run and changes:
        store.apply(changes, actor=actor, source=f"import:{filename}", sample=sample)
    LOGGER.info(
        "import %s: %d created, %d updated, %d corrected, %d unchanged%s",
        filename,
        result.created,
        result.updated,
        result.corrected,
        result.unchanged,
        " (dry run)" if dry_run else "",
    )
    return result


def other_division_codes(store: Store, division: str) -> dict[str, set[str]]:
    """Return the unit codes of the registered divisions other than `division`, by division
    (what `run_import` hints with when a file's codes are another division's)."""
    return {
        d["name"]: {u["code"] for u in store.division_units(d["name"])}
        for d in store.divisions()
        if d["name"] != division
    }


def _hint_division(
    exc: ImportFailed,
    division: str,
    other_divisions: Callable[[], Mapping[str, Collection[str]]] | None,
) -> None:
    """Add to `exc` a hint at ``--division`` when its unknown codes are another division's."""
    unknown = [
        p["value"]
        for p in (exc.details or [])
        if p.get("column") == "code" and p.get("reason") == NO_SUCH_CODE and p.get("value")
    ]
    if not unknown or other_divisions is None:
        return
    best = None
    for name, codes in other_divisions().items():
        if name == division:
            continue
        codes = set(codes)
        hits = sum(1 for c in unknown if c in codes or c.zfill(5) in codes)
        if hits and (best is None or hits > best[1]):
            best = (name, hits)
    if best is None or best[1] * 2 < len(unknown):
        return
    name, hits = best
    exc.details.append(
        problem(
            None,
            "code",
            None,
            f"{hits} of the {len(unknown)} unknown codes are units of division {name}: if the "
            f"file names that division's units, import it with --division {name} "
            f"(geo-app status import FILE --division {name})",
        )
    )


def unit_refs(units) -> list[UnitRef]:
    """Return UnitRefs for the rows of a boundary GeoDataFrame (code, name, kind)."""
    return [
        UnitRef(c, n, k)
        for c, n, k in zip(units["code"], units["name"], units["kind"], strict=True)
    ]
