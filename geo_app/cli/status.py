"""`geo-app status`: import and export status records."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from geo_app import clock
from geo_app.cli.common import (
    Context,
    export_source,
    fail,
    pass_ctx,
    programme_option,
    write_atomically,
)
from geo_app.core import programme as programmes
from geo_app.core.changes import ChangeRefused, check_repair
from geo_app.core.names import full_name
from geo_app.core.records import Record, parse_date
from geo_app.errors import GeoAppError
from geo_app.io import importer
from geo_app.outputs import registry
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
@programme_option
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
    programme: str | None,
) -> None:
    """Import status records from a CSV (UTF-8) or XLSX file: all rows, or none.

    Each row's status takes effect on its status_since date, else on the best date the row
    gives (transformed_on, designated_on), else on the day of the import (today in the app's
    time zone).
    """
    try:
        prog = programmes.get(programme)
        if if_empty and ctx.store.records(division or ctx.settings["DIVISION"], prog.code):
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
            programme=programme,
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
@programme_option
@pass_ctx
def status_export(ctx: Context, out: Path, programme: str | None) -> None:
    """Export every record (CSV/XLSX, the import's headers) or the joined layer (GIS files)."""
    try:
        fmt = out.suffix.lower().lstrip(".")
        output = registry.by_format("data", fmt)
        options = output.parse({"programme": programme}, fmt)
        source = export_source(ctx, options.programme, display=False)
        write_atomically(out, output.render(source, options))
        ctx.store.audit_event("cli", "export.download", "cli", out.name, {"format": fmt})
    except GeoAppError as exc:
        fail(exc, False)
    if output.name == "layer":
        click.echo(f"{len(source.units)} units with their status written to {out}")
    else:
        click.echo(f"{len(source.view.standing.records)} records written to {out}")


@status.command("show")
@click.argument("code")
@click.option("--as-of", "as_of", default=None, help="YYYY-MM-DD: the record in force that day.")
@programme_option
@click.option("--lang", default="vi", type=click.Choice(["vi", "en"]), help="Language.")
@click.option("--json", "as_json", is_flag=True, help="Print the details as JSON.")
@pass_ctx
def status_show(
    ctx: Context, code: str, as_of: str | None, programme: str | None, lang: str, as_json: bool
) -> None:
    """Show one unit's status, record, former units and history, as the map's panel does."""
    try:
        prog = programmes.get(programme)
        day = parse_date(as_of) if as_of else None
        if day is not None and day > clock.today():
            raise GeoAppError(f"--as-of {day.isoformat()} is in the future")
        unit = {u.code: u for u in ctx.units()}.get(code)
        if unit is None:
            raise GeoAppError(f"no unit with code {code!r} in the boundary set")
        reader = ReadModel(ctx.store, ctx.settings["DIVISION"])
        ref = {"code": unit.code, "name": unit.name, "kind": unit.kind}
        details = reader.details(ref, day, prog.code, lang)
    except ValueError as exc:
        fail(GeoAppError(f"--as-of: {exc}"), as_json)
    except GeoAppError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps(details, ensure_ascii=False, indent=2))
        return
    when = f" — {details['as_of']}" if details["as_of"] else ""
    click.echo(f"{full_name(unit.kind, unit.name)} ({unit.code}) — {prog.name(lang)}{when}")
    click.echo(f"  {details['status_label']} ({details['status']})")
    if details["own_status"] != details["status"]:
        click.echo(f"  own record: {details['own_status_label']} ({details['own_status']})")
    rec = details["record"]
    if rec:
        for f in prog.fields:
            value = rec["display"].get(f.name) if f.type == "date" else rec.get(f.name)
            if f.type in ("list", "number"):
                value = f.to_text(value)
            click.echo(f"  {f.label(lang)}: {value if value not in (None, '') else '—'}")
        if rec.get("sample"):
            click.echo("  (sample data)")
    for f in details["former"]:
        split = ", split" if f["split"] else ""
        click.echo(f"  former {f['division']}:{f['code']} {f['name']}: {f['status_label']}{split}")
    for h in details["history"]:
        change = h["new_status_label"]
        if h["old_status_label"] and h["old_status"] != h["new_status"]:
            change = f"{h['old_status_label']} → {change}"
        note = f" — {h['note']}" if h["note"] else ""
        click.echo(
            f"  {h['effective_on_display']}  {change}  ({h['source']}, {h['actor']}, "
            f"{h['changed_at_display']}){note}"
        )


