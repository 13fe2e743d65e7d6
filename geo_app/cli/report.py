"""`geo-app report`: what changed between two dates, as a spreadsheet."""

from __future__ import annotations

import tempfile
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
from geo_app.core.records import parse_date
from geo_app.errors import GeoAppError
from geo_app.outputs import records
from geo_app.readmodel import ReadModel

#: The columns of the changes report (`GET /api/changes` gives the same fields).
HEADERS = (
    "code",
    "name",
    "kind",
    "change",
    "status_before",
    "status_after",
    "deadline_before",
    "deadline_after",
    "date",
    "source",
    "actor",
)


@click.group("report")
def report_group() -> None:
    """Reports for review conferences."""


@report_group.command("changes")
@click.option("--from", "start", required=True, help="First day of the period (YYYY-MM-DD).")
@click.option("--to", "end", default=None, help="Last day of the period (default: today).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="FILE.csv or FILE.xlsx")
@programme_option
@pass_ctx
def report_changes(ctx: Context, start: str, end: str | None, out: Path, programme: str | None):
    """Write every unit whose drawn status or deadline state changed in the period."""
    try:
        prog = programmes.get(programme)
        try:
            first = parse_date(start)
            last = parse_date(end) if end else clock.today()
        except ValueError as exc:
            raise GeoAppError(f"--from/--to: {exc}") from None
        if first is None or first > last:
            raise GeoAppError(f"--from ({start}) must be a day not after --to ({last})")
        if last > clock.today():
            raise GeoAppError(f"--to ({last}) is in the future")
        if out.suffix.lower() not in (".csv", ".xlsx"):
            raise GeoAppError(f"{out.name}: write the report to .csv or .xlsx")
        source = export_source(ctx, prog.code, display=False)
        units = [
            {"code": c, "name": n, "kind": k}
            for c, n, k in zip(
                source.units["code"], source.units["name"], source.units["kind"], strict=True
            )
        ]
        found = ReadModel(ctx.store, ctx.settings["DIVISION"]).changes(
            units, first, last, prog.code
        )
        rows = [list(HEADERS)] + [
            [str(e[h] if e[h] is not None else "") for h in HEADERS] for e in found["changes"]
        ]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"changes{out.suffix.lower()}"
            records.write_export(rows, path)
            write_atomically(out, path.read_bytes())
    except GeoAppError as exc:
        fail(exc, False)
    counts = ", ".join(f"{k} {n}" for k, n in sorted(found["counts"].items())) or "none"
    click.echo(f"{len(rows) - 1} changed units from {first} to {last} ({counts}) written to {out}")
