"""Status files (CSV, XLSX) → validated records → one transaction, or a report of every problem.

Nothing is written unless every row is right. Each problem names its row (as the spreadsheet
numbers it: the header is row 1), column, value and reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import zipfile
from collections.abc import Iterable, Sequence
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
from geo_app.core.names import canonical_kind, full_name, match_key, nfc, split_kind
from geo_app.core.programme import Programme
from geo_app.core.records import Event, Record, parse_date
from geo_app.errors import ImportFailed
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
MAX_BYTES = 20 * 1024 * 1024
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
def _read_csv(data: bytes, filename: str) -> list[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            filename,
            [
                problem(
                    None,
                    None,
                    None,
                    f"the file is not UTF-8 text (bad byte at offset {exc.start}); "
                    "save it as 'CSV UTF-8'",
                )
            ],
        ) from None
    if "\x00" in text:
        raise _fail(
            filename,
            [problem(None, None, None, "the file holds NUL characters: it is not a CSV text file")],
        )
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise _fail(
            filename, [problem(None, None, None, f"not a well-formed CSV file ({exc})")]
        ) from None


def _read_xlsx(data: bytes, filename: str) -> list[list[Any]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            return [list(r) for r in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    except (
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        TypeError,
        IndexError,
        OSError,
        AttributeError,
        EOFError,
        LookupError,
        SyntaxError,
    ) as exc:
        # openpyxl reports a damaged workbook through many exception types
        raise _fail(
            filename,
            [
                problem(
                    None, None, None, f"not a readable XLSX workbook ({type(exc).__name__}: {exc})"
                )
            ],
        ) from None
    except Exception as exc:  # noqa: BLE001 - any other parser failure is still a bad file
        raise _fail(
            filename,
            [problem(None, None, None, f"not a readable XLSX workbook ({type(exc).__name__})")],
        ) from None


def read_cells(data: bytes, filename: str) -> list[list[Any]]:
    """Return the rows of a CSV or XLSX file as lists of cell values."""
    lower = filename.lower()
    if len(data) > MAX_BYTES:
        raise _fail(
            filename,
            [problem(None, None, None, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")],
        )
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return _read_csv(data, filename)
    if lower.endswith(".xlsx"):
        return _read_xlsx(data, filename)
    raise _fail(
        filename, [problem(None, None, None, "unsupported file type; use .csv (UTF-8) or .xlsx")]
    )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    if text[:1] == FORMULA_PREFIX and text[1:2] and text[1] in FORMULA_START:
        text = text[1:]  # an export's guard against formulas (`geo_app.outputs.records`)
    return nfc(text)


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
            problems.append(problem(row, "code", code, "no unit has this code"))
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


def parse_rows(
    cells: list[list[Any]],
    filename: str,
    index: UnitIndex,
    division: str,
    programme: str | None = None,
    today: dt.date | None = None,
    lang: str = "en",
) -> tuple[list[ParsedRow], list[str]]:
    """Validate every row; return the records and warnings, or raise with every problem.

    Dates outside their plausible range (`geo_app.core.changes.date_range`, as of `today`:
    the app's clock by default) are problems of their row, in `lang`.

    Raises
    ------
    ImportFailed
        Listing each problem with its row, column, value and reason.
    """
    prog = programmes.get(programme)
    keys = header_keys(prog)
    problems: list[dict[str, Any]] = []
    warnings: list[str] = []
    rows = [(i + 1, r) for i, r in enumerate(cells)]
    rows = [(n, r) for n, r in rows if any(_cell_text(v) for v in r)]
    if not rows:
        raise _fail(filename, [problem(None, None, None, "the file is empty")])
    header_row, header = rows[0]
    columns: dict[str, int] = {}
    for pos, value in enumerate(header):
        text = _cell_text(value)
        if not text:
            continue
        fld = keys.get(match_key(text))
        if fld is None:
            warnings.append(f"column {text!r} is not a known field and was ignored")
        elif fld in columns:
            problems.append(problem(header_row, text, text, f"a second column for {fld}"))
        else:
            columns[fld] = pos
    if "status" not in columns:
        problems.append(problem(header_row, "status", None, "the header has no status column"))
    if "code" not in columns and "name" not in columns:
        problems.append(
            problem(header_row, "code", None, "the header needs a code column or a name column")
        )
    if problems:
        raise _fail(filename, problems)

    today = today or clock.today()
    parsed: list[ParsedRow] = []
    seen: dict[str, int] = {}
    for n, raw in rows[1:]:

        def get(fld: str, raw=raw) -> Any:
            pos = columns.get(fld)
            return raw[pos] if pos is not None and pos < len(raw) else None

        before = len(problems)
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
            text = raw_value if isinstance(raw_value, dt.date) else _cell_text(raw_value)
            try:
                values[f.name] = f.clean(text)
            except ValueError as exc:
                problems.append(problem(n, f.name, _cell_text(raw_value), str(exc)))
                continue
            if f.type in ("text", "longtext", "list") and len(_cell_text(raw_value)) > f.max_length:
                problems.append(problem(n, f.name, "", f"longer than {f.max_length} characters"))
            if f.required and values[f.name] in (None, "", []):
                problems.append(problem(n, f.name, "", f"{f.name} is required"))
        for refused in implausible_dates(values, today or clock.today(), prog.code):
            value = refused.value.isoformat()
            problems.append(problem(n, refused.field, value, refused.text(lang)))
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
            continue
        record = Record(unit.code, status, division, prog.code, values)
        parsed.append(ParsedRow(n, unit, record, since))
    if problems:
        raise _fail(filename, problems)
    return parsed, warnings


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
    cells = read_cells(data, filename)
    prog = programmes.get(programme)
    today = today or clock.today()
    parsed, warnings = parse_rows(
        cells, filename, UnitIndex(units), division, prog.code, today, lang
    )
    sample = is_sample(data)
    current = store.records(division, prog.code)
    history: dict[str, list[Event]] = {}
    for event in store.events(division, prog.code):
        history.setdefault(event.code, []).append(event)
    result = ImportResult(
        filename, division, len(parsed), dry_run=dry_run, sample=sample, warnings=warnings
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


def unit_refs(units) -> list[UnitRef]:
    """Return UnitRefs for the rows of a boundary GeoDataFrame (code, name, kind)."""
    return [
        UnitRef(c, n, k)
        for c, n, k in zip(units["code"], units["name"], units["kind"], strict=True)
    ]
