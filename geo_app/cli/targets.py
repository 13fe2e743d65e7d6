"""`geo-app targets`: import and export the units' targets (chỉ tiêu)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geo_app.cli.common import (
    Context,
    export_source,
    fail,
    pass_ctx,
    programme_option,
    write_atomically,
)
from geo_app.core import programme as programmes
from geo_app.errors import GeoAppError
from geo_app.io import targets as targets_io
from geo_app.outputs import registry


@click.group("targets")
def targets_group() -> None:
    """The units' targets (chỉ tiêu): a checklist per listed unit."""


@targets_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@programme_option
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def targets_import(
    ctx: Context, file: Path, programme: str | None, dry_run: bool, as_json: bool
) -> None:
    """Import targets (code,target,due_on,met_on,note) from a CSV or XLSX file: all, or none."""
    try:
        prog = programmes.get(programme)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise GeoAppError(f"{file}: cannot be read ({exc.strerror})") from None
        source = export_source(ctx, prog.code, display=False)
        view = source.view
        result = targets_io.run_import(
            ctx.store,
            data,
            file.name,
            ctx.units(),
            view.targets,
            set(view.listed),
            ctx.settings["DIVISION"],
            prog.code,
            actor="cli",
            dry_run=dry_run,
        )
    except GeoAppError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    verb = "would be" if dry_run else "were"
    click.echo(
        f"{file.name}: {result.rows} rows; {result.added} targets {verb} added, "
        f"{result.updated} updated, {result.unchanged} unchanged"
    )


@targets_group.command("export")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="FILE.csv or FILE.xlsx")
@programme_option
@pass_ctx
def targets_export(ctx: Context, out: Path, programme: str | None) -> None:
    """Export every unit's targets with the import's headers (it imports back unchanged)."""
    try:
        fmt = out.suffix.lower().lstrip(".")
        output = registry.get("targets")
        if fmt not in output.formats:
            raise GeoAppError(f"{out.name}: export targets to .csv or .xlsx")
        options = output.parse({"programme": programme}, fmt)
        source = export_source(ctx, options.programme, display=False)
        write_atomically(out, output.render(source, options))
    except GeoAppError as exc:
        fail(exc, False)
    n = sum(len(t) for t in source.view.targets.values())
    click.echo(f"{n} targets of {len(source.view.targets)} units written to {out}")
