"""Briefing exports and data downloads, both made from the one export registry
(`geo_app.outputs.registry`).

``GET /export/map.png|.pdf|.svg`` and ``GET /export/pack.pdf`` take the parameters of
`geo_app.outputs.printmap.parse_options` (area, paper, orientation, dpi, lang, title, marking,
programme) and ``as_of`` (YYYY-MM-DD: the records in force that day); a bad one is a 400 with a
message naming it. Roles with the ``export`` permission only. The bytes are kept in memory per
boundary set, programme, data revision, day and parameters, so a status change shows in the
next export at once. A pack made by a background job (``POST /api/jobs``, on any server) for
the same data and options is sent as it is.

``GET /api/export/check`` checks what the export dialog asks (``what``: map_png, map_pdf,
map_svg or pack, and the options) and answers the file's URL and whether a background job
should make it (a pack; a PNG map from `JOB_DPI`), or a 400 naming the field and saying, in the
page's language, what to write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask_babel import gettext as _

from geo_app import clock
from geo_app.errors import BadRequest
from geo_app.i18n import format_date
from geo_app.outputs import registry
from geo_app.outputs.printmap import options as printmap
from geo_app.web.common import page_lang, parse_as_of, requires, send_output, unit_geometry

bp = Blueprint("exports", __name__)


@bp.get("/export/map.<fmt>")
@requires("export")
def map_file(fmt: str):
    """Send the briefing map as a PNG, PDF or SVG file."""
    return send_output(registry.get("map"), fmt)


@bp.get("/export/pack.pdf")
@requires("export")
def pack_file():
    """Send the briefing pack: the province, then a page per listed unit, in one PDF."""
    return send_output(registry.get("pack"), "pdf")


#: From this resolution on, a PNG map is made by a background job (seconds at A3).
JOB_DPI = 300
#: What the export dialog offers: (export, format) by choice.
CHOICES = {
    "map_png": ("map", "png"),
    "map_pdf": ("map", "pdf"),
    "map_svg": ("map", "svg"),
    "pack": ("pack", "pdf"),
}


def _problem(field: str, message: str) -> Response:
    resp = jsonify({"ok": False, "field": field, "error": message})
    resp.status_code = 400
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/api/export/check")
@requires("export")
def check():
    """Check the export dialog's choices: the file's URL (and the job's parameters for a pack),
    or a 400 naming the field that is wrong and why, in the page's language."""
    args = request.args
    choice = args.get("what", "")
    if choice not in CHOICES:
        return _problem("what", _("Choose what to export."))
    name, fmt = CHOICES[choice]
    params: dict[str, Any] = {}
    for key in args:
        if key in ("what", "as_of"):
            continue
        values = [v.strip() for v in args.getlist(key) if v.strip()]
        if values:
            params[key] = values if key == "area" else values[-1]
    paper = params.get("paper", "A4")
    if paper not in printmap.PAPERS:
        return _problem("paper", _("Choose a paper size: A4, A3 or a 16:9 slide."))
    if params.get("orientation", "landscape") not in printmap.ORIENTATIONS:
        return _problem("orientation", _("Choose landscape or portrait."))
    if paper == "slide" and params.get("orientation", "landscape") != "landscape":
        return _problem("orientation", _("A 16:9 slide is landscape only."))
    if "dpi" in params:
        dpi_range = {"min": printmap.DPI_MIN, "max": printmap.DPI_MAX}
        try:
            dpi = int(params["dpi"])
        except ValueError:
            return _problem(
                "dpi",
                _(
                    "The resolution must be a whole number from %(min)s to %(max)s dpi.",
                    **dpi_range,
                ),
            )
        if not printmap.DPI_MIN <= dpi <= printmap.DPI_MAX:
            return _problem(
                "dpi",
                _(
                    "The resolution must be a whole number from %(min)s to %(max)s dpi.",
                    **dpi_range,
                ),
            )
    if params.get("lang", "vi") not in printmap.LANGS:
        return _problem("lang", _("Choose Vietnamese or English."))
    for key in ("title", "marking"):
        if len(" ".join(str(params.get(key, "")).split())) > printmap.TITLE_MAX:
            return _problem(key, _("At most %(n)s characters.", n=printmap.TITLE_MAX))
    try:
        as_of = parse_as_of()
    except BadRequest:
        return _problem("as_of", _("The day shown is not a valid date; reload the page."))
    if "since" in params:
        try:
            since = dt.date.fromisoformat(params["since"])
        except ValueError:
            return _problem("since", _("Write the date as dd/mm/yyyy, e.g. 01/11/2026."))
        end = as_of or clock.today()
        if since > end:
            return _problem(
                "since",
                _("The date must not be after %(date)s.", date=format_date(end, page_lang())),
            )
    known = set(unit_geometry().codes)
    for code in printmap.split_codes(params.get("area")):
        if code not in known:
            return _problem("area", _("No unit has the code %(code)s.", code=code))
    try:
        registry.get(name).parse(params, fmt)
    except BadRequest as exc:  # what is left: an unknown unit or programme, a character
        field = exc.message.split(":", 1)[0] if ":" in exc.message else ""
        return _problem(field, exc.message)
    query = {**params}
    if as_of is not None:
        query["as_of"] = as_of.isoformat()
    if name == "pack":
        url = url_for("exports.pack_file", **query)
    else:
        url = url_for("exports.map_file", fmt=fmt, **query)
    # a pack, and a map image at print resolution, take seconds: a background job makes them
    dpi = int(params.get("dpi", printmap.DPI_DEFAULT))
    job = name == "pack" or (fmt == "png" and dpi >= JOB_DPI)
    body = {"ok": True, "url": url, "kind": name, "job": job, "params": query}
    if job and name == "map":
        body["params"] = {**query, "format": fmt}
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
