"""`geo-app export`: briefing maps and packs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from geo_app.cli.common import Context, fail, pass_ctx
from geo_app.errors import GeoAppError
from geo_app.geodata import boundaries
from geo_app.outputs import printmap
from geo_app.readmodel import ReadModel


@click.group("export")
def export_group() -> None:
    """Briefing maps and packs (PNG, PDF, SVG), drawn on the server without a browser."""


def _export_options(fn):
    fn = click.option("--marking", default=None, help="Marking (default: LƯU HÀNH NỘI BỘ).")(fn)
    fn = click.option("--title", default=None, help="Title (default: the standard one).")(fn)
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


def _export_data(ctx: Context) -> printmap.MapData:
    display = boundaries.prepare_from_settings(
        ctx.settings, progress=lambda m: click.echo(m, err=True), store=ctx.store
    )
    view = ReadModel(ctx.store, ctx.settings["DIVISION"]).view(list(display.units["code"]))
    return printmap.MapData(
        display.units, view, key=display.key, source=printmap.source_label(ctx.settings)
    )


def _export_params(**values: Any) -> dict[str, Any]:
    areas = values.pop("areas", ())
    params = {k: v for k, v in values.items() if v is not None}
    if areas:
        params["area"] = list(areas)
    return params


@export_group.command("map")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="FILE.png, .pdf or .svg"
)
@_export_options
@click.option("--dpi", default=None, help="Resolution of a PNG, 50 to 600 (default 300).")
@pass_ctx
def export_map(ctx: Context, out: Path, areas, paper, orientation, lang, title, marking, dpi):
    """Write the briefing map of the province (or of --area) as PNG, PDF or SVG."""
    try:
        options = printmap.parse_options(
            _export_params(
                areas=areas,
                paper=paper,
                orientation=orientation,
                lang=lang,
                title=title,
                marking=marking,
                dpi=dpi,
            ),
            printmap.format_of(out),
        )
        body = printmap.render_map(_export_data(ctx), options)
        _write_out(out, body)
    except GeoAppError as exc:
        fail(exc, False)
    extra = f", {options.pixels()[0]}×{options.pixels()[1]} px" if options.fmt == "png" else ""
    click.echo(f"{out}: {options.fmt.upper()} map, {options.paper} {options.orientation}{extra}")


@export_group.command("pack")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="FILE.pdf")
@_export_options
@pass_ctx
def export_pack(ctx: Context, out: Path, areas, paper, orientation, lang, title, marking):
    """Write the briefing pack: the province, then a page per listed unit (or per --area)."""
    try:
        fmt = printmap.format_of(out)
        options = printmap.parse_options(
            _export_params(
                areas=areas,
                paper=paper,
                orientation=orientation,
                lang=lang,
                title=title,
                marking=marking,
            ),
            fmt,
        )
        data = _export_data(ctx)
        body = printmap.render_pack(data, options)
        _write_out(out, body)
    except GeoAppError as exc:
        fail(exc, False)
    pages = 1 + len(printmap.pack_codes(data, options))
    click.echo(f"{out}: briefing pack, {pages} pages")


def _write_out(out: Path, body: bytes) -> None:
    try:
        out.write_bytes(body)
    except OSError as exc:
        raise GeoAppError(f"{out}: cannot be written ({exc.strerror})") from None
