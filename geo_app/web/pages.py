"""HTML pages: the provincial map, and the app's own copies of the scripts, styles and font.

Everything a page needs is served here (no CDN). What the map page sends is cached in process
memory per (boundary set, data revision, language); the revision is read from the database on
every request, so a change made through any worker shows on the very next load.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, abort, render_template, request, url_for
from flask_babel import Babel, format_number, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from geo_app import accounts, clock
from geo_app.core import programme as programmes
from geo_app.core.programme import NOT_LISTED, Programme, all_programmes
from geo_app.geodata import boundaries
from geo_app.i18n import format_date
from geo_app.web.common import (
    DEFAULT_LANG,
    FONT_FILES,
    LANG_COOKIE,
    LANGS,
    TRANSLATIONS,
    VENDOR,
    YEAR,
    Payload,
    export_downloads,
    figure_tiles,
    map_cache,
    page_lang,
    parse_as_of,
    programme_query,
    request_programme,
    select_locale,
    send_payload,
    services,
    static_url,
    unit_geometry,
    vendor_url,
    view_as_of,
)
from geo_app.webmap import maps, topology

LOGGER = logging.getLogger(__name__)
bp = Blueprint("pages", __name__)

#: Id of the page's JSON data block holding the status of every listed unit.
STATUSES_ELEMENT = "geoapp-statuses"
#: Id of the page's JSON data block marking units: deadline states, changes since a day.
MARKS_ELEMENT = "geoapp-marks"
_MIMETYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".ttf": "font/ttf",
    ".png": "image/png",
    ".map": "application/json",
}


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


# -- the map page -----------------------------------------------------------------------------
def _js_text(prog: Programme, lang: str) -> dict[str, str]:
    """Return the strings the page's script shows, in the current language."""
    return {
        "loading": _("Loading…"),
        "map_loading": _("Loading the map…"),
        "map_error": _("The map data could not be loaded. Reload the page to try again."),
        "record_error": _("The record could not be loaded."),
        "no_record": prog.text("not_listed_note", lang),
        "no_own_record": _("No record of its own: its status comes from its former units."),
        "own_record": _(
            "Its own record says %(status)s; the map shows the gravest status of the unit "
            "and of its former units.",
            status="{status}",
        ),
        "split": _("split between several units"),
        "sample_data": _("Sample data"),
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
        "trend_import": _("{n} change(s) dated by the day of their import"),
        "trend_import_note": _(
            "Months with changes dated by the day of their import: the file gave no date."
        ),
        "web": _("web"),
        "import": _("import"),
        "recorded": _("recorded"),
        "correction": _("correction"),
        "overdue": _("%(n)s days overdue", n="{n}"),
        "days_left": _("%(n)s days left", n="{n}"),
        "met_early": _("Met early"),
        "met_late": _("Met late"),
        "targets": _("Targets"),
        "target_due": _("due %(date)s", date="{date}"),
        "target_met": _("met %(date)s", date="{date}"),
        "target_error": _("The target could not be changed; try again."),
        "relapse_warning": _(
            "On that day the unit is %(old)s: this change will be recorded as %(status)s.",
            old="{old}",
            status="{status}",
        ),
        "saved_at": _("Saved: %(status)s from %(date)s.", status="{status}", date="{date}"),
        "now_part_of": _("now part of %(unit)s", unit="{unit}"),
        "announce_saved": _("Saved: %(unit)s, %(status)s.", unit="{unit}", status="{status}"),
        "announce_filter": _("Showing %(n)s units: %(status)s.", n="{n}", status="{status}"),
        "announce_all": _("Showing every unit."),
        "trend_month": _("Month"),
        "criteria_give": _("By the criteria: %(status)s", status="{status}"),
        "criteria_none": _("By the criteria: no type is met by the indicators recorded."),
        "criteria_disagree": _(
            "The record says %(recorded)s, but the indicators meet the criteria of %(status)s.",
            recorded="{recorded}",
            status="{status}",
        ),
    }


