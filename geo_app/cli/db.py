"""`geo-app db`: the schema, backups and restores."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from geo_app.cli.common import Context, fail, pass_ctx
from geo_app.errors import GeoAppError


@click.group()
def db() -> None:
    """The status database."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    try:
        ctx.store.upgrade()
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"database schema is current ({ctx.store.display_url()})")


@db.command("backup")
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="FILE.json or FILE.json.gz"
)
@pass_ctx
def db_backup(ctx: Context, out: Path) -> None:
    """Write every table to one JSON file (gzip when it ends in .gz), consistently."""
    import gzip

    try:
        data = json.dumps(ctx.store.backup(), ensure_ascii=False).encode("utf-8")
    except GeoAppError as exc:
        fail(exc, False)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(gzip.compress(data) if out.suffix == ".gz" else data)
    tmp.replace(out)  # never leaves half a backup under the final name
    click.echo(f"backup written to {out}")


@db.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def db_restore(ctx: Context, file: Path, yes: bool) -> None:
    """Replace the whole database with a backup, in one transaction."""
    import gzip

    try:
        try:
            raw = file.read_bytes()
            data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        except OSError as exc:
            raise GeoAppError(f"{file}: cannot be read ({exc})") from None
        except (ValueError, EOFError) as exc:
            raise GeoAppError(f"{file}: not a geo-app backup file ({exc})") from None
        if not yes and sys.stdin.isatty():
            click.confirm("This replaces every record, user and audit entry. Go on?", abort=True)
        counts = ctx.store.restore(data)
    except GeoAppError as exc:
        fail(exc, False)
    click.echo("restored: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
