"""`geo-app boundaries`: check, prepare and register boundary sets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from geo_app.cli.common import Context, Ticker, fail, pass_ctx
from geo_app.errors import GeoAppError
from geo_app.geodata import boundaries
from geo_app.geodata import divisions as division_service


def _field_options(fn):
    fn = click.option("--encoding", default=None, help="Encoding of a .dbf without .cpg.")(fn)
    fn = click.option("--kind-field", default=None, help="Attribute holding the kind.")(fn)
    fn = click.option("--name-field", default=None, help="Attribute holding the name.")(fn)
    fn = click.option("--code-field", default=None, help="Attribute holding the code.")(fn)
    return fn


def _fields(ctx: Context, code_field, name_field, kind_field) -> boundaries.FieldMap:
    base = boundaries.FieldMap.from_settings(ctx.settings)
    return boundaries.FieldMap(
        code_field or base.code, name_field or base.name, kind_field or base.kind
    )


@click.group("boundaries")
def boundaries_group() -> None:
    """Boundary sets."""


@boundaries_group.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_field_options
@pass_ctx
def boundaries_check(
    ctx: Context, path: Path, as_json: bool, code_field, name_field, kind_field, encoding
) -> None:
    """Validate a boundary file; exit 0 when usable, 1 when not."""
    fields = _fields(ctx, code_field, name_field, kind_field)
    out = division_service.check(
        path,
        fields,
        encoding or ctx.settings["ENCODING"] or None,
        reference=_reference(ctx, path),
    )
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{out['path']}: {out['features']} units, CRS {out['crs']}")
        for w in out["warnings"]:
            click.echo(f"  warning: {w}")
        for e in out["errors"]:
            click.echo(f"  error: {e}")
        click.echo("usable" if out["usable"] else "NOT usable")
    sys.exit(0 if out["usable"] else 1)


@boundaries_group.command("prepare")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@_field_options
@pass_ctx
def boundaries_prepare(
    ctx: Context, path: Path | None, code_field, name_field, kind_field, encoding
) -> None:
    """Make the display geometry of a boundary set and keep it in the store (and the cache).

    Without PATH: the current division's set in force (GEO_APP_BOUNDARIES, imported into the
    store at its first use).
    """
    s = ctx.settings
    ticker = Ticker()
    try:
        if path is None and not (code_field or name_field or kind_field or encoding):
            display = boundaries.active_display(ctx.store, s, ticker, compute=True)
        else:
            display = boundaries.prepare(
                path or s["BOUNDARIES"],
                s["CACHE_DIR"],
                _fields(ctx, code_field, name_field, kind_field),
                encoding or s["ENCODING"] or None,
                s["GAP_WIDTH_M"],
                s["SIMPLIFY_M"],
                ticker,
                store=ctx.store if ctx.store.schema_revision() else None,
            )
    except GeoAppError as exc:
        ticker.close()
        fail(exc, False)
    ticker.close()
    st = display.stats
    click.echo(
        f"{len(display.units)} units ready for display "
        f"({st['vertices_source']} → {st['vertices_display']} vertices)"
    )


def _reference(ctx: Context, path: Path):
    """Return the current division's units, to compare a boundary set with (None when the
    configured set cannot be read, or is the very file checked)."""
    configured = Path(ctx.settings["BOUNDARIES"])
    try:
        if path.resolve() == configured.resolve():
            return None
        return boundaries.load(
            configured,
            boundaries.FieldMap.from_settings(ctx.settings),
            ctx.settings["ENCODING"] or None,
        ).units
    except (GeoAppError, OSError):
        return None


def date_option(value: str | None, name: str):
    from geo_app.core.records import parse_date

    try:
        return parse_date(value)
    except ValueError as exc:
        raise GeoAppError(f"{name}: {exc}") from None


@boundaries_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", "name", required=True, help="Name of the division, e.g. 2026.")
@click.option("--valid-from", required=True, help="First day in force (YYYY-MM-DD).")
@click.option("--valid-to", default=None, help="Last day in force, if over.")
@click.option("--source", default="", help="Where the file comes from (decision, supplier).")
@click.option("--replace", is_flag=True, help="Replace a division of that name.")
@_field_options
@pass_ctx
def boundaries_import(
    ctx: Context,
    path: Path,
    name: str,
    valid_from: str,
    valid_to,
    source,
    replace: bool,
    code_field,
    name_field,
    kind_field,
    encoding,
) -> None:
    """Register a boundary set as a division beside the others (file copied under instance/)."""
    s = ctx.settings
    ticker = Ticker()
    try:
        start = date_option(valid_from, "--valid-from")
        end = date_option(valid_to, "--valid-to")
        done = division_service.register(
            ctx.store,
            path,
            name,
            start,
            end,
            source,
            fields=_fields(ctx, code_field, name_field, kind_field),
            encoding=encoding or s["ENCODING"] or None,
            replace=replace,
            actor="cli",
            source_door="cli",
            dest_root=division_service.boundary_root(s),
            current=s["DIVISION"],
            progress=ticker,
            prepare_settings=s,
            reference=_reference(ctx, path),
        )
    except GeoAppError as exc:
        ticker.close()
        fail(exc, False)
    ticker.close()
    click.echo(f"division {name}: {done.units} units from {path.name}, in force from {start}")
