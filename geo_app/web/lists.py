"""The list of listed units (``/list``), its JSON twin (``GET /api/communes``), its downloads,
and what changed between two dates (``GET /api/changes``).

Everything here is read from the read model (`geo_app.readmodel`): the same statuses, deadlines
and targets as the map, the panel and the exports.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from geo_app import clock
from geo_app.core.names import responsible_key, search_key
from geo_app.core.programme import NOT_LISTED, Programme
from geo_app.core.targets import STATES
from geo_app.errors import BadRequest
from geo_app.i18n import format_date
from geo_app.outputs import records
from geo_app.readmodel import responsible_figures
from geo_app.web.common import (
    api_lang,
    export_downloads,
    page_context,
    page_lang,
    parse_as_of,
    programme_query,
    request_programme,
    requires,
    services,
    unit_geometry,
)

bp = Blueprint("lists", __name__)

#: How the list may be sorted ("-" in front: the other way round).
SORTS = ("name", "status", "deadline", "target_on", "targets", "unit", "last_change")
#: Deadline states, most urgent first (the "deadline" sort).
_URGENCY = {
    s: i for i, s in enumerate(("overdue", "due_soon", "on_track", "met_late", "met_early", "none"))
}


def _units() -> list[dict[str, str]]:
    geometry = unit_geometry()
    return [
        {"code": c, "name": n, "kind": k}
        for c, n, k in zip(geometry.codes, geometry.names, geometry.kinds, strict=True)
    ]


def _choices(name: str, allowed) -> list[str]:
    raw = request.args.get(name, "")
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise BadRequest(f"{name}: {bad[0]!r} is not one of {', '.join(allowed)}")
    return values


def list_rows(prog: Programme, lang: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the rows the request's filters keep, sorted as asked, and the filters read.

    Raises
    ------
    BadRequest
        Naming a filter or sort value that is not allowed.
    """
    as_of = parse_as_of()
    statuses = _choices("status", prog.record_statuses)
    deadlines = _choices("deadline", STATES)
    unit = (request.args.get("unit") or "").strip()[:300]
    query = (request.args.get("q") or "").strip()[:100]
    sort = request.args.get("sort") or "deadline"
    if sort.lstrip("-") not in SORTS:
        raise BadRequest(f"sort: {sort!r} is not one of {', '.join(SORTS)} (or -name...)")
    svc = services()
    rows = svc.reader.unit_rows(_units(), as_of, prog.code, lang, units_key=unit_geometry().key)
    everything = rows
    if statuses:
        rows = [r for r in rows if r["status"] in statuses]
    if deadlines:
        rows = [r for r in rows if r["deadline"]["state"] in deadlines]
    if unit:
        key = responsible_key(unit)
        rows = [r for r in rows if r["unit_key"] == key]
    if query:
        q = search_key(query)
        rows = [r for r in rows if q in search_key(f"{r['kind']} {r['name']}") or q == r["code"]]
    rows = sorted(rows, key=_sort_key(prog, sort.lstrip("-")), reverse=sort.startswith("-"))
    filters = {
        "status": statuses,
        "deadline": deadlines,
        "unit": unit,
        "q": query,
        "sort": sort,
        "as_of": as_of.isoformat() if as_of else None,
    }
    filters["units"] = responsible_figures(prog, everything)
    return rows, filters


def _sort_key(prog: Programme, name: str):
    def key(row: dict[str, Any]):
        by_name = search_key(row["name"])
        if name == "status":
            return (-prog.gravity(row["status"]), by_name)
        if name == "deadline":
            days = row["deadline"]["days"]
            return (_URGENCY[row["deadline"]["state"]], days if days is not None else 0, by_name)
        if name == "target_on":
            return (row["target_on"] or "9999", by_name)
        if name == "targets":
            total = row["targets_total"] or 1
            return (row["targets_met"] / total, by_name)
        if name == "unit":
            return (row["unit_key"], by_name)
        if name == "last_change":
            return (row["last_change"] or "", by_name)
        return (by_name, row["code"])

    return key


@bp.get("/api/communes")
def communes():
    """Send the listed units with their status, deadline, targets and responsible unit."""
    lang = api_lang()
    prog = request_programme()
    rows, filters = list_rows(prog, lang)
    units = [{k: v for k, v in r.items() if k != "unit_key"} for r in rows]
    figures = filters.pop("units")
    return jsonify({"programme": prog.code, "filters": filters, "units": units, "by_unit": figures})


