"""`geo-app export`: briefing maps and packs, from the one export registry
(`geo_app.outputs.registry`) the web's ``/export/...`` routes come from too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from geo_app.errors import GeoAppError
from geo_app.outputs import printmap, registry


@click.group("export")
def export_group() -> None:
    """Briefing maps and packs (PNG, PDF, SVG), drawn on the server without a browser."""


def _export_options(fn):
    fn = programme_option(fn)
    fn = click.option(
        "--since", default=None, help="YYYY-MM-DD: mark the units that changed since that day."
    )(fn)
    fn = click.option("--marking", default=None, help="Marking (default: LƯU HÀNH NỘI BỘ).")(fn)
    fn = click.option("--title", default=None, help="Title (default: the programme's).")(fn)
    fn = click.option("--lang", default=None, help="vi (default) or en.")(fn)
    fn = click.option("--orientation", default=None, help="landscape (default) or portrait.")(fn)
    fn = click.option("--paper", default=None, help="A4 (default), A3 or slide (16:9).")(fn)
    fn = click.option(
        "--area",
        "areas",
        multiple=True,
        help="Unit code(s), comma-separated or repeated: that area and its neighbours.",
    )(fn)
    return fn


def _export_params(**values: Any) -> dict[str, Any]:
    areas = values.pop("areas", ())
    params = {k: v for k, v in values.items() if v is not None}
    if areas:
        params["area"] = list(areas)
    return params


def _export(ctx: Context, name: str, out: Path, params: dict[str, Any]):
    """Parse, draw and write one print export; return its options and what it was drawn from."""
    output = registry.get(name)
    options = output.parse(params, printmap.format_of(out))
    if options.since is not None and options.since > clock.today():
        raise GeoAppError(f"--since {options.since} is in the future")
    source = export_source(ctx, options.programme, display=True)
    write_atomically(out, output.render(source, options))
    ctx.store.audit_event("cli", f"export.{name}", "cli", out.name, {"format": options.fmt})
    return options, source


@export_group.command("map")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="FILE.png, .pdf or .svg"
)
@_export_options
@click.option("--dpi", default=None, help="Resolution of a PNG, 50 to 600 (default 300).")
@pass_ctx
def export_map(
    ctx: Context, out: Path, areas, paper, orientation, lang, title, marking, since, programme, dpi
):
    """Write the briefing map of the province (or of --area) as PNG, PDF or SVG."""
    params = _export_params(
        areas=areas,
        paper=paper,
        orientation=orientation,
        lang=lang,
        title=title,
        marking=marking,
        dpi=dpi,
        programme=programme,
        since=since,
    )
    try:
        options, _source = _export(ctx, "map", out, params)
    except GeoAppError as exc:
        fail(exc, False)
    extra = f", {options.pixels()[0]}×{options.pixels()[1]} px" if options.fmt == "png" else ""
    click.echo(f"{out}: {options.fmt.upper()} map, {options.paper} {options.orientation}{extra}")


@export_group.command("pack")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="FILE.pdf")
@_export_options
@pass_ctx
def export_pack(
    ctx: Context, out: Path, areas, paper, orientation, lang, title, marking, since, programme
):
    """Write the briefing pack: the province, then a page per listed unit (or per --area)."""
    params = _export_params(
        areas=areas,
        paper=paper,
        orientation=orientation,
        lang=lang,
        title=title,
        marking=marking,
        programme=programme,
        since=since,
    )
    try:
        options, source = _export(ctx, "pack", out, params)
    except GeoAppError as exc:
        fail(exc, False)
    pages = printmap.page_count(source.map_data(options, tables=True), options)
    click.echo(f"{out}: briefing pack, {pages} pages")
