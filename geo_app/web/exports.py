"""Briefing exports and data downloads, both made from the one export registry
(`geo_app.outputs.registry`).

``GET /export/map.png|.pdf|.svg`` and ``GET /export/pack.pdf`` take the parameters of
`geo_app.outputs.printmap.parse_options` (area, paper, orientation, dpi, lang, title, marking,
programme) and ``as_of`` (YYYY-MM-DD: the records in force that day); a bad one is a 400 with a
message naming it. Roles with the ``export`` permission only. The bytes are kept in memory per
boundary set, programme, data revision, day and parameters, so a status change shows in the
next export at once. A pack made by a background job (``POST /api/jobs``, on any server) for
the same data and options is sent as it is.
"""

from __future__ import annotations

from flask import Blueprint

from geo_app.outputs import registry
from geo_app.web.common import requires, send_output

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
