"""Downloads of the joined layer for GIS staff and of the records: GeoJSON, GeoPackage, zipped
Shapefile, CSV, XLSX. The same files as `geo-app status export`, made from the one export
registry (`geo_app.outputs.registry`), cached per programme and data revision."""

from __future__ import annotations

from flask import Blueprint

from geo_app.outputs import registry
from geo_app.web.common import requires, send_output

bp = Blueprint("downloads", __name__)


@bp.get("/download/communes.<fmt>")
@requires("export")
def communes(fmt: str):
    """Send the units joined to their records as a GIS file or a spreadsheet."""
    return send_output(registry.by_format("data", fmt), fmt)
