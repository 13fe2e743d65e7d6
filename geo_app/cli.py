"""`geo-app` commands: the same operations as the web, through the same domain functions."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from geo_app import accounts, boundaries, config, importer
from geo_app import divisions as division_service
from geo_app.errors import GeoAppError
from geo_app.store import Store


class Context:
    def __init__(self) -> None:
        self.settings = config.load()
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings["DATABASE_URL"])
        return self._store

    def units(self, division: str | None = None) -> list[importer.UnitRef]:
        """Return the units of `division`: the configured boundary set's for the current
        division, the registered ones (from a boundary import or a crosswalk) otherwise."""
        if division in (None, self.settings["DIVISION"]):
            bset = boundaries.load(
                self.settings["BOUNDARIES"],
                boundaries.FieldMap.from_settings(self.settings),
                self.settings["ENCODING"] or None,
            )
            return importer.unit_refs(bset.units)
        rows = self.store.division_units(division)
        if not rows:
            known = [d["name"] for d in self.store.divisions()] + [self.settings["DIVISION"]]
            raise GeoAppError(
                f"unknown division {division!r}; known: {', '.join(sorted(set(known)))}"
            )
        return [importer.UnitRef(u["code"], u["name"], u["kind"]) for u in rows]


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _fail(exc: GeoAppError, as_json: bool) -> None:
    if as_json:
        out = {"ok": False, "error": exc.message}
        if isinstance(exc.details, list):
            out["problems"] = exc.details
        elif exc.details is not None:
            out["details"] = exc.details
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(f"error: {exc.message}", err=True)
        if isinstance(exc.details, list):
            for p in exc.details:
                click.echo(f"  - {importer.format_problem(p)}", err=True)
    sys.exit(1)


class Ticker:
    """Print each step with the time since the start, and a heartbeat during long steps."""

    def __init__(self, every: float = 10.0):
        self.start = time.perf_counter()
        self.every = every
        self._step = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        self._step = message
        click.echo(f"[{time.perf_counter() - self.start:6.1f} s] {message}", err=True)
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            click.echo(
                f"[{time.perf_counter() - self.start:6.1f} s] … still {self._step}", err=True
            )

    def close(self) -> None:
        self._stop.set()


@click.group()
def main() -> None:
    """Thanh Hóa area-status map: boundaries, status records, maps."""


# -- db ------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """The status database."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    try:
        ctx.store.upgrade()
    except GeoAppError as exc:
        _fail(exc, False)
    click.echo(f"database schema is current ({_safe_url(ctx.store.url)})")


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
        _fail(exc, False)
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
        _fail(exc, False)
    click.echo("restored: " + ", ".join(f"{n} {t}" for t, n in counts.items()))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- boundaries ----------------------------------------------------------------------------
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


@main.group("boundaries")
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
    out = division_service.check(path, fields, encoding or ctx.settings["ENCODING"] or None)
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
    """Make the display geometry of a boundary set (default: GEO_APP_BOUNDARIES) and cache it."""
    s = ctx.settings
    ticker = Ticker()
    try:
        display = boundaries.prepare(
            path or s["BOUNDARIES"],
            s["CACHE_DIR"],
            _fields(ctx, code_field, name_field, kind_field),
            encoding or s["ENCODING"] or None,
            s["GAP_WIDTH_M"],
            s["SIMPLIFY_M"],
            ticker,
        )
    except GeoAppError as exc:
        ticker.close()
        _fail(exc, False)
    ticker.close()
    st = display.stats
    click.echo(
        f"{len(display.units)} units ready for display "
        f"({st['vertices_source']} → {st['vertices_display']} vertices)"
    )


def _date_option(value: str | None, name: str):
    from geo_app.status import parse_date

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
        start = _date_option(valid_from, "--valid-from")
        end = _date_option(valid_to, "--valid-to")
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
        )
    except GeoAppError as exc:
        ticker.close()
        _fail(exc, False)
    ticker.close()
    click.echo(f"division {name}: {done.units} units from {path.name}, in force from {start}")


@main.group()
def divisions() -> None:
    """Administrative divisions and the crosswalks between them."""


