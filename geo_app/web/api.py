"""JSON API: the map page's twin. Bad parameters get a 400, unknown units a 404, both as JSON."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from geo_app import clock
from geo_app.core import changes
from geo_app.core.records import (
    RECORD_STATUSES,
    TRANSFORMED,
    Record,
    label,
    parse_date,
    parse_status,
    rollup,
    split_problems,
)
from geo_app.errors import BadRequest, GeoAppError, NotFound
from geo_app.geodata import divisions
from geo_app.i18n import format_date, format_timestamp
from geo_app.store import Change, Conflict
from geo_app.web.common import (
    Payload,
    api_lang,
    map_cache,
    parse_as_of,
    requires,
    run_web_import,
    send_payload,
    services,
    truthy,
    unit_geometry,
    view_as_of,
)
from geo_app.webmap import maps

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
    as_of = parse_as_of()
    svc = services()
    geometry = unit_geometry()
    revision = svc.revision()
    key = ("communes.geojson", geometry.key, revision, lang, as_of)

    def make() -> Payload:
        statuses = view_as_of(as_of, revision).listed
        return Payload.of(geometry.communes_geojson(statuses, lang), "application/geo+json")

    return send_payload(map_cache().get(key, make), "private, no-cache")


def _display_dates(content: dict[str, Any], lang: str) -> dict[str, str]:
    return {
        f: format_date(dt.date.fromisoformat(content[f]), lang) if content.get(f) else ""
        for f in _DATE_FIELDS
    }


def _check_code(code: str) -> dict[str, str]:
    """Return the unit of the boundary set with `code` (400 when malformed, 404 when absent)."""
    if not _CODE.match(code):
        raise BadRequest(f"{code!r} is not a unit code (letters, digits, - or _; up to 16)")
    unit = unit_geometry().unit(code)
    if unit is None:
        raise NotFound(f"no unit with code {code} in the boundary set")
    return unit


def _may_edit(code: str) -> bool:
    """Tell whether the logged-in user may change the record of `code`."""
    if not current_user.is_authenticated:
        return False
    if current_user.can("edit_any"):
        return True
    svc = services()
    return current_user.can("edit_assigned") and code in svc.store.assignments(
        current_user.username, svc.division
    )


def _record_dict(stored, lang: str) -> dict[str, Any]:
    record = stored.to_dict()
    record["display"] = _display_dates(record, lang)
    return record


def unit_details(code: str, lang: str, as_of: dt.date | None = None) -> dict[str, Any]:
    """Return what ``GET /api/communes/<code>`` sends: the unit, its record and its history.

    ``status`` is what the map shows: the gravest of the unit's own record (``own_status``)
    and of the records of the former units that went into it, listed in ``former``, each with
    its own status and dates and whether it was split between several units.
    """
    unit = _check_code(code)
    svc = services()
    standing = view_as_of(as_of).standing
    stored = svc.store.record(svc.division, code) if as_of is None else standing.records.get(code)
    history = svc.store.history(svc.division, code)
    if as_of is not None:
        history = [h for h in history if h["effective_on"] <= as_of.isoformat()]
    own_status = stored.record.status if stored else maps.NOT_LISTED
    former = []
    former_units = standing.former_units(code)
    for pair, rec in former_units:
        st = rec.record.status if rec else maps.NOT_LISTED
        former.append(
            {
                "division": pair["old_division"],
                "code": pair["old_code"],
                "name": pair["name"],
                "kind": pair["kind"],
                "split": bool(pair["split"]),
                "status": st,
                "status_label": label(st, lang),
                "record": _record_dict(rec, lang) if rec else None,
            }
        )
    status = rollup([own_status, *(f["status"] for f in former)])
    return {
        **unit,
        "status": status,
        "status_label": label(status, lang),
        "own_status": own_status,
        "own_status_label": label(own_status, lang),
        "record": _record_dict(stored, lang) if stored else None,
        "former": former,
        "sample": bool(stored and stored.sample)
        or any(rec is not None and rec.sample for _, rec in former_units),
        "as_of": as_of.isoformat() if as_of else None,
        "can_edit": as_of is None and _may_edit(code),
        "history": [
            {
                **h,
                "old_status_label": label(h["old_status"], lang) if h["old_status"] else None,
                "new_status_label": label(h["new_status"], lang),
                "effective_on_display": format_date(dt.date.fromisoformat(h["effective_on"]), lang),
                "changed_at_display": format_timestamp(
                    dt.datetime.fromisoformat(h["changed_at"]), lang
                ),
                # recorded after a change that takes effect later: it went into the past
                "correction": any(
                    o["id"] < h["id"] and o["effective_on"] > h["effective_on"] for o in history
                ),
            }
            for h in history
        ],
    }


@bp.get("/api/communes/<code>")
def commune(code: str):
    """Send one unit's record and history (404 when the boundary set has no such unit)."""
    lang = api_lang()
    return jsonify(unit_details(code, lang, parse_as_of()))


