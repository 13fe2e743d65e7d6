"""The records as a spreadsheet (CSV or XLSX) with the import's headers, so it round-trips."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geo_app.core import programme as programmes
from geo_app.errors import BadRequest
from geo_app.io.importer import UnitRef, headers


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


def write_export(rows: list[list[str]], out: str | Path) -> None:
    """Write export rows to a .csv (UTF-8 with BOM, for Excel) or .xlsx path."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows(rows)
    elif suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "status"
        for r in rows:
            ws.append(r)
        wb.save(out)
    else:
        raise BadRequest(
            f"{out.name}: export to .csv or .xlsx (records) or .geojson, .gpkg, .zip (layer)"
        )