@divisions.command("list")
@pass_ctx
def divisions_list(ctx: Context) -> None:
    """List the divisions: the current one (configured) and those registered."""
    try:
        rows = ctx.store.divisions()
    except GeoAppError as exc:
        _fail(exc, False)
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
        start = _date_option(valid_from, "--valid-from")
        end = _date_option(valid_to, "--valid-to")
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
        _fail(exc, False)
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
        registered = {d["name"]: d for d in ctx.store.divisions()}

        def polygons(name: str):
            if name == ctx.settings["DIVISION"]:
                return boundaries.load(
                    ctx.settings["BOUNDARIES"], boundaries.FieldMap.from_settings(ctx.settings)
                ).units
            d = registered.get(name)
            if not d or not d["boundary_path"]:
                raise GeoAppError(
                    f"division {name!r} has no polygons; import its boundary "
                    "file with `geo-app boundaries import`, or load a crosswalk"
                )
            return boundaries.load(d["boundary_path"], boundaries.FieldMap(**d["fields"])).units

        pairs = boundaries.overlay_crosswalk(polygons(old), polygons(new), min_share)
        ctx.store.save_crosswalk(old, new, pairs, actor="cli", source="cli:overlay")
    except GeoAppError as exc:
        _fail(exc, False)
    split = len({p["old_code"] for p in pairs if p["split"]})
    click.echo(f"crosswalk {old} → {new} by overlay: {len(pairs)} pairs, {split} split")


# -- status --------------------------------------------------------------------------------
@main.group()
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
@pass_ctx
def status_import(
    ctx: Context, file: Path, dry_run: bool, as_json: bool, if_empty: bool, division: str | None
) -> None:
    """Import status records from a CSV (UTF-8) or XLSX file: all rows, or none."""
    try:
        if if_empty and ctx.store.records(division or ctx.settings["DIVISION"]):
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
        )
    except GeoAppError as exc:
        _fail(exc, as_json)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    verb = "would be" if dry_run else "were"
    click.echo(
        f"{file.name}: {result.rows} rows; {result.created} records {verb} created, "
        f"{result.updated} updated, {result.unchanged} unchanged"
        + (" (sample data)" if result.sample else "")
    )
    for w in result.warnings:
        click.echo(f"  warning: {w}")


@status.command("export")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="FILE.csv or FILE.xlsx (records), FILE.geojson, FILE.gpkg or FILE.zip (the joined "
    "layer; .zip is a zipped Shapefile)",
)
@pass_ctx
def status_export(ctx: Context, out: Path) -> None:
    """Export every record (CSV/XLSX, the import's headers) or the joined layer (GIS files)."""
    division = ctx.settings["DIVISION"]
    try:
        suffix = out.suffix.lower()
        if suffix in importer.LAYER_FORMATS:
            units = boundaries.load(
                ctx.settings["BOUNDARIES"],
                boundaries.FieldMap.from_settings(ctx.settings),
                ctx.settings["ENCODING"] or None,
            ).units
            frame = importer.layer_frame(units, ctx.store, division)
            data = importer.layer_bytes(frame, suffix)
            tmp = out.with_name(out.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(out)
            click.echo(f"{len(frame)} units with their status written to {out}")
            return
        rows = importer.export_rows(ctx.store, ctx.units(), division)
        importer.write_export(rows, out)
    except GeoAppError as exc:
        _fail(exc, False)
    click.echo(f"{len(rows) - 1} records written to {out}")


# -- users ---------------------------------------------------------------------------------
@main.group()
def users() -> None:
    """User accounts (every change is audited)."""


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(sorted(accounts.ROLES)))
@pass_ctx
def users_add(ctx: Context, name: str, role: str) -> None:
    """Create a user; the password is read from a prompt, or from stdin when piped."""
    try:
        accounts.check_username(name)
        password_hash = accounts.hash_password(_read_password())
        ctx.store.add_user(name, password_hash, role, actor="cli", source="cli")
    except GeoAppError as exc:
        _fail(exc, False)
    click.echo(f"user {name} added with role {role}")


@users.command("first-admin")
@pass_ctx
def users_first_admin(ctx: Context) -> None:
    """Create an `admin` account with a random password when there is no user at all.

    The password is printed once and kept in instance/first_admin_password (readable by the
    owner only); change it from the admin page, then delete the file.
    """
    import os
    import secrets

    try:
        if ctx.store.users():
            click.echo("users exist already; no account created")
            return
        password = secrets.token_urlsafe(12)
        ctx.store.add_user(
            "admin",
            accounts.hash_password(password),
            "admin",
            actor="cli",
            source="cli:first-admin",
        )
    except GeoAppError as exc:
        _fail(exc, False)
    path = config.INSTANCE_DIR / "first_admin_password"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    click.echo(
        f"created the account admin with password {password} (also in {path}); "
        "change it on the admin page"
    )


