"""The briefing pack: one PDF with the province's map, the list of listed units, the changes in
the period (with ``since``), the figures per responsible unit, then a page per unit."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace

import matplotlib
from matplotlib.backends.backend_pdf import PdfPages

from geo_app.errors import BadRequest
from geo_app.outputs.printmap import tables
from geo_app.outputs.printmap.layout import _RENDER_LOCK, MapData, _geometry, _resolve
from geo_app.outputs.printmap.options import ExportOptions, _rc, _texts, register_fonts
from geo_app.outputs.printmap.render import _build_map, _pdf_metadata, _same_programme, pack_codes


def _table_parts(data: MapData, options: ExportOptions) -> list[tuple]:
    """Return the pack's tables: (title, columns, rows, text when empty)."""
    texts = _texts(options)
    parts = []
    if data.rows is not None:
        parts.append((texts["summary"], *tables.summary_table(data, options), ""))
        if options.since is not None:
            empty = tables.LABELS[options.lang]["no_change"]
            parts.append((texts["changes"], *tables.changes_table(data, options), empty))
        parts.append((texts["by_unit"], *tables.by_unit_table(data, options), ""))
    return parts


def page_count(data: MapData, options: ExportOptions) -> int:
    """Return how many pages `render_pack` draws."""
    tables_pages = sum(
        tables.page_count(body, options) for _, _, body, _ in _table_parts(data, options)
    )
    return 1 + tables_pages + len(pack_codes(data, options))


def render_pack(
    data: MapData,
    options: ExportOptions,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Render the briefing pack: one PDF, the province first, then a page per unit.

    After the province's map come the list of listed units (their status, deadline, targets
    and responsible unit), the changes since ``options.since`` when it is given ("Những thay
    đổi trong kỳ"), and the figures per responsible unit, when `data` carries them
    (`geo_app.outputs.registry.Source.map_data`). Each unit page shows the unit with its
    neighbours and, beside the map, its record and its neighbours' statuses.

    Parameters
    ----------
    options:
        ``areas`` lists the units to give a page (default: every listed unit, see
        `pack_codes`); ``fmt`` must be ``pdf``.
    progress:
        Called with (pages done, pages in all) after each page (a background job's progress).

    Returns
    -------
    bytes
        The PDF.

    Raises
    ------
    BadRequest
        When the format is not PDF or an area code is not in the boundary set.
    """
    if options.fmt != "pdf":
        raise BadRequest(f"format: a briefing pack is a PDF, not {options.fmt.upper()}")
    _same_programme(data, options)
    register_fonts()
    with _RENDER_LOCK, matplotlib.rc_context(_rc()):
        geo = _geometry(data)
        codes = pack_codes(data, options)
        _resolve(geo, codes)
        parts = _table_parts(data, options)
        total = page_count(data, options)
        buf = io.BytesIO()
        with PdfPages(buf, metadata=_pdf_metadata(options)) as pdf:
            province = replace(options, areas=())
            pdf.savefig(_build_map(data, province, (1, total), None).figure)
            done = 1
            if progress is not None:
                progress(done, total)
            for title, columns, body, empty in parts:
                for fig in tables.table_pages(
                    data, options, geo, title, columns, body, done + 1, total, empty
                ):
                    pdf.savefig(fig)
                    done += 1
                if progress is not None:
                    progress(done, total)
            for code in codes:
                pdf.savefig(_build_map(data, options, (done + 1, total), code).figure)
                done += 1
                if progress is not None:
                    progress(done, total)
        return buf.getvalue()
