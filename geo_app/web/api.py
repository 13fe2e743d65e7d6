"""JSON API: the map page's twin. Bad parameters get a 400, unknown units a 404, both as JSON."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from flask import Blueprint, jsonify, request

from geo_app import maps
from geo_app.errors import BadRequest, NotFound
from geo_app.status import format_date, label
from geo_app.web import services
from geo_app.web.pages import Payload, api_lang, map_cache, send_payload, unit_geometry

LOGGER = logging.getLogger(__name__)
bp = Blueprint("api", __name__)

_CODE = re.compile(r"^[0-9A-Za-z_-]{1,16}$")
MAX_QUERY = 100
MAX_LIMIT = 50
_DATE_FIELDS = ("designated_on", "target_on", "transformed_on")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number (got {raw!r})") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high} (got {value})")
    return value


@bp.get("/healthz")
def healthz():
    """Report whether the app can reach its store."""
    return jsonify({"ok": True, "revision": services().revision()})


@bp.get("/api/communes.geojson")
def communes_geojson():
    """Send every unit with its code, name, kind, status and status label (GeoJSON)."""
    lang = api_lang()
    svc = services()
    geometry = unit_geometry()
    key = ("communes.geojson", geometry.key, svc.revision(), lang)

    def make() -> Payload:
        statuses = maps.current_statuses(geometry, svc.records())
        return Payload.of(geometry.communes_geojson(statuses, lang), "application/geo+json")

    return send_payload(map_cache().get(key, make), "private, no-cache")


def _display_dates(content: dict[str, Any], lang: str) -> dict[str, str]:
    return {
        f: format_date(dt.date.fromisoformat(content[f]), lang) if content.get(f) else ""
        for f in _DATE_FIELDS
    }


@bp.get("/api/communes/<code>")
def commune(code: str):
    """Send one unit's record and history (404 when the boundary set has no such unit)."""
    lang = api_lang()
    if not _CODE.match(code):
        raise BadRequest(f"{code!r} is not a unit code (letters, digits, - or _; up to 16)")
    svc = services()
    unit = unit_geometry().unit(code)
    if unit is None:
        raise NotFound(f"no unit with code {code} in the boundary set")
    stored = svc.store.record(svc.division, code)
    history = svc.store.history(svc.division, code)
    status = stored.record.status if stored else maps.NOT_LISTED
    record = None
    if stored:
        record = stored.to_dict()
        record["display"] = _display_dates(record, lang)
    out: dict[str, Any] = {
        **unit,
        "status": status,
        "status_label": label(status, lang),
        "record": record,
        "sample": bool(stored and stored.sample),
        "history": [
            {
                **h,
                "old_status_label": label(h["old_status"], lang) if h["old_status"] else None,
                "new_status_label": label(h["new_status"], lang),
                "effective_on_display": format_date(dt.date.fromisoformat(h["effective_on"]), lang),
            }
            for h in history
        ],
    }
    return jsonify(out)


@bp.get("/api/summary")
def summary():
    """Send the figures above the map: units, listed, count per status, % transformed."""
    lang = api_lang()
    svc = services()
    geometry = unit_geometry()
    revision = svc.revision()
    figs = map_cache().get(
        ("summary", geometry.key, revision),
        lambda: maps.figures(geometry, svc.records()),
    )
    return jsonify(
        {
            **figs,
            "revision": revision,
            "labels": maps.status_labels(lang),
            "legend": maps.status_legend(figs["counts"], lang),
        }
    )


@bp.get("/api/search")
def search():
    """Find units by name, typed with or without diacritics ("quang phu" finds Quảng Phú)."""
    query = request.args.get("q", "")
    if not query.strip():
        raise BadRequest("q is required: part of a unit's name, or its code")
    if len(query) > MAX_QUERY:
        raise BadRequest(f"q is too long (at most {MAX_QUERY} characters)")
    limit = _int_arg("limit", 10, 1, MAX_LIMIT)
    matches = maps.search(unit_geometry(), query, limit=limit)
    return jsonify({"query": query, "matches": matches})