def _table(prog: Programme, rows: list[dict[str, Any]], lang: str) -> list[list[str]]:
    head = [
        _("Code"),
        _("Name"),
        _("Kind"),
        _("Status"),
        _("Deadline"),
        _("Target date"),
        _("Targets met"),
        _("Responsible unit"),
        _("Last change"),
    ]
    out = [head]
    for r in rows:
        out.append(
            [
                r["code"],
                r["name"],
                r["kind"],
                r["status_label"],
                deadline_text(r["deadline"]),
                format_date(dt.date.fromisoformat(r["target_on"]), lang) if r["target_on"] else "",
                f"{r['targets_met']}/{r['targets_total']}",
                r["unit"],
                format_date(dt.date.fromisoformat(r["last_change"]), lang)
                if r["last_change"]
                else "",
            ]
        )
    return out


def deadline_text(deadline: dict[str, Any]) -> str:
    """Return a deadline state as a reader says it ("Quá hạn 45 ngày", "Còn 12 ngày")."""
    state, days = deadline["state"], deadline["days"]
    if state == "overdue":
        return _("%(n)s days overdue", n=-days)
    if state in ("due_soon", "on_track"):
        return _("%(n)s days left", n=days)
    if state == "met_early":
        return _("Met early")
    if state == "met_late":
        return _("Met late")
    return _("No deadline")


def state_labels() -> dict[str, str]:
    """Return the name of every deadline state, in the page's language."""
    return {
        "overdue": _("Overdue"),
        "due_soon": _("Due soon"),
        "on_track": _("On track"),
        "met_early": _("Met early"),
        "met_late": _("Met late"),
        "none": _("No deadline"),
    }


@bp.get("/list")
@requires("read")
def list_page():
    """Show the listed units as a table: filters, sort, downloads, figures per responsible unit."""
    lang = page_lang()
    prog = request_programme()
    rows, filters = list_rows(prog, lang)
    figures = filters.pop("units")
    params = {k: v for k, v in request.args.items() if k not in ("lang",)}
    html = render_template(
        "list.html",
        **page_context(),
        programme=prog,
        rows=rows,
        filters=filters,
        by_unit=figures,
        states=STATES,
        state_labels=state_labels(),
        unit_key=responsible_key(filters["unit"]) if filters["unit"] else None,
        deadline_text=deadline_text,
        format_day=lambda iso: format_date(dt.date.fromisoformat(iso), lang) if iso else "",
        sort_url=lambda name: url_for(
            "lists.list_page",
            **{**params, "sort": ("-" + name) if filters["sort"] == name else name},
        ),
        downloads=export_downloads(prog) if current_user.can("export") else [],
        csv_url=url_for("lists.list_file", fmt="csv", **params),
        xlsx_url=url_for("lists.list_file", fmt="xlsx", **params),
        map_url=url_for("pages.index", **programme_query(prog)),
        today=clock.today(),
        not_listed=NOT_LISTED,
    )
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/list.<fmt>")
@requires("export")
def list_file(fmt: str):
    """Download exactly what the list shows (its filters and order) as CSV or XLSX."""
    if fmt not in ("csv", "xlsx"):
        raise BadRequest(f"no list download in format {fmt!r}; use csv or xlsx")
    lang = page_lang()
    prog = request_programme()
    rows, _filters = list_rows(prog, lang)
    table = _table(prog, rows, lang)
    name = f"danh-sach-{prog.code}-{clock.today().isoformat()}.{fmt}"
    body = records.spreadsheet_bytes(table, fmt, "list")
    mimetype = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _day(name: str, default: dt.date | None) -> dt.date:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        if default is None:
            raise BadRequest(f"{name} is required: a date written YYYY-MM-DD")
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date written YYYY-MM-DD (got {raw[:40]!r})") from None


@bp.get("/api/changes")
def changes():
    """Send every unit whose drawn status or deadline state changed between two dates."""
    lang = api_lang()
    prog = request_programme()
    today = clock.today()
    end = _day("to", today)
    start = _day("from", None)
    if start > end:
        raise BadRequest(f"from ({start}) is after to ({end})")
    if end > today:
        raise BadRequest(f"to ({end}) is in the future")
    found = services().reader.changes(
        _units(), start, end, prog.code, units_key=unit_geometry().key
    )
    for entry in found["changes"]:
        entry["status_before_label"] = prog.label(entry["status_before"], lang)
        entry["status_after_label"] = prog.label(entry["status_after"], lang)
    return jsonify(found)
