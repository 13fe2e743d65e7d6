"""`geo-app status`: import and export status records."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geo_app.cli.common import Context, fail, pass_ctx
from geo_app.errors import GeoAppError
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.outputs import gis, records
from geo_app.readmodel import ReadModel


@click.group()
def status() -> None:
    """Status records."""


@status.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the division has records.")
@click.option(
    "--division",
    default=None,
    help="Division the file's codes belong to (default: the current one).",
)
@click.option(
    "--correct",
    is_flag=True,
    help="The file corrects history: its dates may go before the units' last changes.",
)
@click.option(
    "--sheet",
    default=None,
    help="Sheet of a workbook to read (default: the first whose header matches).",
)
@pass_ctx
def status_import(
    ctx: Context,
    file: Path,
    dry_run: bool,
    as_json: bool,
    if_empty: bool,
    division: str | None,
    correct: bool,
    sheet: str | None,
) -> None:
    """Import status records from a CSV (UTF-8) or XLSX file: all rows, or none.

    Each row's status takes effect on its status_since date, else on the best date the row
    gives (transformed_on, designated_on), else on the day of the import (today in the app's
    time zone).
    """
    try:
        if if_empty and ctx.store.records(division or ctx.settings["DIVISION"]):
            click.echo(f"the division already has records; {file.name} not imported")
            return
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise GeoAppError(f"{file}: cannot be read ({exc.strerror})") from None
        result = importer.run_import(
            ctx.store,
            data,
            file.name,
            ctx.units(division),
            division or ctx.settings["DIVISION"],
            actor="cli",
            dry_run=dry_run,
            correct=correct,
            sheet=sheet,
            max_rows=ctx.settings["IMPORT_MAX_ROWS"],
            other_divisions=lambda: ctx.other_division_codes(division),
        )
    except GeoAppError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    verb = "would be" if dry_run else "were"
    click.echo(
        f"{file.name}: {result.rows} rows; {result.created} records {verb} created, "
        f"{result.updated} updated, {result.corrected} corrected, {result.unchanged} unchanged"
        + (" (sample data)" if result.sample else "")
    )
    for w in result.warnings:
        click.echo(f"  warning: {w}")
    for n in result.notices:
        click.echo(f"  notice: {n}")


@status.command("export")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="FILE.csv or FILE.xlsx (records), FILE.geojson, FILE.gpkg or FILE.zip (the joined "
    "layer; .zip is a zipped Shapefile)",
)
@pass_ctx
def status_export(ctx: Context, out: Path) -> None:
    """Export every record (CSV/XLSX, the import's headers) or the joined layer (GIS files)."""
    reader = ReadModel(ctx.store, ctx.settings["DIVISION"])
    try:
        suffix = out.suffix.lower()
        if suffix in gis.LAYER_FORMATS:
            units = boundaries.load(
                ctx.settings["BOUNDARIES"],
                boundaries.FieldMap.from_settings(ctx.settings),
                ctx.settings["ENCODING"] or None,
            ).units
            frame = gis.layer_frame(units, reader.standing())
            data = gis.layer_bytes(frame, suffix)
            tmp = out.with_name(out.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(out)
            click.echo(f"{len(frame)} units with their status written to {out}")
            return
        rows = records.export_rows(ctx.units(), reader.standing().records)
        records.write_export(rows, out)
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"{len(rows) - 1} records written to {out}")
