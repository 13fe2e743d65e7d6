"""`geo-app doctor`: what this installation runs on, and what needs attention.

It reports the versions (Python, its expat, GDAL/PROJ/GEOS, the key packages), the settings
(secrets hidden), whether the database answers and at which schema revision, the services the
app relies on (boundary set, prepared display geometry, tiles) and the permissions of
instance/ and the SQLite file. Each line is ``ok``, ``warn`` (works, but should be looked at) or
``FAIL`` (does not work); the exit status is 1 when a line fails.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import pyexpat
import stat
import sys
from pathlib import Path

import click

from geo_app import config
from geo_app.cli.common import Context, pass_ctx
from geo_app.errors import GeoAppError, StoreUnavailable
from geo_app.geodata import boundaries

#: The expat release that fixed CVE-2024-8176 (a crash on deeply nested entity references).
EXPAT_FIXED = (2, 7, 0)
#: Packages whose versions matter when something goes wrong.
PACKAGES = (
    "Flask",
    "Flask-Login",
    "Flask-WTF",
    "SQLAlchemy",
    "alembic",
    "psycopg",
    "gunicorn",
    "openpyxl",
    "defusedxml",
    "geopandas",
    "folium",
    "matplotlib",
    "argon2-cffi",
    "zxcvbn",
)
#: Settings never printed: only whether they are set.
SECRET_SETTINGS = {"SECRET_KEY"}


class Report:
    def __init__(self) -> None:
        self.failed = 0
        self.warned = 0

    def section(self, title: str) -> None:
        click.echo(f"\n{title}")

    def line(self, level: str, text: str) -> None:
        if level == "FAIL":
            self.failed += 1
        elif level == "warn":
            self.warned += 1
        click.echo(f"  {level:<4}  {text}")


def expat_line() -> tuple[str, str]:
    """Return the level and text of the line about the Python's expat."""
    found = tuple(pyexpat.version_info)
    shown = ".".join(str(n) for n in found)
    if found < EXPAT_FIXED:
        return (
            "warn",
            f"expat {shown} (pyexpat.EXPAT_VERSION {pyexpat.EXPAT_VERSION}) is older than 2.7: "
            "it has CVE-2024-8176, a crash on deeply nested XML entities. Spreadsheets must be "
            "parsed with defusedxml; upgrade Python or the system's libexpat to 2.7 or newer.",
        )
    return "ok", f"expat {shown}"


def _versions(report: Report) -> None:
    report.section("Versions")
    report.line("ok", f"Python {platform.python_version()} ({sys.executable})")
    report.line(*expat_line())
    try:
        libs = boundaries.library_versions()
        report.line("ok", ", ".join(f"{k} {v}" for k, v in libs.items()))
    except Exception as exc:  # noqa: BLE001 - a broken library is what the doctor reports
        report.line("FAIL", f"geometry libraries: {type(exc).__name__}: {exc}")
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    report.line("ok", "; ".join(found))


def _settings(ctx: Context, report: Report) -> None:
    report.section("Settings")

    for s in config.SETTINGS:
        value = ctx.settings.get(s.key)
        origin = "environment" if os.environ.get(s.env) else "default"
        if s.key in SECRET_SETTINGS:
            shown = "(set, hidden)" if os.environ.get(s.env) else "(kept in instance/secret_key)"
        elif s.key == "DATABASE_URL":
            try:
                shown = ctx.store.display_url()
            except GeoAppError as exc:
                shown = f"(unusable: {exc.message})"
        else:
            shown = str(value)
        click.echo(f"  {s.env} = {shown}   [{origin}]")


def _database(ctx: Context, report: Report) -> None:
    report.section("Database")
    try:
        store = ctx.store
        current = store.schema_revision()
        head = store.head_revision()
    except StoreUnavailable as exc:
        report.line("FAIL", f"{exc.message}: {exc.reason or ctx.settings['DATABASE_URL']}")
        return
    except GeoAppError as exc:
        report.line("FAIL", exc.message)
        return
    where = store.display_url()
    if current is None:
        report.line("FAIL", f"{where} answers but has no schema; run `geo-app db upgrade`")
    elif current != head:
        need = f"this version needs {head}; run `geo-app db upgrade`"
        report.line("FAIL", f"{where}: schema {current}, {need}")
    else:
        report.line("ok", f"{where}: reached, schema {current} (current)")


def _services(ctx: Context, report: Report) -> None:
    report.section("Services")
    path = Path(ctx.settings["BOUNDARIES"])
    if not path.exists():
        report.line("FAIL", f"boundary set {path}: not found (GEO_APP_BOUNDARIES)")
    else:
        report.line("ok", f"boundary set {path}")
        try:
            display = boundaries.prepare_from_settings(ctx.settings, cached_only=True)
            report.line("ok", f"display geometry prepared: {len(display.units)} units")
        except GeoAppError as exc:
            report.line("FAIL", f"display geometry: {exc.message}")
    tiles = ctx.settings["TILES"]
    report.line("ok", "base map: none" if tiles in ("", "none") else f"base map tiles: {tiles}")


def _mode_line(report: Report, path: Path, private: int, what: str) -> None:
    if not path.exists():
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        report.line(
            "warn",
            f"{what} {path} is {mode:04o}: other users of the machine can read it; "
            f"chmod {private:o} {path}",
        )
    else:
        report.line("ok", f"{what} {path} is {mode:04o}")


def _files(ctx: Context, report: Report) -> None:
    report.section("Files")
    instance = config.INSTANCE_DIR
    if instance.exists():
        _mode_line(report, instance, 0o700, "folder")
    else:
        report.line("ok", f"folder {instance} does not exist yet (it is made 0700)")
    url = ctx.settings["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        _mode_line(report, db, 0o600, "database")
        if db.parent != instance:
            _mode_line(report, db.parent, 0o700, "folder")
    _mode_line(report, instance / "secret_key", 0o600, "secret key")
    first = instance / "first_admin_password"
    if first.exists():
        report.line(
            "warn", f"{first} still exists: change the admin's password, then delete the file"
        )


@click.command("doctor")
@pass_ctx
def doctor(ctx: Context) -> None:
    """Report versions, settings (secrets hidden), database reach, services and permissions."""
    report = Report()
    _versions(report)
    _settings(ctx, report)
    _database(ctx, report)
    _services(ctx, report)
    _files(ctx, report)
    verdict = "fails" if report.failed else "works"
    click.echo(
        f"\n{report.failed} problem(s), {report.warned} warning(s): this installation {verdict}"
    )
    if report.failed:
        sys.exit(1)