@dataclass(frozen=True)
class MapScript:
    """The folium map of one boundary set in one language: page parts and the script file."""

    parts: maps.MapParts
    payload: Payload


def map_script(lang: str, prog: Programme) -> MapScript:
    """Return the rendered folium map in `lang`, cached per (boundary set, programme, language).

    The statuses are not in it: the page holds them in a JSON data block, so the script is the
    same for every data revision and is served as a file (no inline script on the page).
    """
    svc = services()
    display = svc.display()

    def make() -> MapScript:
        assets = map_assets()
        m = maps.build_map(
            unit_geometry(),
            url_for("pages.map_topology", key=display.key),
            None,
            lang,
            assets,
            tiles=svc.settings["TILES"],
            tile_attribution=_("Intranet tile server"),
            statuses_element=STATUSES_ELEMENT,
            programme=prog.code,
            marks_element=MARKS_ELEMENT,
        )
        parts = maps.render_parts(m, assets)
        return MapScript(parts, Payload.of(parts.script, "text/javascript"))

    key = ("map-script", display.key, prog.code, lang, request.script_root)
    return map_cache().get(key, make)


def _export_dialog(lang: str, prog: Programme, as_of: dt.date | None = None) -> dict[str, Any]:
    """Return what the export dialog needs (templates/_export_dialog.html, static/exports.js):
    the choices, the data downloads, where to check the choices and start a job, its texts."""
    return {
        "lang": lang,
        "today": clock.today().isoformat(),
        "downloads": export_downloads(prog),
        "config": {
            "check": url_for("exports.check"),
            "jobs": url_for("jobs.start"),
            "me": url_for("auth.me"),
            "as_of": as_of.isoformat() if as_of else None,
            "programme": prog.code if programme_query(prog) else None,
            "text": {
                "checking": _("Checking the choices…"),
                "downloading": _("The file is being made; it will download by itself."),
                "queued": _("Waiting for a job worker…"),
                "running": _("Making the file…"),
                "pages": _("Page %(done)s of %(total)s", done="{done}", total="{total}"),
                "ready": _("The file is ready; downloading."),
                "failed": _("The file could not be made: %(error)s", error="{error}"),
                "joined": _("This file is already being made: joined it."),
                "joined_done": _("This file was made already: downloading it."),
                "error": _("The request failed; check the connection and try again."),
            },
        },
    }


def change_labels(prog: Programme, lang: str) -> dict[str, str]:
    """Return the name of every kind of change, in `lang`."""
    labels = {
        "newly_listed": _("newly listed"),
        "delisted": _("no longer listed"),
        "graver": _("graver"),
        "lighter": _("lighter"),
        "deadline": _("deadline"),
    }
    for code in (prog.done_status, prog.relapse_becomes):
        if code:
            labels[code] = prog.label(code, lang)
    return labels


