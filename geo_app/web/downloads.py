"""Downloads of the joined layer for GIS staff: GeoJSON, GeoPackage, zipped Shapefile, CSV,
XLSX. The same files as `geo-app status export`, cached per data revision."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from flask import Blueprint, Response
from flask_login import current_user

from geo_app.errors import BadRequest
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.outputs import gis, records
from geo_app.web.common import (
    audit_export,
    file_cache,
    map_cache,
    render_slot,
    requires,
    services,
)

LOGGER = logging.getLogger(__name__)
bp = Blueprint("downloads", __name__)

MIME_TYPES = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "zip": "application/zip",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_lock = threading.Lock()


def _source_units():
    """Return the boundary set's own (repaired, not simplified) units, read once per set."""
    svc = services()
    s = svc.settings
    return map_cache().get(
        ("source-units", svc.display().key),
        lambda: (
            boundaries.load(
                s["BOUNDARIES"], boundaries.FieldMap.from_settings(s), s["ENCODING"] or None
            ).units
        ),
    )


def _render(fmt: str, revision: int) -> bytes:
    svc = services()
    units = _source_units()
    standing = svc.reader.standing(None, revision)
    if fmt in ("csv", "xlsx"):
        rows = records.export_rows(importer.unit_refs(units), standing.records)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"records.{fmt}"
            records.write_export(rows, out)
            return out.read_bytes()
    frame = gis.layer_frame(units, standing)
    return gis.layer_bytes(frame, f".{fmt}")


@bp.get("/download/communes.<fmt>")
@requires("export")
def communes(fmt: str):
    """Send the units joined to their records as a GIS file or a spreadsheet."""
    if fmt not in MIME_TYPES:
        raise BadRequest(f"no download in format {fmt!r}; use one of: {', '.join(MIME_TYPES)}")
    svc = services()
    revision = svc.revision()
    key = ("download", fmt, svc.display().key, revision)

    def make() -> bytes:
        with render_slot(current_user.username), _lock:  # GDAL's writers are not thread-safe
            return _render(fmt, revision)

    body = file_cache().get(key, make)
    name = f"communes-{svc.division}-r{revision}.{fmt}"
    audit_export("export.download", name, {"format": fmt, "revision": revision})
    resp = Response(body, mimetype=MIME_TYPES[fmt])
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
