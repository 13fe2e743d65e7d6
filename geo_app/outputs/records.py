"""The records as a spreadsheet (CSV or XLSX) with the import's headers, so it round-trips.

Every spreadsheet the app writes is safe to open: a text that a user typed (a note, a unit's
name...) never becomes a formula. In an XLSX, text cells are written as strings, never as
formulas. In a CSV, a cell that begins with ``= + - @``, a tab or a carriage return is prefixed
with a quote, as OWASP advises for CSV injection (`csv_safe`); the import takes the quote off
again (`geo_app.io.importer`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from geo_app.errors import BadRequest
from geo_app.io.importer import FORMULA_PREFIX, FORMULA_START, HEADERS, UnitRef


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


def export_rows(units: Sequence[UnitRef], records: Mapping[str, Any]) -> list[list[str]]:
    """Return the header and one row per record, in unit-code order, for CSV or XLSX.

    Parameters
    ----------
    units:
        The units records may name (for their name and kind).
    records:
        Stored records by code (`geo_app.readmodel.View.standing.records`).
    """
    by_code = {u.code: u for u in units}
    rows: list[list[str]] = [list(HEADERS)]
    for code, stored in sorted(records.items()):
        rec = stored.record
        unit = by_code.get(code)
        rows.append(
            [
                code,
                unit.name if unit else "",
                unit.kind if unit else "",
                rec.status,
                rec.designated_on.isoformat() if rec.designated_on else "",
                rec.target_on.isoformat() if rec.target_on else "",
                rec.transformed_on.isoformat() if rec.transformed_on else "",
                rec.unit,
                "; ".join(rec.problems),
                rec.notes,
            ]
        )
    return rows


def write_export(rows: list[list[str]], out: str | Path) -> None:
    """Write export rows to a .csv (UTF-8 with BOM, for Excel) or .xlsx path."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            write_csv(fh, rows)
    elif suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "status"
        for i, r in enumerate(rows, start=1):
            for j, value in enumerate(r, start=1):
                cell = ws.cell(row=i, column=j, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text, even "=HYPERLINK(...)": never a formula
        wb.save(out)
    else:
        raise BadRequest(
            f"{out.name}: export to .csv or .xlsx (records) or .geojson, .gpkg, .zip (layer)"
        )