def _render_map_page(
    lang: str,
    as_of: dt.date | None,
    role: str | None,
    revision: int,
    today: dt.date,
    prog: Programme,
    since: dt.date | None = None,
) -> Payload:
    svc = services()
    display = svc.display()
    geometry = unit_geometry()
    view = view_as_of(as_of, revision, prog.code)
    statuses = view.listed
    figs = view.figures
    marks: dict[str, Any] = {
        "deadline": {
            code: d.state
            for code, d in view.deadlines.items()
            if d.state in ("overdue", "due_soon")
        },
        "changed": None,
    }
    changed = None
    if since is not None:
        units = [
            {"code": c, "name": n, "kind": k}
            for c, n, k in zip(geometry.codes, geometry.names, geometry.kinds, strict=True)
        ]
        changed = svc.reader.changes(
            units, since, as_of or today, prog.code, revision, units_key=geometry.key
        )
        marks["changed"] = [e["code"] for e in changed["changes"]]
    perms = accounts.ROLES.get(role or "", frozenset())
    script = map_script(lang, prog)
    parts = script.parts
    data_url = url_for("pages.map_topology", key=display.key)
    script_url = url_for(
        "pages.map_script_file",
        key=display.key,
        lang=lang,
        v=script.payload.etag,
        **programme_query(prog),
    )
    legend = maps.status_legend(figs["counts"], lang, prog.code)
    updated = figs["updated_on"]
    updated = format_date(dt.date.fromisoformat(updated), lang) if updated else ""
    dating = {s.dated_by for s in prog.statuses if s.dated_by}
    config = {
        "lang": lang,
        "today": today.isoformat(),
        "as_of": as_of.isoformat() if as_of else None,
        "programme": prog.code,
        "api": {
            "unit": url_for("api.commune", code="CODE").replace("CODE", ""),
            "search": url_for("api.search"),
            "summary": url_for("api.summary"),
            "trend": url_for("api.trend"),
            "me": url_for("auth.me"),
            "jobs": url_for("jobs.start"),
        },
        "statuses": list(prog.record_statuses),
        "labels": maps.status_labels(lang, prog.code),
        "colors": {row["code"]: row["color"] for row in legend},
        "fields": [{"name": f.name, "type": f.type, "label": f.label(lang)} for f in prog.fields],
        # the dates a former unit's card shows (those that date a status)
        "former_dates": [
            {"name": f.name, "label": f.label(lang)} for f in prog.fields if f.name in dating
        ],
        "text": _js_text(prog, lang),
        # the programme's relapse rule (core.programme.Programme.relapse), for the edit form's
        # warning before saving; None when the programme has none
        "relapse": (
            {
                "from": list(prog.relapse_from),
                "to": list(prog.relapse_to),
                "becomes": prog.relapse_becomes,
            }
            if prog.relapse_becomes
            else None
        ),
    }
    html = render_template(
        "map.html",
        lang=lang,
        programme=prog,
        programmes=[
            {
                "code": p.code,
                "name": p.name(lang),
                "short": p.short_name(lang),
                "query": programme_query(p),
            }
            for p in all_programmes()
        ],
        parts=parts,
        figures=figs,
        tiles=figure_tiles(prog, figs, lang),
        legend=legend,
        updated=updated,
        config=config,
        data_url=data_url,
        script_url=script_url,
        statuses=dict(sorted(statuses.items())),
        statuses_element=STATUSES_ELEMENT,
        marks=marks,
        marks_element=MARKS_ELEMENT,
        since=since,
        since_display=format_date(since, lang) if since else "",
        changed=changed,
        change_labels=change_labels(prog, lang),
        list_url=url_for("lists.list_page", **programme_query(prog)),
        units=len(geometry),
        fonts={w: vendor_url("fonts", f) for w, f in FONT_FILES.items()},
        static_url=static_url,
        export_dialog=_export_dialog(lang, prog, as_of) if "export" in perms else None,
        perms=perms,
        as_of=as_of,
        as_of_display=format_date(as_of, lang) if as_of else "",
        today=today.isoformat(),
        statuses_for_edit=[(s.code, s.label(lang)) for s in prog.statuses if s.code != NOT_LISTED],
        pquery=programme_query(prog),
    )
    return Payload.of(html, "text/html")


def page_payload(
    lang: str,
    as_of: dt.date | None = None,
    role: str | None = None,
    prog: Programme | None = None,
    since: dt.date | None = None,
) -> Payload:
    """Return the map page, cached per (boundary set, programme, data revision, language,
    date, role).

    Nothing of one user is in it (name and CSRF token come from ``/api/me``); what the role
    may do (export, import, admin links) is, so the role is part of the key.
    """
    svc = services()
    prog = prog or programmes.get()
    revision = svc.revision()
    today = clock.today()  # the page says what today is (the date fields' limit): part of the key
    key = (
        "page",
        svc.display().key,
        prog.code,
        revision,
        today,
        lang,
        as_of,
        since,
        role,
        request.script_root,
    )
    return map_cache().get(
        key, lambda: _render_map_page(lang, as_of, role, revision, today, prog, since)
    )


def map_data_payload(key: str) -> Payload:
    """Return the map's geometry payload, cached per boundary set."""
    return map_cache().get(
        ("map-data", key), lambda: Payload.of(unit_geometry().map_data(), "application/geo+json")
    )


