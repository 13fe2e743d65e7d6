"""Briefing exports: map images and PDFs drawn on the server.

``GET /export/map.png|.pdf|.svg`` and ``GET /export/pack.pdf`` take the parameters of
`geo_app.printmap.parse_options` (area, paper, orientation, dpi, lang, title, marking) and
``as_of`` (YYYY-MM-DD: the records in force that day); a bad one is a 400 with a message
naming it. A pack made by a background job (``POST /api/jobs``, on any server) for the same
data and options is sent as it is. Roles with the ``export`` permission only. The bytes are
kept in memory per boundary set, data revision, day and parameters, so a status change shows
in the next export at once.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from flask import Blueprint, Response, request

from geo_app import jobs
from geo_app.outputs import printmap
from geo_app.web.common import file_cache, parse_as_of, requires, services, view_as_of

LOGGER = logging.getLogger(__name__)
bp = Blueprint("exports", __name__)


def _params() -> dict[str, Any]:
    """Return the query parameters; ``area`` may be repeated or comma-separated."""
    params: dict[str, Any] = {}
    for name in request.args:
        if name == "as_of":
            continue
        values = request.args.getlist(name)
        params[name] = values if name == "area" else values[-1]
    return params


def _send(kind: str, options: printmap.ExportOptions) -> Response:
    svc = services()
    as_of = parse_as_of()
    display = svc.display()
    revision = svc.revision()
    view = view_as_of(as_of, revision)
    # the figures' date is part of the key: with no record it is today, which moves
    key = (kind, display.key, revision, view.figures_date, as_of, options)

    def make() -> tuple[bytes, str]:
        source = printmap.source_label(svc.settings)
        data = printmap.MapData(display.units, view, key=display.key, source=source)
        if kind == "pack":
            body = printmap.render_pack(data, options)
        else:
            body = printmap.render_map(data, options)
        name = printmap.file_name(kind, options, data.figures_date)
        LOGGER.info("export %s rendered: %s (%d bytes)", kind, name, len(body))
        return body, name

    if kind == "pack":  # a background job may have made it already (on any server)
        done = svc.store.job_for_key(
            jobs.pack_key(display.key, revision, view.figures_date, as_of, options)
        )
        if done is not None and done["state"] == "done":
            body, name, _mimetype = svc.store.job_result(done["id"])
            return _file_response(body, name, options)
    body, name = file_cache().get(key, make)
    return _file_response(body, name, options)


def _file_response(body: bytes, name: str, options: printmap.ExportOptions) -> Response:
    response = Response(body, mimetype=printmap.MIME_TYPES[options.fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    return response.make_conditional(request)


@bp.get("/export/map.<fmt>")
@requires("export")
def map_file(fmt: str):
    """Send the briefing map as a PNG, PDF or SVG file."""
    return _send("map", printmap.parse_options(_params(), fmt))


@bp.get("/export/pack.pdf")
@requires("export")
def pack_file():
    """Send the briefing pack: the province, then a page per listed unit, in one PDF."""
    return _send("pack", printmap.parse_options(_params(), "pdf"))
