"""HTML pages: the provincial map, and the app's own copies of the scripts, styles and font.

Everything a page needs is served here (no CDN). What the map page sends is cached in process
memory per (boundary set, data revision, language); the revision is read from the database on
every request, so a change made through any worker shows on the very next load.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fontpkg_be_vietnam_pro
import xstatic.pkg.jquery
import xstatic.pkg.leaflet
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    render_template,
    request,
    url_for,
)
from flask_babel import Babel, format_decimal, format_number, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from geo_app import accounts, export, maps
from geo_app.errors import BadRequest
from geo_app.status import RECORD_STATUSES, Standing, format_date
from geo_app.web import services

LOGGER = logging.getLogger(__name__)
bp = Blueprint("pages", __name__)

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
LANG_COOKIE = "lang"
#: Id of the page's JSON data block holding the status of every listed unit.
STATUSES_ELEMENT = "geoapp-statuses"
YEAR = 365 * 24 * 3600

#: Packaged libraries the app serves itself: name → (folder, version).
VENDOR: dict[str, tuple[Path, str]] = {
    "leaflet": (Path(xstatic.pkg.leaflet.BASE_DIR), xstatic.pkg.leaflet.VERSION),
    "jquery": (Path(xstatic.pkg.jquery.BASE_DIR), xstatic.pkg.jquery.VERSION),
    "fonts": (fontpkg_be_vietnam_pro.ROOT / "files", "be-vietnam-pro"),
}
#: The font files the page uses, by CSS weight.
FONT_FILES = {
    400: "BeVietnamPro-Regular.ttf",
    600: "BeVietnamPro-SemiBold.ttf",
    700: "BeVietnamPro-Bold.ttf",
}
_MIMETYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".ttf": "font/ttf",
    ".png": "image/png",
    ".map": "application/json",
}


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


def _select_locale() -> str:
    if request.path.startswith("/api/"):
        lang = request.args.get("lang", DEFAULT_LANG)
        return lang if lang in LANGS else DEFAULT_LANG
    return page_lang()


# -- the in-memory cache ----------------------------------------------------------------------
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


class MapCache:
    """What the map page sends, by key, in process memory; the least recently used go first.

    Bounded by entries and by bytes (national map data is about 9 MB per revision and language
    for the API's GeoJSON), so old revisions fall out instead of piling up.
    """

    def __init__(self, size: int = 64, max_bytes: int = 160 * 1024 * 1024):
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.misses = 0

    @staticmethod
    def weight(value: Any) -> int:
        if isinstance(value, Payload):
            return len(value.body) + len(value.gz)
        if isinstance(value, maps.UnitGeometry):
            return sum(len(g) for g in value.geometry_json)
        if isinstance(value, Standing):  # about 1 KB per record and crosswalk pair
            return 1024 * (1 + len(value.records) + len(value.former) + len(value.pairs))
        return 1024

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        """Return the value cached under `key`, making it with `make()` when absent."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = make()  # outside the lock: a duplicate make is harmless, a stall is not
        weight = self.weight(value)
        with self._lock:
            self.misses += 1
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, weight)
            self._bytes += weight
            while len(self._items) > 1 and (
                len(self._items) > self.size or self._bytes > self.max_bytes
            ):
                self._bytes -= self._items.popitem(last=False)[1][1]
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def map_cache() -> MapCache:
    """Return the map cache of the current app."""
    return current_app.extensions["geo_app_maps"]


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


def unit_geometry() -> maps.UnitGeometry:
    """Return the encoded display geometry of the configured boundary set (cached per set)."""
    display = services().display()
    return map_cache().get(
        ("geometry", display.key), lambda: maps.UnitGeometry(display.key, display.units)
    )


# -- assets -----------------------------------------------------------------------------------
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


def map_assets() -> maps.Assets:
    return maps.Assets(
        leaflet_js=vendor_url("leaflet", "leaflet.js"),
        leaflet_css=vendor_url("leaflet", "leaflet.css"),
        jquery_js=vendor_url("jquery", "jquery.min.js"),
    )


_SAFE_NAME = re.compile(r"^[A-Za-z0-9._/-]+$")


