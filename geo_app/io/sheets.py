"""Tabular files as offices make them: CSV in any of the encodings Excel saves, XLSX read lazily.

A file is opened as a `Book` of one or more `Sheet`s. A sheet gives its first rows (to find the
header) and then streams its rows, one at a time, cut to the header's width:

* XLSX is read with openpyxl in read-only mode, with the declared dimensions ignored (a sheet
  saying ``A1:XFD1048576`` costs what its real cells cost), and every XML part parsed through
  ``defusedxml`` (openpyxl uses it when it is installed: entity declarations are refused). Parts
  that unpack to more than a spreadsheet of this size needs are refused before parsing.
* Vertically merged cells are filled down: the value belongs to every row the merge covers.
* A formula cell without a saved value reads as `NO_VALUE`, so a message can say so.
* CSV: UTF-8 (with or without BOM), UTF-16 with a BOM ("Unicode Text", tab-separated) and
  Windows-1258 (Excel's "CSV" on Vietnamese Windows, detected and reported as a notice).

Nothing here knows about status records: `geo_app.io.importer` finds the header and the fields.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: The most one worksheet's XML may unpack to (a sheet of 20,000 rows is some 15 MB).
SHEET_XML_MAX = 64 * 1024 * 1024
#: The most rows (empty ones included) and cells a worksheet may hold, and cells in one row.
MAX_SHEET_ROWS = 200_000
MAX_SHEET_CELLS = 4_000_000
MAX_ROW_CELLS = 16_384
#: The most sheets a workbook may have, and columns read (a header is never wider).
MAX_SHEETS = 100
MAX_COLUMNS = 512
#: The most any other part of a workbook may unpack to (shared strings, styles: parsed whole).
PART_XML_MAX = 12 * 1024 * 1024
#: Formula cells without a value remembered per sheet (beyond, they read as empty).
MAX_FORMULA_CELLS = 10_000
#: Merged ranges remembered per sheet.
MAX_MERGES = 100_000


class SheetError(Exception):
    """The file cannot be read as a table; the message says why (no row, no column)."""


class _NoValue:
    """A formula cell whose value was never computed and saved (a sheet written by a script)."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


#: What a formula cell without a saved value reads as.
NO_VALUE = _NoValue()


@dataclass
class Sheet:
    """One table of a file: its name (None for a CSV) and a way to stream its rows."""

    name: str | None
    _head: list[tuple[int, list[Any]]]
    _stream: Any  # callable(width, after) -> Iterator[(row number, cells)]

    def head(self, n: int = 20) -> list[tuple[int, list[Any]]]:
        """Return the rows numbered 1 to `n` (empty rows included), uncut."""
        return [(i, r) for i, r in self._head if i <= n]

    def rows(self, width: int, after: int) -> Iterator[tuple[int, list[Any]]]:
        """Yield (row number, cells) of every row below row `after`, cut to `width` cells."""
        return self._stream(width, after)


@dataclass
class Book:
    """The sheets of a file, and what was noticed while opening it (encoding...)."""

    sheets: list[Sheet]
    notices: list[str] = field(default_factory=list)
    _close: Any = None

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


def open_book(data: bytes, filename: str) -> Book:
    """Open a .csv/.txt or .xlsx file's bytes as a `Book`.

    Raises
    ------
    SheetError
        When the file cannot be read (type, encoding, damaged or hostile workbook).
    """
    lower = filename.lower()
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return _csv_book(data)
    if lower.endswith(".xlsx"):
        return _xlsx_book(data)
    raise SheetError("unsupported file type; use .csv (UTF-8) or .xlsx")


