"""Briefing exports: print-quality maps (PNG, PDF, SVG) and a briefing pack, without a browser.

Everything is drawn on the server with matplotlib (`Figure` objects and the Agg canvas, never
pyplot), in a metric CRS so the scale bar is true, with the Be Vietnam Pro font embedded
(TrueType in PDFs, glyph outlines in SVGs) so every Vietnamese diacritic prints and PDF text
can be searched and copied. The same data and options always give the same bytes.

The web door (`geo_app.web.exports`) and the CLI (`geo-app export ...`) both turn their
parameters into `ExportOptions` with `parse_options`, the one place they are validated.

This module puts a map page together; its parts are `options` (what is asked, texts, the
font), `layout` (the data, its geometry, pages and the flow of blocks), `furniture` (header,
units, marks, arrow, scale bar, inset), `labels` and `blocks` (legend, figures, unit panel).
"""

from __future__ import annotations

import io
import logging
from typing import Any

import matplotlib
from matplotlib.collections import PathCollection

from geo_app.core.names import full_name, search_key
from geo_app.core.programme import NOT_LISTED
from geo_app.errors import GeoAppError
from geo_app.i18n import format_date
from geo_app.outputs.printmap.blocks import (
    _panel,
    _subtitle,
)
from geo_app.outputs.printmap.furniture import (
    _draw_marks,
    _draw_units,
    _header,
    _map_box,
    _marks,
    _mm_to_data,
    _north_arrow,
    _scale_bar,
    _view,
)
from geo_app.outputs.printmap.labels import (
    _place_labels,
)
from geo_app.outputs.printmap.layout import (
    _RENDER_LOCK,
    AREA_LABEL_PT,
    CHOSEN_LABEL_PT,
    INK,
    LABEL_PT,
    MUTED,
    MapData,
    MapFigure,
    _geometry,
    _new_figure,
    _number,
    _resolve,
    label_scale,
)
from geo_app.outputs.printmap.options import (
    ExportOptions,
    _rc,
    _texts,
    register_fonts,
)

LOGGER = logging.getLogger(__name__)


def build_map(
    data: MapData,
    options: ExportOptions,
    *,
    page_no: tuple[int, int] | None = None,
    unit_page: str | None = None,
) -> MapFigure:
    """Draw one page: the province, or chosen units with their neighbours, or a unit's record.

    Parameters
    ----------
    data:
        Units and records.
    options:
        Paper, orientation, language, title, marking; ``areas`` picks the extent.
    page_no:
        (page, pages) printed in the footer of a pack page.
    unit_page:
        Code of the unit whose record page of a pack this is (ignores ``options.areas``).

    Returns
    -------
    MapFigure
        The figure (72 dpi; `save` renders it at ``options.dpi``) and what was drawn.

    Raises
    ------
    BadRequest
        When ``options.areas`` names a code that is not in the boundary set.
    """
    register_fonts()
    with _RENDER_LOCK, matplotlib.rc_context(_rc()):
        return _build_map(data, options, page_no, unit_page)