@bp.get("/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):
    """Send a file of a library the set-up installed (Leaflet, jQuery, Be Vietnam Pro)."""
    entry = VENDOR.get(package)
    if entry is None or not _SAFE_NAME.match(filename) or ".." in filename.split("/"):
        abort(404)
    folder, version = entry
    path = (folder / filename).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        abort(404)
    mimetype = _MIMETYPES.get(path.suffix.lower(), "application/octet-stream")
    payload = map_cache().get(
        ("vendor", str(path)), lambda: Payload.of(path.read_bytes(), mimetype)
    )
    versioned = request.args.get("v") == version
    return send_payload(
        payload, f"public, max-age={YEAR}, immutable" if versioned else "public, max-age=3600"
    )


def page_context() -> dict[str, Any]:
    """Return what every page of the app's layout (templates/_page.html) needs."""
    return {
        "lang": page_lang(),
        "static_url": static_url,
        "fonts": {w: vendor_url("fonts", f) for w, f in FONT_FILES.items()},
    }


# -- the map page -----------------------------------------------------------------------------
def _js_text() -> dict[str, str]:
    """Return the strings the page's script shows, in the current language."""
    return {
        "loading": _("Loading…"),
        "map_loading": _("Loading the map…"),
        "map_error": _("The map data could not be loaded. Reload the page to try again."),
        "record_error": _("The record could not be loaded."),
        "no_record": _("This unit has no record: it is not listed."),
        "no_own_record": _("No record of its own: its status comes from its former units."),
        "own_record": _(
            "Its own record says %(status)s; the map shows the gravest status of the unit "
            "and of its former units.",
            status="{status}",
        ),
        "split": _("split between several units"),
        "sample_data": _("Sample data"),
        "listed_on": _("Listed on"),
        "transformed_on": _("Transformed on"),
        "code": _("Code"),
        "no_history": _("No change recorded yet."),
        "none": _("not given"),
        "no_match": _("No unit matches."),
        "several": _("Several units match: pick one."),
        "search_error": _("The search failed; try again."),
        "source": _("Source"),
        "by": _("by"),
        "sample": _("Sample record: invented for demonstration."),
        "edit": _("Change the record"),
        "saved": _("Saved."),
        "saving": _("Saving…"),
        "save_error": _("The change could not be saved; try again."),
        "conflict": _("Someone changed this record meanwhile; the newer record is shown."),
        "as_of": _("State on %(date)s", date="{date}"),
        "trend_title": _("Units per status at each month's end"),
        "trend_empty": _("No history yet."),
        "web": _("web"),
        "import": _("import"),
    }


@dataclass(frozen=True)
class MapScript:
    """The folium map of one boundary set in one language: page parts and the script file."""

    parts: maps.MapParts
    payload: Payload


def map_script(lang: str) -> MapScript:
    """Return the rendered folium map in `lang`, cached per (boundary set, language).

    The statuses are not in it: the page holds them in a JSON data block, so the script is the
    same for every data revision and is served as a file (no inline script on the page).
    """
    svc = services()
    display = svc.display()

    def make() -> MapScript:
        assets = map_assets()
        m = maps.build_map(
            unit_geometry(),
            url_for("pages.map_data", key=display.key),
            None,
            lang,
            assets,
            tiles=svc.settings["TILES"],
            tile_attribution=_("Intranet tile server"),
            statuses_element=STATUSES_ELEMENT,
        )
        parts = maps.render_parts(m, assets)
        return MapScript(parts, Payload.of(parts.script, "text/javascript"))

    return map_cache().get(("map-script", display.key, lang, request.script_root), make)


def _export_links(lang: str, as_of: dt.date | None = None) -> list[dict[str, str]]:
    """Return the Export menu's downloads (parameters of `geo_app.export.parse_options`)."""

    def link(fmt: str, text: str, **params: str) -> dict[str, str]:
        if as_of is not None:
            params["as_of"] = as_of.isoformat()
        if fmt == "pack":
            href = url_for("exports.pack_file", lang=lang, **params)
        else:
            href = url_for("exports.map_file", fmt=fmt, lang=lang, **params)
        return {"kind": fmt, "label": text, "href": href}

    return [
        link(
            "png",
            _("Map image, A4 landscape (PNG, 300 dpi)"),
            paper="A4",
            orientation="landscape",
            dpi="300",
        ),
        link("pdf", _("Map, A4 landscape (PDF)"), paper="A4", orientation="landscape"),
        link("pdf", _("Map, A3 portrait (PDF)"), paper="A3", orientation="portrait"),
        link("png", _("Slide 16:9 (PNG)"), paper="slide", dpi="150"),
        link("svg", _("Map, A4 landscape (SVG)"), paper="A4", orientation="landscape"),
        link("pack", _("Briefing pack: the province, then each listed unit (PDF)")),
    ]


def _render_map_page(lang: str, as_of: dt.date | None, role: str | None, revision: int) -> Payload:
    from geo_app.web.api import figures_as_of
    from geo_app.web.asof import standing_as_of

    svc = services()
    display = svc.display()
    geometry = unit_geometry()
    statuses = maps.current_statuses(geometry, standing_as_of(as_of, revision))
    figs = figures_as_of(geometry, as_of, revision)
    perms = accounts.ROLES.get(role or "", frozenset())
    script = map_script(lang)
    parts = script.parts
    data_url = url_for("pages.map_data", key=display.key)
    script_url = url_for("pages.map_script_file", key=display.key, lang=lang, v=script.payload.etag)
    legend = maps.status_legend(figs["counts"], lang)
    counts = figs["counts"]
    updated = figs["updated_on"]
    updated = format_date(dt.date.fromisoformat(updated), lang) if updated else ""
    config = {
        "lang": lang,
        "as_of": as_of.isoformat() if as_of else None,
        "api": {
            "unit": url_for("api.commune", code="CODE").replace("CODE", ""),
            "search": url_for("api.search"),
            "summary": url_for("api.summary"),
            "trend": url_for("api.trend"),
            "me": url_for("auth.me"),
        },
        "statuses": list(RECORD_STATUSES),
        "labels": maps.status_labels(lang),
        "colors": {row["code"]: row["color"] for row in legend},
        "text": _js_text(),
    }
    html = render_template(
        "map.html",
        lang=lang,
        parts=parts,
        figures=figs,
        counts=counts,
        legend=legend,
        rows={row["code"]: row for row in legend},
        pct=format_decimal(figs["transformed_pct"], format="#,##0.0"),
        updated=updated,
        config=config,
        data_url=data_url,
        script_url=script_url,
        statuses=dict(sorted(statuses.items())),
        statuses_element=STATUSES_ELEMENT,
        units=len(geometry),
        fonts={w: vendor_url("fonts", f) for w, f in FONT_FILES.items()},
        static_url=static_url,
        exports=_export_links(lang, as_of) if "export" in perms else [],
        perms=perms,
        as_of=as_of,
        as_of_display=format_date(as_of, lang) if as_of else "",
        today=export.today().isoformat(),
        statuses_for_edit=[(code, maps.status_labels(lang)[code]) for code in RECORD_STATUSES],
    )
    return Payload.of(html, "text/html")


def page_payload(lang: str, as_of: dt.date | None = None, role: str | None = None) -> Payload:
    """Return the map page, cached per (boundary set, data revision, language, date, role).

    Nothing of one user is in it (name and CSRF token come from ``/api/me``); what the role
    may do (export, import, admin links) is, so the role is part of the key.
    """
    svc = services()
    revision = svc.revision()
    key = ("page", svc.display().key, revision, lang, as_of, role, request.script_root)
    return map_cache().get(key, lambda: _render_map_page(lang, as_of, role, revision))


def map_data_payload(key: str) -> Payload:
    """Return the map's geometry payload, cached per boundary set."""
    return map_cache().get(
        ("map-data", key), lambda: Payload.of(unit_geometry().map_data(), "application/geo+json")
    )


@bp.get("/")
def index():
    """Show the provincial map with its figures, legend, search box and status filter."""
    from geo_app.web.asof import parse_as_of

    lang = page_lang()
    as_of = parse_as_of()
    resp = send_payload(page_payload(lang, as_of, current_user.role), "private, no-cache")
    resp.vary.add("Cookie")
    if request.args.get("lang") in LANGS and request.cookies.get(LANG_COOKIE) != lang:
        resp.set_cookie(LANG_COOKIE, lang, max_age=YEAR, samesite="Lax", httponly=True)
    return resp


@bp.get("/map/script-<key>-<lang>.js")
def map_script_file(key: str, lang: str):
    """Send the folium map's script (the same for every data revision; cached when versioned)."""
    if key != services().display().key or lang not in LANGS:
        abort(404, description="this map script belongs to another boundary set; reload the page")
    payload = map_script(lang).payload
    versioned = request.args.get("v") == payload.etag
    return send_payload(
        payload, f"private, max-age={YEAR}, immutable" if versioned else "private, no-cache"
    )


@bp.get("/map/units-<key>.geojson")
def map_data(key: str):
    """Send the map's geometry: every unit's shape, code, name and kind (gzip, ETag, 1 year)."""
    if key != services().display().key:
        abort(404, description="this map data belongs to another boundary set; reload the page")
    return send_payload(map_data_payload(key), f"private, max-age={YEAR}, immutable")


# -- set-up -----------------------------------------------------------------------------------
@bp.record_once
def _setup(state) -> None:
    app: Flask = state.app
    app.extensions.setdefault("geo_app_maps", MapCache())
    if "babel" not in app.extensions:
        Babel(
            app,
            default_locale=DEFAULT_LANG,
            default_translation_directories=str(TRANSLATIONS),
            locale_selector=_select_locale,
        )
    app.jinja_env.globals.setdefault("current_lang", lambda: str(get_locale() or DEFAULT_LANG))
    app.jinja_env.filters.setdefault("num", format_number)  # 3.321 in Vietnamese, 3,321 in English


def warm(app: Flask) -> None:
    """Load the display geometry and render the map page in each language, ahead of requests."""
    for lang in LANGS:
        with app.test_request_context(f"/?lang={lang}"):
            try:
                map_data_payload(services().display().key)
                for role in accounts.ROLES:
                    page_payload(lang, None, role)
            except Exception:  # warming is an optimisation; a request will report the problem
                LOGGER.exception("could not warm the map page (%s)", lang)
                return