@bp.get("/api/communes/<code>/neighbours")
def neighbours(code: str):
    """List the units next to one unit (in SQL with PostGIS, else with shapely)."""
    lang = api_lang()
    svc = services()
    geometry = unit_geometry()
    if geometry.unit(code) is None:
        raise NotFound(f"no unit {code[:20]!r} in the boundary set")
    codes, how = divisions.neighbours(svc.store, code, svc.settings)
    statuses = view_as_of(None).statuses
    labels = maps.status_labels(lang)
    units = []
    for c in codes:
        unit = geometry.unit(c)
        if unit is not None:
            status = statuses.get(c, "not_listed")
            units.append({**unit, "status": status, "status_label": labels[status]})
    resp = jsonify({"code": code, "neighbours": units, "computed_by": how})
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


# -- editing ----------------------------------------------------------------------------------
MAX_NOTE = 2000
MAX_TEXT = 5000
MAX_UNIT = 300
_EDIT_FIELDS = {
    "correction",
    "status",
    "effective_on",
    "note",
    "version",
    "designated_on",
    "target_on",
    "transformed_on",
    "unit",
    "problems",
    "notes",
}


def _text_field(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(_("%(field)s must be text.", field=name))
    value = value.strip()
    if len(value) > limit:
        raise BadRequest(
            _("%(field)s is too long (at most %(n)s characters).", field=name, n=limit)
        )
    return value


def _date_field(body: dict[str, Any], name: str) -> dt.date | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(_("%(field)s must be a date written YYYY-MM-DD.", field=name))
    try:
        return parse_date(value)
    except ValueError:
        raise BadRequest(
            _(
                "%(field)s must be a date written YYYY-MM-DD (got %(value)s).",
                field=name,
                value=value,
            )
        ) from None


def _conflict(code: str, lang: str, message: str):
    body = {"error": message, "status": 409, "current": unit_details(code, lang)}
    return jsonify(body), 409


@bp.post("/api/communes/<code>/status")
@requires("edit_assigned")
def edit_status(code: str):
    """Change a unit's status and record: JSON {status, effective_on, note, version, ...}."""
    lang = api_lang()
    _check_code(code)
    if not _may_edit(code):
        raise GeoAppError(_("You may only change the units assigned to you."), status=403)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(_("Send the change as a JSON object."))
    unknown = sorted(set(body) - _EDIT_FIELDS)
    if unknown:
        raise BadRequest(_("Unknown field: %(fields)s.", fields=", ".join(unknown)))
    raw_status = body.get("status")
    if not isinstance(raw_status, str) or not raw_status.strip():
        raise BadRequest(
            _("status is required: one of %(codes)s.", codes=", ".join(RECORD_STATUSES))
        )
    try:
        wanted = parse_status(raw_status)
    except ValueError:
        raise BadRequest(
            _(
                "status %(value)s is unknown; use one of %(codes)s.",
                value=repr(raw_status[:40]),
                codes=", ".join(RECORD_STATUSES),
            )
        ) from None
    effective_on = _date_field(body, "effective_on")
    if effective_on is None:
        raise BadRequest(_("effective_on is required: the date the change took effect."))
    correction = body.get("correction", False)
    if not isinstance(correction, bool):
        raise BadRequest(_("correction must be true or false."))
    note = _text_field(body, "note", MAX_NOTE)
    if not note:
        raise BadRequest(_("note is required: say why the record changes."))
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise BadRequest(_("version must be a whole number, or null for a unit without record."))

    svc = services()
    current = svc.store.record(svc.division, code)
    if current is None and version is not None:
        return _conflict(code, lang, _("This unit has no record any more; check it and try again."))
    if current is not None and version != current.version:
        return _conflict(
            code, lang, _("Someone changed this record meanwhile; the newer record is shown.")
        )
    last = svc.store.last_effective(svc.division).get(code)
    try:
        changes.check_effective(effective_on, today=clock.today(), last=last, correction=correction)
    except changes.ChangeRefused as exc:
        raise BadRequest(exc.text(lang)) from None
    correction = last is not None and effective_on < last
    old = current.record if current else None
    if correction:  # it goes into the past: it changes the record in force on that day
        old = svc.store.records_as_of(svc.division, effective_on).get(code)
        old = old.record if old else None
    new_status = changes.relapse(old.status if old else None, wanted)

    def keep_or(name: str, parse):
        return parse(body, name) if name in body else (getattr(old, name) if old else None)

    designated_on = keep_or("designated_on", _date_field)
    target_on = keep_or("target_on", _date_field)
    transformed_on = keep_or("transformed_on", _date_field)
    if new_status == TRANSFORMED and transformed_on is None:
        transformed_on = effective_on
    if "problems" in body:
        raw = body["problems"]
        if isinstance(raw, str):
            problems = split_problems(raw)
        elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
            problems = [p.strip() for p in raw if p.strip()]
        else:
            raise BadRequest(_("problems must be a list of text, or text separated by ';'."))
        if sum(len(p) for p in problems) > MAX_TEXT:
            raise BadRequest(
                _("%(field)s is too long (at most %(n)s characters).", field="problems", n=MAX_TEXT)
            )
    else:
        problems = list(old.problems) if old else []
    record = Record(
        code=code,
        status=new_status,
        division=svc.division,
        designated_on=designated_on,
        target_on=target_on,
        transformed_on=transformed_on,
        unit=_text_field(body, "unit", MAX_UNIT) if "unit" in body else (old.unit if old else ""),
        problems=problems,
        notes=_text_field(body, "notes", MAX_TEXT)
        if "notes" in body
        else (old.notes if old else ""),
    )
    if old is not None and record.content() == old.content() and not correction:
        raise BadRequest(_("Nothing changed: the record already says this."))
    try:
        svc.store.apply(
            [
                Change(
                    record,
                    old,
                    effective_on,
                    note=note,
                    expected_version=version,
                    correction=correction,
                )
            ],
            actor=current_user.username,
            source="web",
            sample=bool(current and current.sample),
        )
    except Conflict:
        return _conflict(
            code, lang, _("Someone changed this record meanwhile; the newer record is shown.")
        )
    LOGGER.info("%s changed %s to %s (web)", current_user.username, code, new_status)
    return jsonify(unit_details(code, lang))


# -- import -----------------------------------------------------------------------------------
@bp.post("/api/status/import")
@requires("import")
def import_status():
    """Import a status file (multipart ``file``; ``dry_run`` to only check it)."""
    dry_run = truthy(request.form.get("dry_run") or request.args.get("dry_run"))
    correct = truthy(request.form.get("correct") or request.args.get("correct"))
    return jsonify(run_web_import(request.files.get("file"), dry_run, correct).to_dict())


@bp.get("/api/summary")
def summary():
    """Send the figures above the map: units, listed, count per status, % transformed."""
    lang = api_lang()
    as_of = parse_as_of()
    svc = services()
    revision = svc.revision()
    figs = view_as_of(as_of, revision).figures
    return jsonify(
        {
            **figs,
            "as_of": as_of.isoformat() if as_of else None,
            "revision": revision,
            "labels": maps.status_labels(lang),
            "legend": maps.status_legend(figs["counts"], lang),
        }
    )


@bp.get("/api/trend")
def trend():
    """Send the count per status at each month's end, up to ``as_of`` or today."""
    lang = api_lang()
    as_of = parse_as_of()
    return jsonify(
        {
            "as_of": as_of.isoformat() if as_of else None,
            "points": services().reader.trend(as_of),
            "labels": maps.status_labels(lang),
            "colors": {s: maps.status_styles()[s]["fillColor"] for s in RECORD_STATUSES},
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