@status.command("programmes")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@click.option("--lang", default="vi", type=click.Choice(["vi", "en"]), help="Language.")
def status_programmes(as_json: bool, lang: str) -> None:
    """List the programmes: code, name, statuses and fields."""
    Context()  # reads the settings and the programme definitions
    found = [p.describe(lang) for p in programmes.all_programmes()]
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    for p in found:
        click.echo(f"{p['code']:<10} {p['name']}")
        click.echo("  statuses: " + ", ".join(f"{s['code']} ({s['label']})" for s in p["statuses"]))
        click.echo("  fields: " + ", ".join(f"{f['name']} ({f['type']})" for f in p["fields"]))


@status.command("history")
@click.argument("code")
@programme_option
@click.option("--division", default=None, help="Division of the unit (default: the current one).")
@pass_ctx
def status_history(ctx: Context, code: str, programme: str | None, division: str | None) -> None:
    """List a unit's history entries with their ids (to repair one with `status repair`)."""
    try:
        prog = programmes.get(programme)
        entries = ctx.store.history(division or ctx.settings["DIVISION"], code, prog.code)
    except GeoAppError as exc:
        fail(exc, False)
    if not entries:
        click.echo(f"unit {code} has no history in {prog.code}")
        return
    dated = [f.name for f in prog.fields if f.type == "date"]
    for h in entries:
        new = h["new"] or {}
        dates = ", ".join(f"{f}={new[f]}" for f in dated if new.get(f))
        click.echo(
            f"#{h['id']:<6} {h['effective_on']}  {h['new_status']:<12} {h['source']:<24} "
            f"{h['actor']:<12} {dates}"
        )


def _day_option(value: str, name: str) -> date | None:
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
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="FIELD=VALUE",
    help="A field of the record the entry leaves (repeatable; an empty VALUE clears it), "
    "e.g. --set designated_on=2024-03-01.",
)
@programme_option
@click.option("--division", default=None, help="Division of the unit (default: the current one).")
@pass_ctx
def status_repair(
    ctx: Context,
    code: str,
    entry: int,
    note: str,
    effective_on: str | None,
    new_status: str | None,
    assignments: tuple[str, ...],
    programme: str | None,
    division: str | None,
) -> None:
    """Repair one history entry of a unit damaged by an impossible date (audited).

    What is not given keeps the entry's value. The unit's current record becomes its latest
    entry by (effective_on, id). `geo-app status history CODE` lists the entries' ids.
    """
    division = division or ctx.settings["DIVISION"]
    try:
        prog = programmes.get(programme)
        if not note.strip():
            raise GeoAppError("--note is required: say why the entry is repaired")
        history = ctx.store.history(division, code, prog.code)
        found = next((h for h in history if h["id"] == entry), None)
        if found is None:
            raise GeoAppError(f"unit {code} has no history entry {entry} in {prog.code}")
        old = Record.from_content(
            {**(found["new"] or {"code": code}), "status": found["new_status"]}, prog.code
        )
        changes: dict[str, object] = {}
        for item in assignments:
            name, sep, value = item.partition("=")
            field = prog.by_field.get(name.strip())
            if not sep or field is None:
                raise GeoAppError(
                    f"--set {item!r}: use FIELD=VALUE with a field of {prog.code} "
                    f"({', '.join(prog.by_field)})"
                )
            try:
                changes[field.name] = field.clean(value)
            except ValueError as exc:
                raise GeoAppError(f"--set {field.name}: {value!r} is {exc}") from None
        status_code = new_status.strip() if new_status is not None else old.status
        if status_code not in prog.by_code:
            raise GeoAppError(
                f"--status: {status_code!r} is not a status of {prog.code} "
                f"({', '.join(prog.by_code)})"
            )
        day = (
            _day_option(effective_on, "effective-on")
            if effective_on
            else date.fromisoformat(found["effective_on"])
        )
        if day is None:
            raise GeoAppError("--effective-on: give a day")
        record = old.replace(status=status_code, division=division, **changes)
        try:
            check_repair(day, record, today=clock.today())
        except ChangeRefused as exc:
            raise GeoAppError(exc.text("en")) from None
        ctx.store.repair_history(division, code, entry, day, record, note.strip(), "cli", "cli")
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"history entry {entry} of {code} repaired: {day} {status_code}")
