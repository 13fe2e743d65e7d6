"""The records as a spreadsheet (CSV or XLSX) with the import's headers, so it round-trips.

Every spreadsheet the app writes is safe to open: a text that a user typed (a note, a unit's
name...) never becomes a formula. In an XLSX, text cells are written as strings, never as
formulas. In a CSV, a cell that begins with ``= + - @``, a tab or a carriage return is prefixed
with a quote, as OWASP advises for CSV injection (`csv_safe`); the import takes the quote off
again (`geo_app.io.importer`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from geo_app.core import programme as programmes
from geo_app.errors import BadRequest
from geo_app.io.rows import FORMULA_PREFIX, FORMULA_START, UnitRef, headers


def csv_safe(value: Any) -> Any:
    """Return a CSV cell that no spreadsheet reads as a formula: text beginning with one of
    ``= + - @``, a tab or a carriage return gets a leading quote; anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return FORMULA_PREFIX + value
    return value


def write_csv(fh, rows: Iterable[Sequence[Any]]) -> None:
    """Write `rows` to the open text file `fh` as CSV, every cell made safe (`csv_safe`)."""
    writer = csv.writer(fh)
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])


def export_rows(
    units: Sequence[UnitRef], records: Mapping[str, Any], programme: str | None = None
) -> list[list[str]]:
    """Return the header and one row per record, in unit-code order, for CSV or XLSX.

    Parameters
    ----------
    units:
        The units records may name (for their name and kind).
    records:
        Stored records by code (`geo_app.readmodel.View.standing.records`).
    programme:
        Whose fields make the columns (the default programme when None).
    """
    prog = programmes.get(programme)
    by_code = {u.code: u for u in units}
    rows: list[list[str]] = [list(headers(prog))]
    for code, stored in sorted(records.items()):
        rec = stored.record
        unit = by_code.get(code)
        rows.append(
            [
                code,
                unit.name if unit else "",
                unit.kind if unit else "",
                rec.status,
                *(f.to_text(rec.get(f.name)) for f in prog.fields),
            ]
        )
    return rows


def spreadsheet_bytes(rows: Iterable[Sequence[Any]], fmt: str, sheet: str = "status") -> bytes:
    """Return `rows` as a CSV (UTF-8 with BOM, for Excel) or XLSX file, formulas neutralised."""
    if fmt == "csv":
        buf = io.StringIO()
        write_csv(buf, rows)
        return ("\ufeff" + buf.getvalue()).encode("utf-8")
    if fmt != "xlsx":
        raise BadRequest(f"no spreadsheet in format {fmt!r}; use csv or xlsx")
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for i, r in enumerate(rows, start=1):
        for j, value in enumerate(r, start=1):
            cell = ws.cell(row=i, column=j, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text, even "=HYPERLINK(...)": never a formula
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def write_export(rows: list[list[str]], out: str | Path) -> None:
    """Write export rows to a .csv (UTF-8 with BOM, for Excel) or .xlsx path."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise BadRequest(
            f"{out.name}: export to .csv or .xlsx (records) or .geojson, .gpkg, .zip (layer)"
        )
    out.write_bytes(spreadsheet_bytes(rows, suffix[1:]))
