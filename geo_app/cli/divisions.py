"""`geo-app divisions`: list divisions, load or derive crosswalks."""

from __future__ import annotations

import json
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


#: Pairs whose share is under this are listed for review: they may be slivers between two
#: makers' lines rather than a real part of the old unit.
REVIEW_SHARE = 0.25


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
@click.option(
    "--replace", is_flag=True, help="Replace a crosswalk loaded from a CSV (an official one)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the pairs as one JSON object.")
@pass_ctx
def divisions_overlay(
    ctx: Context, old: str, new: str | None, min_share: float, replace: bool, as_json: bool
) -> None:
    """Derive the crosswalk OLD → NEW from the polygons of both (when no CSV exists).

    Every pair is printed with its share (of the old unit's area); pairs under 25 % are listed
    for review. A crosswalk loaded from a CSV is replaced only with --replace.
    """
    new = new or ctx.settings["DIVISION"]
    try:
        official = [
            p
            for p in ctx.store.crosswalk_into(new)
            if p["old_division"] == old and p["method"] == "crosswalk"
        ]
        if official and not replace:
            raise GeoAppError(
                f"the crosswalk {old} → {new} was loaded from a CSV ({len(official)} pairs, "
                "an official list); deriving it from polygons would replace it: add --replace "
                "to do so"
            )
        pairs, how = division_service.overlay(ctx.store, old, new, ctx.settings, min_share)
        if not pairs:
            raise GeoAppError(
                f"no unit of {new} covers {min_share:.0%} of any unit of {old}: the two sets do "
                "not overlap (check their coordinate systems); nothing was saved"
            )
        covered = boundaries.coverage(
            division_service.polygons(ctx.store, new, ctx.settings),
            division_service.polygons(ctx.store, old, ctx.settings),
        )
        ctx.store.save_crosswalk(old, new, pairs, actor="cli", source="cli:overlay")
    except GeoAppError as exc:
        fail(exc, as_json)
    split = len({p["old_code"] for p in pairs if p["split"]})
    review = [p for p in pairs if p["share"] < REVIEW_SHARE]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": True,
                    "old": old,
                    "new": new,
                    "pairs": pairs,
                    "split": split,
                    "review": review,
                    "coverage": round(covered, 4),
                    "replaced_official": bool(official),
                    "computed_by": how,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for p in pairs:
        click.echo(
            f"  {old}:{p['old_code']} → {new}:{p['new_code']}  {p['share']:7.1%}"
            + ("  split" if p["split"] else "")
        )
    click.echo(f"crosswalk {old} → {new} by overlay ({how}): {len(pairs)} pairs, {split} split")
    if covered < boundaries.MIN_COVERAGE:
        click.echo(
            f"warning: {new} covers {covered:.0%} of the area of {old}: the two sets may sit in "
            "different places (a wrong coordinate system?); check the pairs before relying on "
            "them"
        )
    if review:
        click.echo(
            f"review: {len(review)} pair(s) cover between {min_share:.0%} and "
            f"{REVIEW_SHARE:.0%} of their old unit; each spreads the old unit's status into "
            "the new one (a sliver between two makers' lines?):"
        )
        for p in review:
            click.echo(f"  {old}:{p['old_code']} → {new}:{p['new_code']}  {p['share']:.1%}")