# -- CSV ----------------------------------------------------------------------------------------
def decode_text(data: bytes) -> tuple[str, str | None]:
    """Return the text of a CSV file and a notice naming its encoding when it is not UTF-8.

    Raises
    ------
    SheetError
        When the bytes are none of UTF-8, UTF-16 with a BOM, or Windows-1258.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "the file is UTF-16 text (Excel's “Unicode Text”)"
        except UnicodeDecodeError as exc:
            raise SheetError(
                f"the file starts as UTF-16 text but has a bad byte at offset {exc.start}"
            ) from None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp1258")
    except UnicodeDecodeError:
        raise SheetError(
            f"the file is not UTF-8 text (bad byte at offset {utf8_error.start}); "
            "save it as 'CSV UTF-8'"
        ) from None
    return text, (
        "the file is not UTF-8: it was read as Windows-1258 (a CSV saved by Excel on "
        "Vietnamese Windows); check the names below, or save it as 'CSV UTF-8'"
    )


def _csv_book(data: bytes) -> Book:
    text, notice = decode_text(data)
    if "\x00" in text:
        raise SheetError("the file holds NUL characters: it is not a CSV text file")
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)

    def records() -> Iterator[tuple[int, list[Any]]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        try:
            yield from enumerate(reader, start=1)
        except csv.Error as exc:
            raise SheetError(f"not a well-formed CSV file ({exc})") from None

    head = []
    for n, row in records():
        if n > 20:
            break
        head.append((n, row))

    def stream(width: int, after: int) -> Iterator[tuple[int, list[Any]]]:
        for n, row in records():
            if n > after:
                yield n, row[:width]

    return Book([Sheet(None, head, stream)], [notice] if notice else [])


# -- XLSX ---------------------------------------------------------------------------------------
def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def _split_ref(ref: str) -> tuple[int, int] | None:
    """Return (row, column) of "B12", both from 1; None when it is not a cell reference."""
    letters = ref.rstrip("0123456789").upper()
    digits = ref[len(letters) :]
    if not letters.isalpha() or not letters.isascii() or not digits.isdigit() or len(letters) > 3:
        return None
    return int(digits), _col_index(letters)


def _defused(exc: BaseException | None) -> bool:
    """Tell whether defusedxml refused something behind `exc` (openpyxl wraps its errors)."""
    import defusedxml

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, defusedxml.DefusedXmlException):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _refused_entities(exc: Exception) -> SheetError:
    return SheetError(
        "the workbook declares XML entities (a DTD), which no spreadsheet needs: it is "
        f"refused as unsafe ({type(exc).__name__})"
    )


def _check_sizes(zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        name = info.filename.lower()
        limit = SHEET_XML_MAX if name.startswith("xl/worksheets/") else PART_XML_MAX
        if name.endswith((".xml", ".rels")) and info.file_size > limit:
            raise SheetError(
                f"the workbook part {info.filename} unpacks to {info.file_size // (1024 * 1024)} "
                f"MB, more than a status list needs ({limit // (1024 * 1024)} MB at most); "
                "it is refused"
            )


_PROLOG_END = re.compile(rb"<[A-Za-z_]")


def _refuse_dtd(zf: zipfile.ZipFile, path: str) -> None:
    """Refuse a part whose prolog declares a DTD (entities can only be declared there).

    This pass parses with Python's C expat, fast; the declaration is refused before expat
    sees it, as openpyxl (through defusedxml) refuses it too.
    """
    with zf.open(path) as src:
        head = src.read(1 << 20)
    start = _PROLOG_END.search(head)
    prolog = head[: start.start()] if start else head
    if b"<!DOCTYPE" in prolog.upper() or b"<!ENTITY" in prolog.upper() or start is None:
        raise SheetError(
            f"the workbook part {path} declares XML entities (a DTD), which no spreadsheet "
            "needs: it is refused as unsafe"
        )


@dataclass
class _Scan:
    """What one pass over a worksheet's XML found (before openpyxl reads it)."""

    merges: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    formulas: set[tuple[int, int]] = field(default_factory=set)


