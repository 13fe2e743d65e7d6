"""What every blueprint of the web door shares: services, caches, languages, payloads, the page
context, the as-of parameter, permissions and the one error response.

Blueprints import this module and never one another; `geo_app.web.build_app` registers them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import gzip
import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import fontpkg_be_vietnam_pro
import xstatic.pkg.jquery
import xstatic.pkg.leaflet
from flask import (
    Response,
    abort,
    current_app,
    g,
    has_app_context,
    jsonify,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import LoginManager, current_user

from geo_app import clock, config, jobs
from geo_app.cache import LRUCache
from geo_app.core import programme as programmes
from geo_app.core.programme import NOT_LISTED, Programme
from geo_app.errors import BadRequest, GeoAppError
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.outputs import registry
from geo_app.readmodel import ReadModel, View
from geo_app.store import Store
from geo_app.webmap import maps

ROOT = Path(__file__).resolve().parent.parent.parent
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
LANG_COOKIE = "lang"
YEAR = 365 * 24 * 3600
#: Rendered files kept per worker (a 300-dpi A4 PNG is about 1 MB; a full pack a few MB).
FILE_CACHE_ENTRIES = 16

#: Packaged libraries the app serves itself: name → (folder, version).
VENDOR: dict[str, tuple[Path, str]] = {
    "leaflet": (Path(xstatic.pkg.leaflet.BASE_DIR), xstatic.pkg.leaflet.VERSION),
    "jquery": (Path(xstatic.pkg.jquery.BASE_DIR), xstatic.pkg.jquery.VERSION),
    "fonts": (fontpkg_be_vietnam_pro.ROOT / "files", "be-vietnam-pro"),
}
#: The font files the pages use, by CSS weight.
FONT_FILES = {
    400: "BeVietnamPro-Regular.ttf",
    600: "BeVietnamPro-SemiBold.ttf",
    700: "BeVietnamPro-Bold.ttf",
}

LOGGER = logging.getLogger(__name__)
login_manager = LoginManager()


# -- services ---------------------------------------------------------------------------------
class Services:
    """What views need, built once per app: settings, store, read model, display geometry,
    and the caches (pages and map data; rendered files)."""

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        self.store = Store(settings["DATABASE_URL"])
        self.division = settings["DIVISION"]
        self.cache = LRUCache()
        self.files = LRUCache(FILE_CACHE_ENTRIES)
        self.reader = ReadModel(self.store, self.division, self.cache)
        self._started = False
        self._queue: jobs.Queue | None = None

    def queue(self) -> jobs.Queue:
        """Return the background job queue (made at its first use)."""
        if self._queue is None:
            self._queue = jobs.Queue(self.settings, self.store)
        return self._queue

    def display(self) -> boundaries.Display:
        """Return the display geometry of the current division's boundary set in force.

        It comes from the store, so every server shows the same set, and a set given on one
        server shows on every other at its next request (one small query per request). The
        first call of a process imports the configured set into the store when it is new there.
        Never computed inside a request.
        """
        if has_app_context() and "geo_app_display" in g:
            return g.geo_app_display
        display = None
        if self._started:
            key = boundaries.active_display_key(self.store, self.settings)
            display = boundaries.stored_display(self.store, key, known=True) if key else None
        if display is None:
            display = boundaries.active_display(self.store, self.settings)
            self._started = True
        if has_app_context():
            g.geo_app_display = display
        return display

    def revision(self) -> int:
        return self.store.revision()


def services() -> Services:
    """Return the services of the current app."""
    return current_app.extensions["geo_app"]


def map_cache() -> LRUCache:
    """Return the app's cache of pages, map data and views."""
    return services().cache


def file_cache() -> LRUCache:
    """Return the app's cache of rendered files (exports and downloads), a few entries big."""
    return services().files


def unit_geometry() -> maps.UnitGeometry:
    """Return the encoded display geometry of the configured boundary set (cached per set)."""
    display = services().display()
    return map_cache().get(
        ("geometry", display.key), lambda: maps.UnitGeometry(display.key, display.units)
    )


def view_as_of(
    day: dt.date | None, revision: int | None = None, programme: str | None = None
) -> View:
    """Return what the boundary set's units show in `programme` (the request's when None) on
    `day` (now when None), from the read model (cached per data revision and day)."""
    geometry = unit_geometry()
    code = programme or request_programme().code
    return services().reader.view(
        geometry.codes, day, revision, units_key=geometry.key, programme=code
    )