def map_topology_payload(key: str) -> Payload:
    """Return the map's geometry as TopoJSON, cached per boundary set: encoded once for every
    server (kept in the store by display key), read by the others."""

    def make() -> Payload:
        store = services().store
        stored_key = f"topology-{topology.VERSION}-{key}"
        found = store.prepared(stored_key)
        if found is not None:
            return Payload.of(found[1], "application/json")
        if key == services().display().key:
            body = unit_geometry().topology_data()
        else:  # a set the store holds, not (yet, or any longer) this worker's current one
            display = _stored_display(key)
            if display is None:
                abort(404, description=_GONE)
            body = maps.UnitGeometry(key, display.units).topology_data()
        store.save_prepared(
            stored_key, "topology", key, topology.VERSION, {"bytes": len(body)}, body
        )
        return Payload.of(body, "application/json")

    return map_cache().get(("map-topology", key), make)


@bp.get("/")
def index():
    """Show the provincial map with its figures, legend, search box and status filter."""
    lang = page_lang()
    as_of = parse_as_of()
    prog = request_programme()
    since = parse_as_of(request.args.get("since"), "since")
    resp = send_payload(
        page_payload(lang, as_of, current_user.role, prog, since), "private, no-store"
    )
    resp.vary.add("Cookie")
    if request.args.get("lang") in LANGS and request.cookies.get(LANG_COOKIE) != lang:
        resp.set_cookie(LANG_COOKIE, lang, max_age=YEAR, samesite="Lax", httponly=True)
    return resp


@bp.get("/map/script-<key>-<lang>.js")
def map_script_file(key: str, lang: str):
    """Send the folium map's script (the same for every data revision; cached when versioned)."""
    if key != services().display().key or lang not in LANGS:
        abort(404, description="this map script belongs to another boundary set; reload the page")
    payload = map_script(lang, request_programme()).payload
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


@bp.get("/map/units-<key>.topojson")
def map_topology(key: str):
    """Send the map's geometry as TopoJSON (what the map loads: each border once, quantised)."""
    if key != services().display().key and _stored_display(key) is None:
        abort(404, description=_GONE)
    return send_payload(map_topology_payload(key), f"private, max-age={YEAR}, immutable")


_GONE = "this map data belongs to a boundary set the store no longer holds; reload the page"
_DISPLAY_KEY = re.compile(r"[0-9a-f]{32}")


def _stored_display(key: str) -> boundaries.Display | None:
    """Return the display geometry the store holds under `key`, or None. The map data's URL
    names its set, so a page made a moment ago on another worker (or server) that already saw a
    new set loads it here too, and nothing is ever served under the wrong key."""
    if not _DISPLAY_KEY.fullmatch(key):
        return None
    try:
        return boundaries.stored_display(services().store, key)
    except (ValueError, KeyError, OSError, TypeError):  # not a display: another kind of entry
        return None


# -- set-up -----------------------------------------------------------------------------------
@bp.record_once
def _setup(state) -> None:
    app: Flask = state.app
    if "babel" not in app.extensions:
        Babel(
            app,
            default_locale=DEFAULT_LANG,
            default_translation_directories=str(TRANSLATIONS),
            locale_selector=select_locale,
        )
    app.jinja_env.globals.setdefault("current_lang", lambda: str(get_locale() or DEFAULT_LANG))
    app.jinja_env.filters.setdefault("num", format_number)  # 3.321 in Vietnamese, 3,321 in English


def warm(app: Flask) -> None:
    """Load the display geometry and render the map page in each language, ahead of requests."""
    for lang in LANGS:
        with app.test_request_context(f"/?lang={lang}"):
            try:
                map_topology_payload(services().display().key)
                for prog in all_programmes():
                    for role in accounts.ROLES:
                        page_payload(lang, None, role, prog)
            except Exception:  # warming is an optimisation; a request will report the problem
                LOGGER.exception("could not warm the map page (%s)", lang)
                return
