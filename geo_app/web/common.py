"""What every blueprint of the web door shares: services, caches, languages, payloads, the page
context, the as-of parameter, permissions and the one error response.

Blueprints import this module and never one another; `geo_app.web.build_app` registers them.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import re
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
    url_for,
)
from flask_babel import gettext as _
from flask_login import LoginManager, current_user

from geo_app import clock, jobs
from geo_app.cache import LRUCache
from geo_app.errors import BadRequest
from geo_app.geodata import boundaries
from geo_app.io import importer
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


def view_as_of(day: dt.date | None, revision: int | None = None) -> View:
    """Return what the boundary set's units show on `day` (now when None), from the read
    model (cached per data revision and day)."""
    geometry = unit_geometry()
    return services().reader.view(geometry.codes, day, revision, units_key=geometry.key)


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


def parse_as_of(raw: str | None = None) -> dt.date | None:
    """Return the ``as_of`` date of the request (None when absent or empty).

    Raises
    ------
    BadRequest
        When it is not a real date written YYYY-MM-DD, or is after today (the app's clock).
    """
    if raw is None:
        raw = request.args.get("as_of")
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    try:
        if not _ISO_DAY.match(raw):
            raise ValueError
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"as_of must be a date written YYYY-MM-DD (got {raw[:40]!r})") from None
    if day > clock.today():
        raise BadRequest(f"as_of {raw} is in the future; history only goes up to today")
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
def run_web_import(upload, dry_run: bool, correct: bool = False) -> importer.ImportResult:
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
    )
