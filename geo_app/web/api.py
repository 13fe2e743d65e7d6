"""JSON API: the map page's twin. Bad parameters get a 400, unknown units a 404, both as JSON.

Every route takes ``?programme=CODE`` (default ``hotspot``): the statuses, fields and figures
are that programme's (`geo_app.core.programme`).
"""

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
from geo_app.core.programme import NOT_LISTED, Programme, all_programmes
from geo_app.core.records import Record, parse_date
from geo_app.errors import BadRequest, GeoAppError, NotFound
from geo_app.geodata import divisions
from geo_app.store import Change, Conflict, TargetChange
from geo_app.web.common import (
    Payload,
    api_lang,
    figure_tiles,
    map_cache,
    parse_as_of,
    request_programme,
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
    prog = request_programme()
    svc = services()
    geometry = unit_geometry()
    revision = svc.revision()
    key = ("communes.geojson", geometry.key, prog.code, revision, lang, as_of)

    def make() -> Payload:
        statuses = view_as_of(as_of, revision, prog.code).listed
        body = geometry.communes_geojson(statuses, lang, prog.code)
        return Payload.of(body, "application/geo+json")

    return send_payload(map_cache().get(key, make), "private, no-store")


def _check_code(code: str) -> dict[str, str]:
    """Return the unit of the boundary set with `code` (400 when malformed, 404 when absent)."""
    if not _CODE.match(code):
        raise BadRequest(f"{code!r} is not a unit code (letters, digits, - or _; up to 16)")
    unit = unit_geometry().unit(code)
    if unit is None:
        raise NotFound(f"no unit with code {code} in the boundary set")
    return unit


def _may_edit(code: str) -> bool:
    """Tell whether the logged-in user may change the record of `code` (in every programme:
    an officer's assignments are units, not programmes)."""
    if not current_user.is_authenticated:
        return False
    if current_user.can("edit_any"):
        return True
    svc = services()
    return current_user.can("edit_assigned") and code in svc.store.assignments(
        current_user.username, svc.division
    )


def unit_details(
    code: str, lang: str, as_of: dt.date | None = None, prog: Programme | None = None
) -> dict[str, Any]:
    """Return what ``GET /api/communes/<code>`` sends: the read model's details of the unit
    (`geo_app.readmodel.ReadModel.details`) and whether the user may change its record."""
    unit = _check_code(code)
    prog = prog or request_programme()
    details = services().reader.details(unit, as_of, prog.code, lang)
    details["can_edit"] = as_of is None and _may_edit(code)
    return details


@bp.get("/api/communes/<code>")
def commune(code: str):
    """Send one unit's record and history (404 when the boundary set has no such unit)."""
    lang = api_lang()
    return jsonify(unit_details(code, lang, parse_as_of()))


@bp.get("/api/communes/<code>/neighbours")
def neighbours(code: str):
    """List the units next to one unit (in SQL with PostGIS, else with shapely)."""
    lang = api_lang()
    prog = request_programme()
    svc = services()
    geometry = unit_geometry()
    if geometry.unit(code) is None:
        raise NotFound(f"no unit {code[:20]!r} in the boundary set")
    codes, how = divisions.neighbours(svc.store, code, svc.settings)
    statuses = view_as_of(None, None, prog.code).statuses
    labels = maps.status_labels(lang, prog.code)
    units = []
    for c in codes:
        unit = geometry.unit(c)
        if unit is not None:
            status = statuses.get(c, "not_listed")
            units.append({**unit, "status": status, "status_label": labels[status]})
    return jsonify({"code": code, "programme": prog.code, "neighbours": units, "computed_by": how})


# -- editing ----------------------------------------------------------------------------------
MAX_NOTE = 2000
#: What an edit sends besides the programme's fields.
_EDIT_KEYS = {"correction", "status", "effective_on", "note", "version"}


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


def _field_value(prog: Programme, body: dict[str, Any], name: str) -> Any:
    """Return a programme field's value as sent, checked (400 naming it when wrong)."""
    f = prog.field(name)
    raw = body.get(name)
    if f.type == "date":
        return _date_field(body, name)
    if f.type == "list":
        if isinstance(raw, list) and all(isinstance(p, str) for p in raw):
            items = f.clean(raw)
        elif raw is None or isinstance(raw, str):
            items = f.clean(raw)
        else:
            raise BadRequest(
                _("%(field)s must be a list of text, or text separated by ';'.", field=name)
            )
        if sum(len(p) for p in items) > f.max_length:
            raise BadRequest(
                _("%(field)s is too long (at most %(n)s characters).", field=name, n=f.max_length)
            )
        return items
    if f.type == "number":
        if raw is None or raw == "":
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise BadRequest(_("%(field)s must be a number.", field=name))
        try:
            return f.clean(raw)
        except ValueError:
            raise BadRequest(_("%(field)s must be a number.", field=name)) from None
    return _text_field(body, name, f.max_length)


def _conflict(code: str, lang: str, message: str):
    body = {"error": message, "status": 409, "current": unit_details(code, lang)}
    return jsonify(body), 409


@bp.post("/api/communes/<code>/status")
@requires("edit_assigned")
def edit_status(code: str):
    """Change a unit's status and record: JSON {status, effective_on, note, version, ...}."""
    lang = api_lang()
    prog = request_programme()
    _check_code(code)
    if not _may_edit(code):
        raise GeoAppError(_("You may only change the units assigned to you."), status=403)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(_("Send the change as a JSON object."))
    unknown = sorted(set(body) - _EDIT_KEYS - set(prog.by_field))
    if unknown:
        raise BadRequest(_("Unknown field: %(fields)s.", fields=", ".join(unknown)))
    codes = ", ".join(prog.record_statuses)
    raw_status = body.get("status")
    if not isinstance(raw_status, str) or not raw_status.strip():
        raise BadRequest(_("status is required: one of %(codes)s.", codes=codes))
    try:
        wanted = prog.parse_status(raw_status)
    except ValueError:
        raise BadRequest(
            _(
                "status %(value)s is unknown; use one of %(codes)s.",
                value=repr(raw_status[:40]),
                codes=codes,
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
    values = {name: _field_value(prog, body, name) for name in prog.by_field if name in body}

    svc = services()
    current = svc.store.record(svc.division, code, prog.code)
    if current is None and version is not None:
        return _conflict(code, lang, _("This unit has no record any more; check it and try again."))
    if current is not None and version != current.version:
        return _conflict(
            code, lang, _("Someone changed this record meanwhile; the newer record is shown.")
        )
    last = svc.store.last_effective(svc.division, prog.code).get(code)
    try:
        changes.check_effective(effective_on, today=clock.today(), last=last, correction=correction)
    except changes.ChangeRefused as exc:
        raise BadRequest(exc.text(lang)) from None
    correction = last is not None and effective_on < last
    old = current.record if current else None
    if correction:  # it goes into the past: it changes the record in force on that day
        old = svc.store.records_as_of(svc.division, effective_on, prog.code).get(code)
        old = old.record if old else None
    new_status = prog.relapse(old.status if old else None, wanted)
    kept = dict(old.values) if old else {}
    record = Record(code, new_status, svc.division, prog.code, {**kept, **values})
    stamp = prog.by_code[new_status].stamps
    if stamp and record.get(stamp) is None:  # e.g. transformed: transformed_on is that day
        record = record.replace(**{stamp: effective_on})
    try:
        changes.check_dates(record.values, clock.today(), prog.code)
    except changes.ChangeRefused as exc:
        raise BadRequest(exc.text(lang)) from None
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
    LOGGER.info("%s changed %s to %s (%s, web)", current_user.username, code, new_status, prog.code)
    return jsonify(unit_details(code, lang, prog=prog))


# -- targets ----------------------------------------------------------------------------------
_TARGET_KEYS = {"key", "title", "due_on", "met_on", "note", "removed"}


@bp.post("/api/communes/<code>/targets")
@requires("edit_assigned")
def set_target(code: str):
    """Tick, note, add, change or remove a target of a unit's checklist.

    JSON ``{"key": "d2", "met_on": "2026-11-20", "note": "..."}`` ticks a target (an officer
    for an assigned unit); a new ``title`` with ``"key": null``, a changed title or due date,
    or ``"removed": true`` edits the list itself (administrators).
    """
    lang = api_lang()
    prog = request_programme()
    unit = _check_code(code)
    if not _may_edit(code):
        raise GeoAppError(_("You may only change the units assigned to you."), status=403)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(_("Send the change as a JSON object."))
    unknown = sorted(set(body) - _TARGET_KEYS)
    if unknown:
        raise BadRequest(_("Unknown field: %(fields)s.", fields=", ".join(unknown)))
    svc = services()
    today = clock.today()
    details = svc.reader.details(unit, None, prog.code, lang)
    if details["status"] == NOT_LISTED:
        raise BadRequest(_("This unit is not listed: it has no targets."))
    current = {t["key"]: t for t in details["targets"]}
    key = body.get("key")
    if key is not None and key not in current:
        raise NotFound(_("This unit has no target %(key)s.", key=str(key)[:20]))
    old = current.get(key, {})
    title = _text_field(body, "title", 300) if "title" in body else old.get("title", "")
    if not title:
        raise BadRequest(_("title is required: what the target is."))
    due_on = _date_field(body, "due_on") if "due_on" in body else parse_date(old.get("due_on"))
    met_on = _date_field(body, "met_on") if "met_on" in body else parse_date(old.get("met_on"))
    note = _text_field(body, "note", MAX_NOTE) if "note" in body else old.get("note", "")
    removed = body.get("removed", False)
    if not isinstance(removed, bool):
        raise BadRequest(_("removed must be true or false."))
    latest = {"due_on": changes.latest_ahead(today), "met_on": today}
    for name, day in (("due_on", due_on), ("met_on", met_on)):
        if day is not None and not changes.EARLIEST <= day <= latest[name]:
            raise BadRequest(_("%(field)s is not a plausible date.", field=name))
    if met_on is not None and met_on > today:
        raise BadRequest(_("met_on cannot be in the future."))
    edits_list = (
        key is None
        or removed
        or title != old.get("title")
        or (due_on != parse_date(old.get("due_on")))
    )
    if edits_list and not current_user.can("admin"):
        raise GeoAppError(
            _("Only an administrator adds, renames, re-dates or removes a target."), status=403
        )
    if (
        key is not None
        and not removed
        and (title, due_on, met_on, note)
        == (
            old["title"],
            parse_date(old["due_on"]),
            parse_date(old["met_on"]),
            old["note"],
        )
    ):
        raise BadRequest(_("Nothing changed: the target already says this."))
    svc.store.save_targets(
        [
            TargetChange(
                prog.code, svc.division, code, key, title, due_on, met_on, note, today, removed
            )
        ],
        actor=current_user.username,
        source="web",
    )
    return jsonify(unit_details(code, lang, prog=prog))


_REPAIR_KEYS = {"note", "effective_on", "status"}


@bp.post("/api/communes/<code>/history/<int:entry_id>")
@requires("admin")
def repair_history(code: str, entry_id: int):
    """Repair one history entry of a unit (administrators): JSON {note, and any of
    effective_on, status and the programme's fields}.

    What is not sent keeps the entry's value. The unit's current record becomes its latest
    entry by (effective_on, id); the audit keeps the entry's old and new content.
    """
    lang = api_lang()
    prog = request_programme()
    _check_code(code)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(_("Send the change as a JSON object."))
    unknown = sorted(set(body) - _REPAIR_KEYS - set(prog.by_field))
    if unknown:
        raise BadRequest(_("Unknown field: %(fields)s.", fields=", ".join(unknown)))
    note = _text_field(body, "note", MAX_NOTE)
    if not note:
        raise BadRequest(_("note is required: say why the record changes."))
    svc = services()
    history = svc.store.history(svc.division, code, prog.code)
    entry = next((h for h in history if h["id"] == entry_id), None)
    if entry is None:
        raise NotFound(
            _("Unit %(code)s has no history entry %(entry)s.", code=code, entry=entry_id)
        )
    old = Record.from_content(
        {**(entry["new"] or {"code": code}), "status": entry["new_status"]}, prog.code
    )
    status = old.status
    if "status" in body:
        raw = body["status"]
        try:
            status = prog.parse_status(raw if isinstance(raw, str) else "")
        except ValueError:
            raise BadRequest(
                _(
                    "status %(value)s is unknown; use one of %(codes)s.",
                    value=repr(str(raw)[:40]),
                    codes=", ".join(prog.record_statuses),
                )
            ) from None
    effective_on = (
        _date_field(body, "effective_on")
        if "effective_on" in body
        else dt.date.fromisoformat(entry["effective_on"])
    )
    if effective_on is None:
        raise BadRequest(_("effective_on is required: the date the change took effect."))
    values = {name: _field_value(prog, body, name) for name in prog.by_field if name in body}
    record = old.replace(status=status, division=svc.division, **values)
    try:
        changes.check_repair(effective_on, record, today=clock.today())
    except changes.ChangeRefused as exc:
        raise BadRequest(exc.text(lang)) from None
    svc.store.repair_history(
        svc.division, code, entry_id, effective_on, record, note, current_user.username, "web"
    )
    LOGGER.info("%s repaired history entry %s of %s (web)", current_user.username, entry_id, code)
    return jsonify(unit_details(code, lang, prog=prog))


# -- import -----------------------------------------------------------------------------------
@bp.post("/api/status/import")
@requires("import")
def import_status():
    """Import a status file (multipart ``file``; ``dry_run`` to only check it)."""
    dry_run = truthy(request.form.get("dry_run") or request.args.get("dry_run"))
    correct = truthy(request.form.get("correct") or request.args.get("correct"))
    prog = request_programme()
    sheet = request.form.get("sheet") or request.args.get("sheet")
    result = run_web_import(request.files.get("file"), dry_run, correct, prog.code, sheet)
    return jsonify(result.to_dict())


@bp.get("/api/summary")
def summary():
    """Send the figures above the map: units, listed, count per status, the headline share,
    the legend rows and the figure tiles (label, count, note) as the page shows them."""
    lang = api_lang()
    as_of = parse_as_of()
    prog = request_programme()
    svc = services()
    revision = svc.revision()
    figs = view_as_of(as_of, revision, prog.code).figures
    return jsonify(
        {
            **figs,
            "programme": prog.code,
            "as_of": as_of.isoformat() if as_of else None,
            "revision": revision,
            "labels": maps.status_labels(lang, prog.code),
            "legend": maps.status_legend(figs["counts"], lang, prog.code),
            "tiles": figure_tiles(prog, figs, lang),
        }
    )


@bp.get("/api/trend")
def trend():
    """Send the count per status at each month's end, up to ``as_of`` or today."""
    lang = api_lang()
    as_of = parse_as_of()
    prog = request_programme()
    return jsonify(
        {
            "programme": prog.code,
            "as_of": as_of.isoformat() if as_of else None,
            "points": services().reader.trend(as_of, programme=prog.code),
            "labels": maps.status_labels(lang, prog.code),
            "colors": {s.code: s.color for s in prog.statuses if s.code != NOT_LISTED},
        }
    )


@bp.get("/api/programmes")
def programmes_list():
    """Send the programmes there are, with their statuses, palette and fields."""
    lang = api_lang()
    return jsonify({"programmes": [p.describe(lang) for p in all_programmes()]})


@bp.get("/api/search")
def search():
    """Find units by name, typed with or without diacritics ("quang phu" finds Quảng Phú), or
    by a former unit's name ("Thị trấn Mường Lát"), with the unit it is now part of."""
    query = request.args.get("q", "")
    if not query.strip():
        raise BadRequest("q is required: part of a unit's name, or its code")
    if len(query) > MAX_QUERY:
        raise BadRequest(f"q is too long (at most {MAX_QUERY} characters)")
    limit = _int_arg("limit", 10, 1, MAX_LIMIT)
    geometry = unit_geometry()
    svc = services()
    revision = svc.revision()
    former = map_cache().get(
        ("former-search", geometry.key, svc.division, revision),
        lambda: maps.former_index(geometry, svc.reader.former_names(revision)),
    )
    matches = maps.search(geometry, query, limit=limit, former=former)
    return jsonify({"query": query, "matches": matches})
