"""Briefing maps and packs drawn with matplotlib (the only room matplotlib lives in)."""

from geo_app.outputs.printmap.pack import page_count, render_pack
from geo_app.outputs.printmap.render import (
    MIME_TYPES,
    ExportOptions,
    MapData,
    MapFigure,
    build_map,
    file_name,
    format_of,
    pack_codes,
    parse_options,
    render_map,
    save,
    split_codes,
)

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