def _build_map(
    data: MapData,
    options: ExportOptions,
    page_no: tuple[int, int] | None,
    unit_page: str | None,
) -> MapFigure:
    geo = _geometry(data)
    codes = (unit_page,) if unit_page else options.areas
    chosen = _resolve(geo, codes)
    neighbours = geo.neighbours(chosen) if chosen else []
    statuses = data.statuses()
    t = _texts(options)
    fig, page = _new_figure(options)
    s = page.s

    kicker = ""
    if unit_page:
        i = chosen[0]
        title = f"{full_name(geo.kinds[i], geo.names[i])} ({geo.codes[i]})"
        kicker = options.title_text
        subtitle = t["pack_subtitle"].format(
            as_of=t["as_of"].format(date=format_date(data.figures_date, options.lang))
        )
    else:
        title = options.title_text
        subtitle = _subtitle(data, options, geo, chosen)
    bottom, top = _header(page, options, data, title, subtitle, page_no, geo, kicker)
    (mx, my, mw, mh), (px, py, pw, ph) = _map_box(
        page, options, bottom, top, tall_panel=unit_page is not None
    )

    # the map
    ax = fig.add_axes(page.frac(mx, my, mw, mh))
    view = _view(geo, chosen + neighbours, mw, mh, pad=0.04 if not chosen else 0.06)
    ax.set_xlim(view[0], view[2])
    ax.set_ylim(view[1], view[3])
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_linewidth(0.6)
        sp.set_color(MUTED)
    in_view = geo.within(view)
    _draw_units(ax, geo, in_view, statuses, s, page.prog)
    _draw_marks(ax, geo, in_view, _marks(data, options), s)
    if chosen:
        ax.add_collection(
            PathCollection(
                [geo.paths[i] for i in chosen],
                facecolors="none",
                edgecolors=INK,
                linewidths=2.0 * s,
                transform=ax.transData,
                zorder=3.5,
            ),
            autolim=False,
        )
    conv, m_per_mm = _mm_to_data(view, mw, mh)
    _north_arrow(ax, conv, mw, mh, s, t["north"])
    paper_note = None
    if options.paper != "slide":
        ratio = round(m_per_mm * 1000 / 1000) * 1000
        paper_note = t["scale"].format(n=_number(ratio, options.lang), paper=options.paper)
    _scale_bar(ax, conv, m_per_mm, mw, s, options.lang, paper_note)

    renderer = fig.canvas.get_renderer()
    obstacles = []
    for art in [*ax.patches, *ax.texts]:
        obstacles.append(art.get_window_extent(renderer))

    # labels: chosen units, then listed units (gravest first, larger first), then neighbours
    cands: list[tuple[int, str, float, str, str]] = []
    listed_in_view = [  # the units of the programme's list: their names are what a reader looks for
        int(i) for i in in_view if page.prog.listed(statuses[geo.codes[i]]) and int(i) not in chosen
    ]
    gravity = page.prog.gravity
    listed_in_view.sort(key=lambda i: (-gravity(statuses[geo.codes[i]]), -geo.areas[i]))
    ls = label_scale(options)
    size = (LABEL_PT if not chosen else AREA_LABEL_PT) * ls
    for i in chosen:
        cands.append((i, geo.names[i], CHOSEN_LABEL_PT * ls, "bold", INK))
    for i in listed_in_view:
        cands.append((i, geo.names[i], size, "normal", INK))
    if chosen:
        for i in neighbours:
            if statuses[geo.codes[i]] == NOT_LISTED:
                cands.append((i, geo.names[i], LABEL_PT * ls, "normal", MUTED))
    shown, dropped, boxes = _place_labels(
        fig, ax, geo, cands, obstacles, view, real_text=options.fmt == "pdf"
    )

    # the panel
    legend = _panel(
        page,
        data,
        options,
        geo,
        (px, py, pw, ph),
        chosen,
        neighbours,
        statuses,
        unit_page is not None,
        view,
        cands,
        shown,
    )
    return MapFigure(
        figure=fig,
        ax=ax,
        crs=geo.crs,
        legend=legend,
        labels=shown,
        dropped=dropped,
        label_boxes=boxes,
        chosen=[geo.codes[i] for i in chosen],
        neighbours=[geo.codes[i] for i in neighbours],
        view=view,
    )


# -- output -------------------------------------------------------------------------------------
def save(mf: MapFigure, options: ExportOptions) -> bytes:
    """Render a drawn page as ``options.fmt`` bytes (PNG at exactly `ExportOptions.pixels`).

    Returns
    -------
    bytes
        The same bytes for the same drawing and options (no timestamps are written).
    """
    fig = mf.figure
    buf = io.BytesIO()
    with _RENDER_LOCK, matplotlib.rc_context(_rc()):
        if options.fmt == "png":
            pw, ph = options.pixels()
            # exact pixel size: Agg truncates width × dpi, so aim a hair above the integer
            fig.set_size_inches((pw + 0.25) / options.dpi, (ph + 0.25) / options.dpi)
            fig.savefig(buf, format="png", dpi=options.dpi, metadata={"Software": None})
        elif options.fmt == "pdf":
            fig.savefig(buf, format="pdf", dpi=options.dpi, metadata=_pdf_metadata(options))
        else:
            fig.savefig(buf, format="svg", dpi=options.dpi, metadata={"Date": None})
    return buf.getvalue()


def _pdf_metadata(options: ExportOptions) -> dict[str, Any]:
    return {
        "Title": options.title_text,
        "Creator": "geo-app",
        "Producer": "geo-app (matplotlib)",
        "CreationDate": None,
        "ModDate": None,
    }


def render_map(data: MapData, options: ExportOptions) -> bytes:
    """Render the briefing map as PNG, PDF or SVG bytes.

    Parameters
    ----------
    data:
        Units (display geometry) and their current records.
    options:
        From `parse_options`: format, paper, orientation, dpi, language, title, areas, marking.

    Returns
    -------
    bytes
        The file's content.

    Raises
    ------
    BadRequest
        When an area code is not in the boundary set.
    """
    _same_programme(data, options)
    return save(build_map(data, options), options)


def _same_programme(data: MapData, options: ExportOptions) -> None:
    if data.view.programme.code != options.programme:
        raise GeoAppError(
            f"the export asks for programme {options.programme!r} but its data are "
            f"{data.view.programme.code!r}",
            status=500,
        )


def pack_codes(data: MapData, options: ExportOptions) -> list[str]:
    """Return the units a pack has a page for: ``options.areas``, else every listed unit.

    Listed units come gravest status first (relapsed, hotspot, in progress, transformed),
    then by name.
    """
    if options.areas:
        return list(options.areas)
    statuses = data.statuses()
    names = dict(zip(data.units["code"], data.units["name"], strict=True))
    listed = [c for c in statuses if statuses[c] != NOT_LISTED]
    gravity = options.prog.gravity
    return sorted(listed, key=lambda c: (-gravity(statuses[c]), search_key(str(names[c])), c))
