"""`geo-app status`: import and export status records."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from geo_app import clock
from geo_app.cli.common import Context, fail, pass_ctx
from geo_app.core.changes import RECORD_DATES, ChangeRefused, check_repair
from geo_app.core.records import Record, parse_date, parse_status
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
@pass_ctx
def status_import(
    ctx: Context,
    file: Path,
    dry_run: bool,
    as_json: bool,
    if_empty: bool,
    division: str | None,
    correct: bool,
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
            ctx.store.audit_event("cli", "export.download", "cli", out.name, {"format": suffix})
            click.echo(f"{len(frame)} units with their status written to {out}")
            return
        rows = records.export_rows(ctx.units(), reader.standing().records)
        records.write_export(rows, out)
        ctx.store.audit_event("cli", "export.download", "cli", out.name, {"format": suffix})
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"{len(rows) - 1} records written to {out}")


@status.command("history")
@click.argument("code")
@click.option("--division", default=None, help="Division of the unit (default: the current one).")
@pass_ctx
def status_history(ctx: Context, code: str, division: str | None) -> None:
    """List a unit's history entries with their ids (to repair one with `status repair`)."""
    try:
        entries = ctx.store.history(division or ctx.settings["DIVISION"], code)
    except GeoAppError as exc:
        fail(exc, False)
    if not entries:
        click.echo(f"unit {code} has no history")
        return
    for h in entries:
        new = h["new"] or {}
        dates = ", ".join(f"{f}={new[f]}" for f in RECORD_DATES if new.get(f))
        click.echo(
            f"#{h['id']:<6} {h['effective_on']}  {h['new_status']:<12} {h['source']:<24} "
            f"{h['actor']:<12} {dates}"
        )


def _day_option(value: str | None, name: str) -> date | None:
    try:
        return parse_date(value)
    except ValueError as exc:
        raise GeoAppError(f"--{name}: {value!r} is {exc}") from None


@status.command("repair")
@click.argument("code")
@click.argument("entry", type=int)
@click.option("--note", required=True, help="Why the entry is repaired (kept in the audit).")
@click.option("--effective-on", "effective_on", help="The day the change took effect.")
@click.option("--status", "new_status", help="The status the entry records.")
@click.option("--designated-on", "designated_on", help="The record's designated_on ('' clears).")
@click.option("--target-on", "target_on", help="The record's target_on ('' clears).")
@click.option("--transformed-on", "transformed_on", help="The record's transformed_on ('' clears).")
@click.option("--division", default=None, help="Division of the unit (default: the current one).")
@pass_ctx
def status_repair(
    ctx: Context,
    code: str,
    entry: int,
    note: str,
    effective_on: str | None,
    new_status: str | None,
    designated_on: str | None,
    target_on: str | None,
    transformed_on: str | None,
    division: str | None,
) -> None:
    """Repair one history entry of a unit damaged by an impossible date (audited).

    What is not given keeps the entry's value. The unit's current record becomes its latest
    entry by (effective_on, id). `geo-app status history CODE` lists the entries' ids.
    """
    division = division or ctx.settings["DIVISION"]
    try:
        if not note.strip():
            raise GeoAppError("--note is required: say why the entry is repaired")
        found = next((h for h in ctx.store.history(division, code) if h["id"] == entry), None)
        if found is None:
            raise GeoAppError(f"unit {code} has no history entry {entry}")
        old = Record.from_content(found["new"] or {"code": code, "status": found["new_status"]})
        given = {
            "designated_on": designated_on,
            "target_on": target_on,
            "transformed_on": transformed_on,
        }
        values = {
            f: _day_option(v, f.replace("_", "-")) if v is not None else getattr(old, f)
            for f, v in given.items()
        }
        try:
            status_code = parse_status(new_status) if new_status is not None else old.status
        except ValueError as exc:
            raise GeoAppError(f"--status: {exc}") from None
        day = (
            _day_option(effective_on, "effective-on")
            if effective_on
            else date.fromisoformat(found["effective_on"])
        )
        record = Record(
            code=code,
            status=status_code,
            division=division,
            unit=old.unit,
            problems=list(old.problems),
            notes=old.notes,
            **values,
        )
        try:
            check_repair(day, record, today=clock.today())
        except ChangeRefused as exc:
            raise GeoAppError(exc.text("en")) from None
        ctx.store.repair_history(division, code, entry, day, record, note.strip(), "cli", "cli")
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"history entry {entry} of {code} repaired: {day} {status_code}")
