"""Briefing exports: map images and PDFs drawn on the server.

``GET /export/map.png|.pdf|.svg`` and ``GET /export/pack.pdf`` take the parameters of
`geo_app.export.parse_options` (area, paper, orientation, dpi, lang, title, marking) and
``as_of`` (YYYY-MM-DD: the records in force that day); a bad one is a 400 with a message
naming it. Roles with the ``export`` permission only. The bytes are kept in memory per
boundary set, data revision, day and parameters, so a status change shows in the next export
at once.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request

from geo_app import export
from geo_app.web import services
from geo_app.web.asof import parse_as_of, standing_as_of
from geo_app.web.auth import requires

LOGGER = logging.getLogger(__name__)
bp = Blueprint("exports", __name__)

#: Rendered files kept per worker (a 300-dpi A4 PNG is about 1 MB; a full pack a few MB).
CACHE_ENTRIES = 16


def file_cache():
    """Return the app's cache of rendered files (exports and downloads), a few entries big."""
    from geo_app.web.pages import MapCache

    return current_app.extensions.setdefault("geo_app_files", MapCache(CACHE_ENTRIES))


def _params() -> dict[str, Any]:
    """Return the query parameters; ``area`` may be repeated or comma-separated."""
    params: dict[str, Any] = {}
    for name in request.args:
        if name == "as_of":
            continue
        values = request.args.getlist(name)
        params[name] = values if name == "area" else values[-1]
    return params


def _send(kind: str, options: export.ExportOptions) -> Response:
    svc = services()
    as_of = parse_as_of()
    display = svc.display()
    revision = svc.revision()
    key = (kind, display.key, revision, export.today(), as_of, options)

    def make() -> tuple[bytes, str]:
        source = export.source_label(svc.settings)
        if as_of is None:
            data = export.load_data(display, svc.store, svc.division, source)
        else:  # the records in force that day, from the history
            data = export.MapData.of(
                display.units,
                standing_as_of(as_of, revision),
                key=display.key,
                revision=revision,
                source=source,
                as_of=as_of,
            )
        if kind == "pack":
            body = export.render_pack(data, options)
        else:
            body = export.render_map(data, options)
        name = export.file_name(kind, options, data.figures_date)
        LOGGER.info("export %s rendered: %s (%d bytes)", kind, name, len(body))
        return body, name

    body, name = file_cache().get(key, make)
    response = Response(body, mimetype=export.MIME_TYPES[options.fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    return response.make_conditional(request)


@bp.get("/export/map.<fmt>")
@requires("export")
def map_file(fmt: str):
    """Send the briefing map as a PNG, PDF or SVG file."""
    return _send("map", export.parse_options(_params(), fmt))


@bp.get("/export/pack.pdf")
@requires("export")
def pack_file():
    """Send the briefing pack: the province, then a page per listed unit, in one PDF."""
    return _send("pack", export.parse_options(_params(), "pdf"))