@users.command("list")
@pass_ctx
def users_list(ctx: Context) -> None:
    """List users with their role and state."""
    try:
        rows = ctx.store.users()
    except GeoAppError as exc:
        _fail(exc, False)
    for u in rows:
        state = "disabled" if u["disabled"] else "active"
        click.echo(f"{u['username']:<24} {u['role']:<10} {state}")


@users.command("disable")
@click.argument("name")
@pass_ctx
def users_disable(ctx: Context, name: str) -> None:
    """Disable a user: they can no longer log in."""
    try:
        ctx.store.update_user(name, actor="cli", source="cli", disabled=True)
    except GeoAppError as exc:
        _fail(exc, False)
    click.echo(f"user {name} disabled")


@users.command("assign")
@click.argument("name")
@click.argument("codes", nargs=-1)
@pass_ctx
def users_assign(ctx: Context, name: str, codes: tuple[str, ...]) -> None:
    """Set the units an officer may edit (replaces their current list)."""
    try:
        if ctx.store.user(name) is None:
            raise GeoAppError(f"no user named {name!r}")
        known = {u.code for u in ctx.units()}
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise GeoAppError(f"unknown unit code(s): {', '.join(unknown)}")
        ctx.store.set_assignments(
            name, ctx.settings["DIVISION"], list(codes), actor="cli", source="cli"
        )
    except GeoAppError as exc:
        _fail(exc, False)
    click.echo(f"{name} is assigned {len(codes)} unit(s)")


# -- export --------------------------------------------------------------------------------
@main.group("export")
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


def _export_data(ctx: Context):
    from geo_app import export

    display = boundaries.prepare_from_settings(
        ctx.settings, progress=lambda m: click.echo(m, err=True)
    )
    return export.load_data(
        display, ctx.store, ctx.settings["DIVISION"], export.source_label(ctx.settings)
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
    from geo_app import export

    try:
        options = export.parse_options(
            _export_params(
                areas=areas,
                paper=paper,
                orientation=orientation,
                lang=lang,
                title=title,
                marking=marking,
                dpi=dpi,
            ),
            export.format_of(out),
        )
        body = export.render_map(_export_data(ctx), options)
        _write_out(out, body)
    except GeoAppError as exc:
        _fail(exc, False)
    extra = f", {options.pixels()[0]}×{options.pixels()[1]} px" if options.fmt == "png" else ""
    click.echo(f"{out}: {options.fmt.upper()} map, {options.paper} {options.orientation}{extra}")


@export_group.command("pack")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="FILE.pdf")
@_export_options
@pass_ctx
def export_pack(ctx: Context, out: Path, areas, paper, orientation, lang, title, marking):
    """Write the briefing pack: the province, then a page per listed unit (or per --area)."""
    from geo_app import export

    try:
        fmt = export.format_of(out)
        options = export.parse_options(
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
        body = export.render_pack(data, options)
        _write_out(out, body)
    except GeoAppError as exc:
        _fail(exc, False)
    pages = 1 + len(export.pack_codes(data, options))
    click.echo(f"{out}: briefing pack, {pages} pages")


def _write_out(out: Path, body: bytes) -> None:
    try:
        out.write_bytes(body)
    except OSError as exc:
        raise GeoAppError(f"{out}: cannot be written ({exc.strerror})") from None


# -- serve ---------------------------------------------------------------------------------
@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes (each serves 4 threads).",
)
@click.option("--dev", is_flag=True, help="Run Flask's development server instead (debugging).")
@pass_ctx
def serve(ctx: Context, host: str, port: int, workers: int, dev: bool) -> None:
    """Serve the map and API on the configured data under gunicorn (production WSGI server)."""
    ticker = Ticker()
    try:  # requests never prepare geometry: do it now, with progress, if it is not cached
        display = boundaries.prepare_from_settings(ctx.settings, progress=ticker)
    except GeoAppError as exc:
        ticker.close()
        _fail(exc, False)
    ticker.close()
    click.echo(
        f"{len(display.units)} units ready for display; serving on http://{host}:{port}/",
        err=True,
    )
    if dev:
        from geo_app import create_app
        from geo_app.web import pages

        app = create_app()
        pages.warm(app)
        app.run(host=host, port=port, debug=False, use_reloader=False)
        return
    _run_gunicorn(host, port, workers)


def _run_gunicorn(host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    from geo_app import create_app
    from geo_app.web import pages

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 60,
        "graceful_timeout": 20,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "geo-app",
        "control_socket_disable": True,  # no socket in the home folder; signals suffice
    }

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            app = create_app()
            pages.warm(app)  # each worker renders the map before its first request
            return app

    Server().run()


if __name__ == "__main__":  # pragma: no cover
    main()