def _scan(zf: zipfile.ZipFile, path: str, title: str) -> _Scan:
    """Stream a worksheet's XML once: refuse a sheet with more rows or cells than a status
    list can have, and find its vertical merges and formulas without values.

    openpyxl keeps an emptied element for every row it has read, so a sheet of millions of
    empty rows would cost gigabytes there: it is refused here first, when this pass has kept
    at most `MAX_SHEET_ROWS` such elements (some 15 MB).
    """
    from xml.etree.ElementTree import iterparse  # the C parser: no DTD can reach it

    _refuse_dtd(zf, path)
    found = _Scan()
    n_merges = rows = cells = row_cells = 0
    with zf.open(path) as src:
        for _event, elem in iterparse(src, events=("end",)):
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag == "c":
                cells += 1
                row_cells += 1
                if row_cells > MAX_ROW_CELLS or cells > MAX_SHEET_CELLS:
                    raise SheetError(
                        f"the worksheet {title} has more cells than a status list needs "
                        f"(at most {MAX_SHEET_CELLS:,}, {MAX_ROW_CELLS:,} in a row); "
                        "it is refused"
                    )
                if len(elem) < 1:
                    continue
                f = v = None
                for child in elem:
                    t = child.tag.rsplit("}", 1)[-1]
                    if t == "f":
                        f = child
                    elif t in ("v", "is"):
                        v = child
                if f is None or len(found.formulas) >= MAX_FORMULA_CELLS:
                    continue
                vtag = v.tag.rsplit("}", 1)[-1] if v is not None else None
                if v is None or (vtag == "v" and not (v.text or "").strip()):
                    where = _split_ref(elem.get("r", ""))
                    if where and where[1] <= MAX_COLUMNS:
                        found.formulas.add(where)
            elif tag == "row":
                rows += 1
                row_cells = 0
                if rows > MAX_SHEET_ROWS:
                    raise SheetError(
                        f"the worksheet {title} has more than {MAX_SHEET_ROWS:,} rows "
                        "(empty ones included): delete the empty rows below the list, or "
                        "save the list in a new workbook"
                    )
                elem.clear()  # an emptied row stays behind: at most MAX_SHEET_ROWS of them
            elif tag == "mergeCell" and n_merges < MAX_MERGES:
                ref = elem.get("ref", "")
                if ":" in ref:
                    a, b = (_split_ref(x) for x in ref.split(":", 1))
                    if a and b and b[0] > a[0] and a[1] <= MAX_COLUMNS:
                        found.merges.setdefault(a[0], []).append((a[1], b[0]))
                        n_merges += 1
                elem.clear()
    return found


def _xlsx_book(data: bytes) -> Book:
    import defusedxml
    import openpyxl

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        _check_sizes(zf)
        parts = [
            n
            for n in zf.namelist()
            if n.startswith("xl/worksheets/") and n.endswith(".xml") and n.count("/") == 2
        ]
        if len(parts) > MAX_SHEETS:
            raise SheetError(f"the workbook has {len(parts)} sheets; at most {MAX_SHEETS} are read")
        scans = {p: _scan(zf, p, p) for p in parts}
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except defusedxml.DefusedXmlException as exc:
        raise _refused_entities(exc) from None
    except SheetError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl reports a damaged file many ways
        if _defused(exc):
            raise _refused_entities(exc) from None
        raise SheetError(f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None

    def close() -> None:
        wb.close()
        zf.close()

    sheets = []
    try:
        for ws in wb.worksheets:
            path = str(getattr(ws, "_worksheet_path", "")).lstrip("/")
            sheets.append(_xlsx_sheet(ws, scans.get(path, _Scan())))
    except SheetError:
        close()
        raise
    return Book(sheets, [], close)


def _values(ws) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Yield (row number, values) of a read-only worksheet, its declared size ignored."""
    import defusedxml

    ws.reset_dimensions()  # a sheet declaring A1:XFD1048576 costs only its real cells
    try:
        yield from enumerate(ws.iter_rows(values_only=True), start=1)
    except defusedxml.DefusedXmlException as exc:
        raise _refused_entities(exc) from None
    except Exception as exc:  # noqa: BLE001
        if _defused(exc):
            raise _refused_entities(exc) from None
        raise SheetError(
            f"sheet {ws.title!r} cannot be read ({type(exc).__name__}: {exc})"
        ) from None


def _xlsx_sheet(ws, scan: _Scan) -> Sheet:
    head = []
    rows = _values(ws)
    try:
        for n, values in rows:
            if n > 20:
                break
            head.append((n, list(values[:MAX_COLUMNS])))
    finally:
        rows.close()  # closes the sheet's XML stream now, not when collected

    def stream(width: int, after: int) -> Iterator[tuple[int, list[Any]]]:
        merges = {
            r: [(c, last) for c, last in found if c <= width] for r, found in scan.merges.items()
        }
        formulas = {(r, c) for r, c in scan.formulas if c <= width}
        carry: dict[int, tuple[Any, int]] = {}  # column → (value, last row it covers)
        for n, values in _values(ws):
            row = list(values[:width])
            if len(row) < width:
                row.extend([None] * (width - len(row)))
            for col, last in merges.get(n, ()):
                if n > after:
                    carry[col] = (row[col - 1], last)
            for col, (value, last) in list(carry.items()):
                if n > last:
                    del carry[col]
                elif row[col - 1] is None:
                    row[col - 1] = value
            if formulas:
                for col in range(1, width + 1):
                    if row[col - 1] is None and (n, col) in formulas:
                        row[col - 1] = NO_VALUE
            if n > after:
                yield n, row

    return Sheet(ws.title, head, stream)
