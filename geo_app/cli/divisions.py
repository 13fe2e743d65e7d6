"""`geo-app divisions`: list divisions, load or derive crosswalks."""

from __future__ import annotations

from pathlib import Path

import click

from geo_app.cli.boundaries import date_option
from geo_app.cli.common import Context, fail, pass_ctx
from geo_app.errors import GeoAppError
from geo_app.geodata import boundaries
from geo_app.geodata import divisions as division_service


@click.group()
def divisions() -> None:
    """Administrative divisions and the crosswalks between them."""


@divisions.command("list")
@pass_ctx
def divisions_list(ctx: Context) -> None:
    """List the divisions: the current one (configured) and those registered."""
    try:
        rows = ctx.store.divisions()
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"{ctx.settings['DIVISION']:<10} current  {ctx.settings['BOUNDARIES']}")
    for d in rows:
        period = f"{d['valid_from'] or '…'} → {d['valid_to'] or '…'}"
        click.echo(f"{d['name']:<10} {d['units']:>5} units  {period}  {d['source']}")


@divisions.command("crosswalk")
@click.argument("csv_path", type=click.Path(path_type=Path))
@click.option("--old", "old", required=True, help="Name of the old division, e.g. 2024.")
@click.option("--new", "new", default=None, help="Name of the new one (default: current).")
@click.option("--valid-from", default=None, help="First day the old division was in force.")
@click.option("--valid-to", default=None, help="Last day the old division was in force.")
@pass_ctx
def divisions_crosswalk(
    ctx: Context, csv_path: Path, old: str, new: str | None, valid_from, valid_to
) -> None:
    """Load an old → new crosswalk CSV; the old division's units come from it."""
    new = new or ctx.settings["DIVISION"]
    try:
        start = date_option(valid_from, "--valid-from")
        end = date_option(valid_to, "--valid-to")
        new_units = [{"code": u.code, "name": u.name, "kind": u.kind} for u in ctx.units(new)]
        old_units, pairs = boundaries.read_crosswalk(csv_path, new_units)
        registered = {d["name"]: d for d in ctx.store.divisions()}
        key = ("old_code", "new_code", "split")
        current = {
            tuple(p[k] for k in key)
            for p in ctx.store.crosswalk_into(new)
            if p["old_division"] == old
        }
        if old in registered and current == {tuple(p[k] for k in key) for p in pairs}:
            click.echo(f"crosswalk {old} → {new} is already loaded; nothing changed")
            return
        if old not in registered or not registered[old]["boundary_path"]:
            ctx.store.save_division(
                old,
                old_units,
                valid_from=start,
                valid_to=end,
                source=f"crosswalk {csv_path.name}",
                actor="cli",
                replace=True,
            )
        ctx.store.save_crosswalk(old, new, pairs, actor="cli", source=f"cli:{csv_path.name}")
    except GeoAppError as exc:
        fail(exc, False)
    split = len({p["old_code"] for p in pairs if p["split"]})
    click.echo(
        f"crosswalk {old} → {new}: {len(old_units)} old units, {len(pairs)} pairs, {split} split"
    )


@divisions.command("overlay")
@click.argument("old")
@click.option("--new", "new", default=None, help="The new division (default: current).")
@click.option(
    "--min-share",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0.001, 1),
    help="Share of an old unit's area a new unit must cover to count.",
)
@pass_ctx
def divisions_overlay(ctx: Context, old: str, new: str | None, min_share: float) -> None:
    """Derive the crosswalk OLD → NEW from the polygons of both (when no CSV exists)."""
    new = new or ctx.settings["DIVISION"]
    try:
        pairs, how = division_service.overlay(ctx.store, old, new, ctx.settings, min_share)
        ctx.store.save_crosswalk(old, new, pairs, actor="cli", source="cli:overlay")
    except GeoAppError as exc:
        fail(exc, False)
    split = len({p["old_code"] for p in pairs if p["split"]})
    click.echo(f"crosswalk {old} → {new} by overlay ({how}): {len(pairs)} pairs, {split} split")
