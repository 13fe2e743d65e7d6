"""Briefing maps and packs drawn with matplotlib (the only room matplotlib lives in)."""

from geo_app.outputs.printmap.layout import MapData, MapFigure
from geo_app.outputs.printmap.options import (
    MIME_TYPES,
    ExportOptions,
    file_name,
    format_of,
    parse_options,
    split_codes,
)
from geo_app.outputs.printmap.pack import page_count, render_pack
from geo_app.outputs.printmap.render import build_map, pack_codes, render_map, save

__all__ = [
    "page_count",
    "MIME_TYPES",
    "ExportOptions",
    "MapData",
    "MapFigure",
    "build_map",
    "file_name",
    "format_of",
    "pack_codes",
    "parse_options",
    "render_map",
    "render_pack",
    "save",
    "split_codes",
]
