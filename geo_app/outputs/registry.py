"""Every export type, registered once: its formats and MIME types, how its options are read,
how it is drawn and what its file is called.

The web routes (``/export/map.<fmt>``, ``/export/pack.pdf``, ``/download/communes.<fmt>``)
and the commands (``geo-app export map|pack``, ``geo-app status export``) are made from this
one table (the pattern of pygeoapi's formatters and datasette's renderers): a new export type
is a new entry here, and both doors have it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from geo_app import clock
from geo_app.core import programme as programmes
from geo_app.errors import BadRequest
from geo_app.io import targets as targets_io
from geo_app.io.rows import unit_refs
from geo_app.outputs import gis, printmap, records
from geo_app.readmodel import ReadModel, View, responsible_figures


@dataclass
class Source:
    """What an export is made from: the read model's view and the boundary set's units.

    Parameters
    ----------
    view:
        What the units show in one programme on one day (`geo_app.readmodel.View`).
    display_units, display_key:
        The prepared display geometry (print maps).
    load_units:
        Returns the boundary set's own units (GIS layers, spreadsheets); called once, when an
        export needs them.
    label:
        How the footer names the boundary set ("thanh-hoa-2025 (2025)").
    """

    view: View
    display_units: Any
    display_key: str
    load_units: Callable[[], Any]
    label: str = ""
    #: the read model the view came from (the pack's tables and changes are read from it)
    reader: ReadModel | None = None

    @cached_property
    def units(self):
        return self.load_units()

    def map_data(
        self, options: printmap.ExportOptions | None = None, tables: bool = False
    ) -> printmap.MapData:
        """Return what a print export draws; with `options`, the changes since
        ``options.since``, and with `tables` the list's rows and the figures per responsible
        unit (the pack's tables)."""
        data = printmap.MapData(
            self.display_units, self.view, key=self.display_key, source=self.label
        )
        if options is None or self.reader is None:
            return data
        view = self.view
        units = [
            {"code": c, "name": n, "kind": k}
            for c, n, k in zip(
                self.display_units["code"],
                self.display_units["name"],
                self.display_units["kind"],
                strict=True,
            )
        ]
        prog = view.programme.code
        if tables:
            data.rows = self.reader.unit_rows(
                units, view.as_of, prog, options.lang, view.revision, self.display_key
            )
            data.by_unit = responsible_figures(view.programme, data.rows)
        if options.since is not None:
            end = view.as_of or clock.today()
            if options.since > end:
                raise BadRequest(f"since ({options.since}) is after the day shown ({end})")
            data.changes = self.reader.changes(
                units, options.since, end, prog, view.revision, self.display_key
            )
        return data


@dataclass(frozen=True)
class DataOptions:
    """Options of the data exports (spreadsheets, GIS layers): the format and the programme."""

    fmt: str
    programme: str = programmes.DEFAULT


def parse_data_options(params: Mapping[str, Any], fmt: str) -> DataOptions:
    """Read the options of a data export: ``programme`` (``lang`` says only in what language
    an error answers, so it is let through).

    Raises
    ------
    BadRequest
        Naming an unknown parameter or programme.
    """
    unknown = [k for k in params if k not in ("programme", "lang")]
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}; use programme")
    value = params.get("programme")
    value = value[-1] if isinstance(value, list | tuple) else value
    return DataOptions(fmt, programmes.get(value or None).code)


@dataclass(frozen=True)
class Output:
    """One export type."""

    name: str
    formats: Mapping[str, str]  # format → MIME type
    parse: Callable[[Mapping[str, Any], str], Any]
    render: Callable[[Source, Any], bytes]
    file_name: Callable[[Source, Any], str]
    #: a long job (the web renders it in the background when it can)
    slow: bool = False
    doc: str = ""
    group: str = field(default="", compare=False)


def _render_map(source: Source, options: printmap.ExportOptions) -> bytes:
    return printmap.render_map(source.map_data(options), options)