# -- programmes -------------------------------------------------------------------------------
def request_programme() -> Programme:
    """Return the programme of the request: ``?programme=CODE`` (form field too), default
    hotspot.

    Raises
    ------
    BadRequest
        Naming the programmes there are, when the code is unknown.
    """
    code = request.args.get("programme") or request.form.get("programme") or None
    return programmes.get(code)


def programme_query(prog: Programme) -> dict[str, str]:
    """Return the query parameter that keeps `prog` on a link ({} for the default one)."""
    return {} if prog.code == programmes.DEFAULT else {"programme": prog.code}


# -- errors -----------------------------------------------------------------------------------
def wants_json() -> bool:
    return (
        request.path.startswith("/api/")
        or request.path == "/healthz"
        or (request.accept_mimetypes.best == "application/json")
    )


def error_response(status: int, message: str, details: Any = None):
    """Return the one error answer: JSON under /api/ (or when asked), an HTML page otherwise."""
    if wants_json():
        body: dict[str, Any] = {"error": message, "status": status}
        if details is not None:
            body["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


# -- login sessions ---------------------------------------------------------------------------
#: The key of the session cookie holding the login session's token (`Store.start_session`).
SESSION_KEY = "sid"


def session_token() -> str | None:
    """Return the token of the current login session (None when there is none)."""
    token = session.get(SESSION_KEY)
    return token if isinstance(token, str) and token else None


def session_idle(settings: dict[str, Any]) -> dt.timedelta:
    """Return how long a login session may stay unused (``SESSION_IDLE_HOURS``)."""
    return dt.timedelta(hours=float(settings.get("SESSION_IDLE_HOURS") or 8))


# -- export renders ---------------------------------------------------------------------------
#: Export renders (a new map or pack costs seconds of CPU) one user may have running at once,
#: across every worker of the machine.
RENDERS_PER_USER = 2


class TooManyRenders(GeoAppError):
    """The user already has `RENDERS_PER_USER` exports being drawn."""

    status = 429


@contextlib.contextmanager
def render_slot(username: str):
    """Hold one of the user's `RENDERS_PER_USER` render slots while drawing an export.

    The slots are lock files (``flock``) in the cache folder, so they count across gunicorn
    workers and are freed by the system when a worker dies.

    Raises
    ------
    TooManyRenders
        When every slot of the user is taken.
    """
    folder = config.make_dir(Path(services().settings["CACHE_DIR"]) / "renders")
    for i in range(RENDERS_PER_USER):
        fh = (folder / f"{username}.{i}.lock").open("a+b")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        return
    raise TooManyRenders(
        _(
            "You already have %(n)s exports being drawn; wait until they are done, then try again.",
            n=RENDERS_PER_USER,
        )
    )


def audit_export(action: str, target: str, details: dict[str, Any]) -> None:
    """Audit a file sent to the logged-in user (``export.map``, ``export.pack``,
    ``export.download``)."""
    services().store.audit_event(current_user.username, action, "web", target, details)


# -- permissions ------------------------------------------------------------------------------
def requires(permission: str):
    """Let only users whose role has `permission` reach the view (403 otherwise)."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(permission):
                abort(403, description=_("Your role does not allow this."))
            return view(*args, **kwargs)

        inner.required_permission = permission
        return inner

    return wrap


#: The largest boundary-set upload (``BOUNDARY_MAX_BYTES`` in the settings overrides it).
BOUNDARY_MAX_BYTES = 200 * 1024 * 1024


def upload_max_bytes(settings: dict[str, Any]) -> int:
    """Return the largest boundary-set upload, in bytes."""
    return int(settings.get("BOUNDARY_MAX_BYTES") or BOUNDARY_MAX_BYTES)


# -- languages --------------------------------------------------------------------------------
def page_lang() -> str:
    """Return the page language: ``?lang=``, else the language cookie, else Vietnamese."""
    lang = request.args.get("lang", "")
    if lang in LANGS:
        return lang
    cookie = request.cookies.get(LANG_COOKIE, "")
    return cookie if cookie in LANGS else DEFAULT_LANG


def api_lang() -> str:
    """Return the ``lang`` parameter of an API request (default Vietnamese).

    Raises
    ------
    BadRequest
        When ``lang`` is neither ``vi`` nor ``en``.
    """
    lang = request.args.get("lang", DEFAULT_LANG)
    if lang not in LANGS:
        raise BadRequest(f"lang must be one of {', '.join(LANGS)} (got {lang!r})")
    return lang


def select_locale() -> str:
    if request.path.startswith("/api/"):
        lang = request.args.get("lang", DEFAULT_LANG)
        return lang if lang in LANGS else DEFAULT_LANG
    return page_lang()


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


# -- the as-of date ---------------------------------------------------------------------------
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_as_of(raw: str | None = None, name: str = "as_of") -> dt.date | None:
    """Return the ``as_of`` date of the request, or its parameter `name` (None when absent or
    empty).

    Raises
    ------
    BadRequest
        When it is not a real date written YYYY-MM-DD, or is after today (the app's clock).
    """
    if raw is None:
        raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    try:
        if not _ISO_DAY.match(raw):
            raise ValueError
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date written YYYY-MM-DD (got {raw[:40]!r})") from None
    if day > clock.today():
        raise BadRequest(f"{name} {raw} is in the future; history only goes up to today")
    return day


# -- payloads ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Payload:
    """A response body kept ready to send: as is and gzip-compressed, with its ETag."""

    body: bytes
    gz: bytes
    etag: str
    mimetype: str

    @classmethod
    def of(cls, body: bytes | str, mimetype: str) -> Payload:
        data = body.encode() if isinstance(body, str) else body
        return cls(
            data,
            gzip.compress(data, compresslevel=6, mtime=0),
            hashlib.sha256(data).hexdigest()[:24],
            mimetype,
        )

    def cache_weight(self) -> int:
        return len(self.body) + len(self.gz)


def send_payload(payload: Payload, cache_control: str) -> Response:
    """Send a payload gzip-compressed when the client accepts it, or 304 when its ETag matches."""
    if request.if_none_match.contains_weak(payload.etag):
        resp = Response(status=304)
    else:
        use_gzip = request.accept_encodings["gzip"] > 0
        resp = Response(payload.gz if use_gzip else payload.body, mimetype=payload.mimetype)
        if use_gzip:
            resp.headers["Content-Encoding"] = "gzip"
    resp.set_etag(payload.etag, weak=True)
    resp.headers["Cache-Control"] = cache_control
    resp.vary.add("Accept-Encoding")
    return resp


# -- assets and the page context -------------------------------------------------------------
def vendor_url(package: str, filename: str) -> str:
    """Return the versioned URL of a packaged library's file."""
    return url_for("pages.vendor", package=package, filename=filename, v=VENDOR[package][1])


_STATIC_VERSIONS: dict[str, str] = {}


def static_url(filename: str) -> str:
    """Return the URL of one of the app's static files, versioned by its content."""
    version = _STATIC_VERSIONS.get(filename)
    if version is None:
        path = Path(current_app.static_folder or "") / filename
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        _STATIC_VERSIONS[filename] = version
    return url_for("static", filename=filename, v=version)


def page_context() -> dict[str, Any]:
    """Return what every page of the app's layout (templates/_page.html) needs."""
    return {
        "lang": page_lang(),
        "static_url": static_url,
        "fonts": {w: vendor_url("fonts", f) for w, f in FONT_FILES.items()},
    }


# -- imports through the web ----------------------------------------------------------------
def run_web_import(
    upload,
    dry_run: bool,
    correct: bool = False,
    programme: str | None = None,
    sheet: str | None = None,
) -> importer.ImportResult:
    """Import an uploaded status file as the logged-in user (all rows, or nothing)."""
    if upload is None or not upload.filename:
        raise BadRequest(_("Choose a status file (.csv or .xlsx) to import."))
    name = PurePath(upload.filename.replace("\\", "/")).name[:120] or "upload.csv"
    data = upload.read(importer.MAX_BYTES + 1)
    svc = services()
    units = importer.unit_refs(svc.display().units)
    return importer.run_import(
        svc.store,
        data,
        name,
        units,
        division=svc.division,
        actor=current_user.username,
        dry_run=dry_run,
        correct=correct,
        lang=page_lang(),
        sheet=(sheet or "").strip()[:64] or None,
        max_rows=svc.settings["IMPORT_MAX_ROWS"],
        other_divisions=lambda: importer.other_division_codes(svc.store, svc.division),
        programme=programme,
    )


# -- exports and downloads (the one export registry) ------------------------------------------
_GDAL_LOCK = threading.Lock()


def _source_units():
    """Return the current division's boundary set in force as read (repaired, not simplified):
    the store's (what every server shows), read once per set and process."""
    svc = services()
    s = svc.settings
    current = svc.store.boundary_set(s["DIVISION"])
    if current is None:  # not imported yet: the configured file
        return map_cache().get(
            ("source-units", svc.display().key),
            lambda: (
                boundaries.load(
                    s["BOUNDARIES"], boundaries.FieldMap.from_settings(s), s["ENCODING"] or None
                ).units
            ),
        )
    return map_cache().get(
        ("source-units", current["id"]),
        lambda: boundaries.stored_set(svc.store, current).units,
    )


def export_source(view: View) -> registry.Source:
    """Return what an export of `view` is made from."""
    display = services().display()
    label = registry.source_label(services().settings)
    return registry.Source(
        view, display.units, display.key, _source_units, label, services().reader
    )


def _export_params() -> dict[str, Any]:
    """Return the query parameters but ``as_of``; ``area`` may be repeated or comma-separated."""
    params: dict[str, Any] = {}
    for name in request.args:
        if name == "as_of":
            continue
        values = request.args.getlist(name)
        params[name] = values if name == "area" else values[-1]
    return params


def send_output(output: registry.Output, fmt: str) -> Response:
    """Render (or take from the cache) one export of the registry and send it as a download.

    The bytes are kept per (export, boundary set, data revision, day the figures stand at,
    as-of day, options), so a status change shows in the next export at once.
    """
    options = output.parse(_export_params(), fmt)
    as_of = parse_as_of()
    svc = services()
    revision = svc.revision()
    view = view_as_of(as_of, revision, options.programme)
    key = (output.name, svc.display().key, revision, view.figures_date, as_of, options)

    def make() -> tuple[bytes, str]:
        source = export_source(view)
        with render_slot(current_user.username):  # a few at a time per user (429 beyond)
            if output.group == "data":
                with _GDAL_LOCK:  # the GIS writers (GDAL) are not thread-safe; files are small
                    body = output.render(source, options)
            else:
                body = output.render(source, options)
        name = output.file_name(source, options)
        LOGGER.info("export %s rendered: %s (%d bytes)", output.name, name, len(body))
        return body, name

    done = None
    if output.name == "pack":  # a background job may have made it already (on any server)
        job_key = jobs.pack_key(svc.display().key, revision, view.figures_date, as_of, options)
        done = svc.store.job_for_key(job_key)
    if done is not None and done["state"] == "done":
        body, name, _mimetype = svc.store.job_result(done["id"])
    else:
        body, name = file_cache().get(key, make)
    action = f"export.{output.name}" if output.group == "print" else "export.download"
    details = {
        "format": fmt,
        "as_of": as_of.isoformat() if as_of else None,
        "revision": revision,
        **_export_params(),
    }
    audit_export(action, name, details)
    response = Response(body, mimetype=output.formats[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    return response.make_conditional(request)


def figure_tiles(prog: Programme, figs: dict, lang: str) -> list[dict]:
    """Return the figure tiles above the map: the headline status first (with its share),
    then the other statuses, the least grave first (the map page, and ``/api/summary`` that
    the page refreshes them from after an edit)."""
    head = prog.headline_status
    others = sorted(
        (s for s in prog.statuses if s.code not in (head, NOT_LISTED)), key=lambda s: s.gravity
    )
    tiles = []
    for st in [prog.by_code[head], *others]:
        tile = {"code": st.code, "label": st.label(lang), "color": st.color}
        tile["count"] = figs["counts"][st.code]
        if st.code == head:
            pct = format_decimal(figs["headline"]["pct"], format="#,##0.0")
            tile["note"] = prog.text("headline_note", lang, pct=pct)
        tiles.append(tile)
    return tiles


# -- data downloads ---------------------------------------------------------------------------
def export_downloads(prog: Programme) -> list[dict[str, str]]:
    """Return the data downloads (the records as spreadsheets, the joined layer for GIS)."""
    query = programme_query(prog)
    items = [
        ("csv", _("Records, spreadsheet (CSV)")),
        ("xlsx", _("Records, spreadsheet (XLSX)")),
        ("gpkg", _("GIS layer (GeoPackage)")),
        ("zip", _("GIS layer (zipped Shapefile)")),
        ("geojson", _("GIS layer (GeoJSON)")),
    ]
    return [
        {"fmt": fmt, "label": text, "href": url_for("downloads.communes", fmt=fmt, **query)}
        for fmt, text in items
    ]
