"""Status files (CSV, XLSX) → validated records → one transaction, or a report of every problem.

Nothing is written unless every row is right. Each problem names its row (as the spreadsheet
numbers it: the header is row 1), column, value and reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
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
    full_name,
)
from geo_app.core.programme import Programme
from geo_app.core.records import Event, Record, parse_date
from geo_app.errors import ImportFailed
from geo_app.io import sheets
from geo_app.io.rows import (  # noqa: F401  (re-exported)
    _COLUMN_NUMBER,
    _GROUP_NUMBER,
    _TOTALS,
    ALIASES,
    BASE_HEADERS,
    FORMULA_PREFIX,
    FORMULA_START,
    HEADER_SEARCH_ROWS,
    HEADERS,
    MAX_BYTES,
    MAX_PROBLEMS,
    MAX_ROWS,
    NO_SUCH_CODE,
    VI_HEADERS,
    Table,
    UnitIndex,
    UnitRef,
    _cell_text,
    _fail,
    _find_header,
    _header_map,
    _match,
    _names_a_unit,
    _sheet_fail,
    _skipped,
    format_problem,
    header_keys,
    headers,
    problem,
    read_table,
    unit_refs,
)
from geo_app.store import Change, Store

LOGGER = logging.getLogger(__name__)


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