def render_pack(
    source: Source,
    options: printmap.ExportOptions,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Draw the briefing pack of `source`; `progress` hears (pages done, pages in all)."""
    return printmap.render_pack(source.map_data(options, tables=True), options, progress)


def _print_name(kind: str) -> Callable[[Source, printmap.ExportOptions], str]:
    def name(source: Source, options: printmap.ExportOptions) -> str:
        return printmap.file_name(kind, options, source.view.figures_date)

    return name


def _render_records(source: Source, options: DataOptions) -> bytes:
    rows = records.export_rows(
        unit_refs(source.units), source.view.standing.records, options.programme
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"records.{options.fmt}"
        records.write_export(rows, out)
        return out.read_bytes()


def _render_targets(source: Source, options: DataOptions) -> bytes:
    rows = targets_io.export_rows(source.view.targets)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"targets.{options.fmt}"
        records.write_export(rows, out)
        return out.read_bytes()


def _targets_name(source: Source, options: DataOptions) -> str:
    view = source.view
    prefix = "" if options.programme == programmes.DEFAULT else f"{options.programme}-"
    return f"targets-{prefix}{view.division}-r{view.revision}.{options.fmt}"


def _render_layer(source: Source, options: DataOptions) -> bytes:
    frame = gis.layer_frame(source.units, source.view.standing)
    return gis.layer_bytes(frame, f".{options.fmt}")


def _data_name(source: Source, options: DataOptions) -> str:
    """communes-2025-r100.gpkg (hotspot), communes-drugs-2025-r100.gpkg (another programme)."""
    view = source.view
    prefix = "" if options.programme == programmes.DEFAULT else f"{options.programme}-"
    return f"communes-{prefix}{view.division}-r{view.revision}.{options.fmt}"


def source_label(settings: Mapping[str, Any]) -> str:
    """Return how the footer names the configured boundary set: "thanh-hoa-2025 (2025)"."""
    path = Path(str(settings["BOUNDARIES"]))
    name = path.stem if path.suffix.lower() in (".shp", ".zip", ".gpkg") else path.name
    return f"{name} ({settings['DIVISION']})"


REGISTRY: dict[str, Output] = {}


def register(output: Output) -> Output:
    """Add an export type (its name must be new)."""
    if output.name in REGISTRY:
        raise ValueError(f"export type {output.name!r} is registered already")
    REGISTRY[output.name] = output
    return output


register(
    Output(
        "map",
        {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"},
        printmap.parse_options,
        _render_map,
        _print_name("map"),
        doc="the briefing map of the province, or of units and their neighbours",
        group="print",
    )
)
register(
    Output(
        "pack",
        {"pdf": "application/pdf"},
        printmap.parse_options,
        render_pack,
        _print_name("pack"),
        slow=True,
        doc="the briefing pack: the province, then a page per listed unit",
        group="print",
    )
)
register(
    Output(
        "records",
        {
            "csv": "text/csv; charset=utf-8",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
        parse_data_options,
        _render_records,
        _data_name,
        doc="every record, with the import's headers (it imports back unchanged)",
        group="data",
    )
)
register(
    Output(
        "layer",
        {
            "geojson": "application/geo+json",
            "gpkg": "application/geopackage+sqlite3",
            "zip": "application/zip",
        },
        parse_data_options,
        _render_layer,
        _data_name,
        doc="every unit joined to its status and record, for GIS (EPSG:4326)",
        group="data",
    )
)


def get(name: str) -> Output:
    return REGISTRY[name]


def by_format(group: str, fmt: str) -> Output:
    """Return the export of `group` (``print`` or ``data``) that writes `fmt`.

    Raises
    ------
    BadRequest
        Naming the formats there are.
    """
    for output in REGISTRY.values():
        if output.group == group and fmt in output.formats:
            return output
    known = [f for o in REGISTRY.values() if o.group == group for f in o.formats]
    raise BadRequest(f"no export in format {fmt!r}; use one of: {', '.join(known)}")


def suffix_of(path: str | Path) -> str:
    return Path(path).suffix.lower().lstrip(".")


register(
    Output(
        "targets",
        {
            "csv": "text/csv; charset=utf-8",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
        parse_data_options,
        _render_targets,
        _targets_name,
        doc="every unit's targets (code,target,due_on,met_on,note; it imports back unchanged)",
        group="targets",
    )
)
