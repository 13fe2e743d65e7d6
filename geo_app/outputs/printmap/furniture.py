"""What is drawn on and around the map: header, units, marks, north arrow, scale bar, inset."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.patches import PathPatch, Polygon, Rectangle

from geo_app.core.programme import NOT_LISTED, Programme
from geo_app.core.records import OUTLINE_COLOR
from geo_app.outputs.printmap.layout import (
    HATCH_COLOR,
    INK,
    MARKING_COLOR,
    MM_PER_PT,
    MUTED,
    PROVINCE_LINE,
    SAMPLE_EDGE,
    SAMPLE_FILL,
    MapData,
    _fit,
    _Geometry,
    _nice_length,
    _Page,
)
from geo_app.outputs.printmap.options import (
    ExportOptions,
    _texts,
)

LOGGER = logging.getLogger(__name__)


def _header(
    page: _Page,
    options: ExportOptions,
    data: MapData,
    title: str,
    subtitle: str,
    page_no: tuple[int, int] | None,
    geo: _Geometry,
    kicker: str = "",
) -> tuple[float, float]:
    """Draw title, subtitle, marking, sample banner and footer; return the body's y range.

    A `kicker` is a small line above the title (the pack's title on its unit pages).
    """
    s, w, h = page.s, page.w, page.h
    t = _texts(options)
    margin = 9.0 * s
    renderer = page.fig.canvas.get_renderer()
    mark = page.text(
        w - margin,
        h - margin,
        options.marking_text,
        10.0,
        ha="right",
        va="top",
        fontweight="bold",
        color=MARKING_COLOR,
        bbox=dict(
            boxstyle="square,pad=0.35", facecolor="white", edgecolor=MARKING_COLOR, linewidth=1.2
        ),
    )
    mark_w = mark.get_window_extent(renderer).width * 25.4 / 72
    right_w = mark_w
    if data.sample:
        sample = page.text(
            w - margin,
            h - margin - 9.5 * s,
            t["sample"],
            7.0,
            ha="right",
            va="top",
            fontweight="bold",
            color=INK,
            bbox=dict(
                boxstyle="square,pad=0.35",
                facecolor=SAMPLE_FILL,
                edgecolor=SAMPLE_EDGE,
                linewidth=0.8,
            ),
        )
        right_w = max(right_w, sample.get_window_extent(renderer).width * 25.4 / 72)
    right_bottom = h - margin - (9.5 * s + 7.0 * s * MM_PER_PT * 1.9 if data.sample else 8 * s)
    room = w - 2 * margin - right_w - 8 * s
    head_top = h - margin
    if kicker:
        kick = page.text(margin, head_top, kicker, 7.5, ha="left", va="top", color=MUTED)
        head_top -= _fit(kick, room, 7.5 * s, 6.0 * s, renderer) + 1.6 * s
    head = page.text(
        margin, head_top, title, 15.0, ha="left", va="top", fontweight="bold", color=INK
    )
    title_h = _fit(head, room, 15.0 * s, 11.0 * s, renderer)
    sub_y = head_top - title_h - 2.0 * s
    sub = page.text(margin, sub_y, subtitle, 10.0, ha="left", va="top", color=INK)
    sub_h = _fit(sub, room, 10.0 * s, 8.0 * s, renderer)
    header_bottom = min(sub_y - sub_h - 3.0 * s, right_bottom - 3.0 * s, h - margin - 21.0 * s)
    page.fig.add_artist(
        LineCollection(
            [[(margin / w, header_bottom / h), ((w - margin) / w, header_bottom / h)]],
            colors=[MUTED],
            linewidths=[0.6],
            transform=page.fig.transFigure,
        )
    )
    source = t["source"].format(source=data.source or "—", revision=data.revision, crs=geo.crs_text)
    foot = page.text(margin, margin, source, 6.3, ha="left", va="baseline", color=MUTED)
    if page_no is not None:
        page.text(
            w - margin,
            margin,
            t["page"].format(i=page_no[0], n=page_no[1]),
            7.0,
            ha="right",
            va="baseline",
            color=MUTED,
        )
    foot_w = foot.get_window_extent(renderer).width * 25.4 / 72
    limit = w - 2 * margin - (22 * s if page_no else 0)
    if foot_w > limit:
        foot.set_fontsize(max(6.3 * s * limit / foot_w, 4.5 * s))
    body_bottom = margin + 6.3 * s * MM_PER_PT + 4.0 * s
    body_top = header_bottom - 4.0 * s
    return body_bottom, body_top


def _view(
    geo: _Geometry, idx: Sequence[int], box_w: float, box_h: float, pad: float = 0.04
) -> tuple[float, float, float, float]:
    if idx:
        x0, y0, x1, y1 = shapely.total_bounds(geo.geoms[list(idx)])
    else:
        x0, y0, x1, y1 = geo.bounds
    dx, dy = (x1 - x0) or 1000.0, (y1 - y0) or 1000.0
    x0, x1, y0, y1 = x0 - dx * pad, x1 + dx * pad, y0 - dy * pad, y1 + dy * pad
    dx, dy = x1 - x0, y1 - y0
    want = box_w / box_h
    if dx / dy < want:
        grow = (dy * want - dx) / 2
        x0, x1 = x0 - grow, x1 + grow
    else:
        grow = (dx / want - dy) / 2
        y0, y1 = y0 - grow, y1 + grow
    return float(x0), float(y0), float(x1), float(y1)


#: Outlines that mark a unit besides its fill, as on the web map (dashed: they read in grey).
MARKS = {
    "overdue": {"edgecolor": "#B00000", "linewidth": 1.3, "linestyle": (0, (4, 2))},
    "due_soon": {"edgecolor": "#7A5200", "linewidth": 1.0, "linestyle": (0, (1, 1.5))},
    "changed": {"edgecolor": INK, "linewidth": 1.6, "linestyle": "solid"},
}


def _marks(data: MapData, options: ExportOptions) -> dict[str, list[str]]:
    """Return the units each outline marks: deadlines passed or near, changes since a day."""
    out: dict[str, list[str]] = {"overdue": [], "due_soon": [], "changed": []}
    for code, d in data.view.deadlines.items():
        if d.state in ("overdue", "due_soon"):
            out[d.state].append(code)
    if options.since is not None and data.changes is not None:
        out["changed"] = [e["code"] for e in data.changes["changes"]]
    return out


def _draw_marks(ax: Axes, geo: _Geometry, idx: np.ndarray, marks, s: float) -> None:
    shown = {geo.codes[int(i)]: int(i) for i in idx}
    for name, codes in marks.items():
        members = [shown[c] for c in codes if c in shown]
        if not members:
            continue
        style = MARKS[name]
        ax.add_collection(
            PathCollection(
                [geo.paths[i] for i in members],
                facecolors="none",
                edgecolors=style["edgecolor"],
                linewidths=style["linewidth"] * s,
                linestyles=style["linestyle"],
                transform=ax.transData,
                zorder=2,
            ),
            autolim=False,
        )


def _draw_units(
    ax: Axes,
    geo: _Geometry,
    idx: np.ndarray,
    statuses: Mapping[str, str],
    s: float,
    prog: Programme,
):
    by_status: dict[str, list[int]] = {}
    for i in idx:
        by_status.setdefault(statuses.get(geo.codes[i], NOT_LISTED), []).append(int(i))
    for st in prog.statuses:  # legend order; hatched statuses drawn like the others
        members = by_status.get(st.code)
        if not members:
            continue
        coll = PathCollection(
            [geo.paths[i] for i in members],
            facecolors=st.print_fill,
            edgecolors=OUTLINE_COLOR,
            linewidths=0.25 * s,
            transform=ax.transData,
            zorder=1,
        )
        if st.hatch:
            coll.set_hatch(st.hatch)
            coll.set_hatchcolor(HATCH_COLOR)
            coll.set_hatch_linewidth(0.55)
        ax.add_collection(coll, autolim=False)
    ax.add_collection(
        LineCollection(
            geo.outline, colors=PROVINCE_LINE, linewidths=1.1 * s, zorder=3, capstyle="round"
        ),
        autolim=False,
    )


def _mm_to_data(view, box_w: float, box_h: float):
    x0, y0, x1, y1 = view
    kx, ky = (x1 - x0) / box_w, (y1 - y0) / box_h

    def conv(x_mm: float, y_mm: float) -> tuple[float, float]:
        return x0 + x_mm * kx, y0 + y_mm * ky

    return conv, kx


def _backing(ax: Axes, bl: tuple[float, float], tr: tuple[float, float]) -> None:
    """Lay a translucent white box from `bl` to `tr` (data coordinates) under a map furniture."""
    ax.add_patch(
        Rectangle(
            bl,
            tr[0] - bl[0],
            tr[1] - bl[1],
            facecolor="white",
            edgecolor="none",
            alpha=0.85,
            zorder=5,
        )
    )


def _north_arrow(ax: Axes, conv, box_w: float, box_h: float, s: float, letter: str) -> None:
    cx, top = box_w - 9.0 * s, box_h - 6.0 * s
    size = 11.0 * s
    tip = conv(cx, top - 4.2 * s)
    base_y = top - 4.2 * s - size
    left, right = conv(cx - 3.2 * s, base_y), conv(cx + 3.2 * s, base_y)
    notch = conv(cx, base_y + size * 0.28)
    bl, tr = conv(cx - 5.5 * s, base_y - 2.0 * s), conv(cx + 5.5 * s, top + 1.5 * s)
    _backing(ax, bl, tr)
    ax.add_patch(
        Polygon([tip, left, notch], closed=True, facecolor="white", edgecolor=INK, lw=0.8, zorder=6)
    )
    ax.add_patch(
        Polygon([tip, notch, right], closed=True, facecolor=INK, edgecolor=INK, lw=0.8, zorder=6)
    )
    x, y = conv(cx, top)
    ax.text(
        x,
        y,
        letter,
        ha="center",
        va="top",
        fontsize=10 * s,
        fontweight="bold",
        color=INK,
        zorder=6,
        parse_math=False,
    )


def _scale_bar(
    ax: Axes,
    conv,
    m_per_mm: float,
    box_w: float,
    s: float,
    lang: str,
    paper_note: str | None,
) -> None:
    length_m = _nice_length(m_per_mm * box_w * 0.22)
    bar_mm = length_m / m_per_mm
    n = 4 if length_m / 1000 % 4 == 0 or length_m >= 4000 else 2
    x_mm, y_mm, h_mm = 6.0 * s, 7.0 * s + (3.2 * s if paper_note else 0), 1.5 * s
    pad = 2.2 * s
    bottom = 3.0 * s
    top = y_mm + h_mm + 4.6 * s
    bl, tr = conv(x_mm - pad, bottom), conv(x_mm + bar_mm + pad + 3 * s, top)
    _backing(ax, bl, tr)
    for k in range(n):
        a = conv(x_mm + bar_mm * k / n, y_mm)
        b = conv(x_mm + bar_mm * (k + 1) / n, y_mm + h_mm)
        ax.add_patch(
            Rectangle(
                a,
                b[0] - a[0],
                b[1] - a[1],
                facecolor=INK if k % 2 == 0 else "white",
                edgecolor=INK,
                linewidth=0.6,
                zorder=6,
            )
        )
    kw = dict(fontsize=6.5 * s, color=INK, ha="center", va="bottom", zorder=6, parse_math=False)
    for k in (0, n // 2, n):
        km = length_m / 1000 * k / n
        text = f"{km:g}".replace(".", "," if lang == "vi" else ".")
        if k == n:
            text += " km"
        x, y = conv(x_mm + bar_mm * k / n, y_mm + h_mm + 0.7 * s)
        ax.text(x, y, text, **kw)
    if paper_note:
        x, y = conv(x_mm, 4.2 * s)
        ax.text(x, y, paper_note, **{**kw, "ha": "left", "fontsize": 5.8 * s})


def _inset(page: _Page, geo: _Geometry, x: float, y: float, w: float, h: float, view) -> None:
    ax = page.fig.add_axes(page.frac(x, y, w, h))
    x0, y0, x1, y1 = _view(geo, [], w, h, pad=0.03)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_linewidth(0.5)
        sp.set_color(MUTED)
    ax.add_patch(
        PathPatch(
            geo.overview,
            facecolor=page.prog.by_code[NOT_LISTED].color,
            edgecolor=PROVINCE_LINE,
            linewidth=0.5,
        )
    )
    vx0, vy0, vx1, vy1 = view
    ax.add_patch(
        Rectangle((vx0, vy0), vx1 - vx0, vy1 - vy0, facecolor="none", edgecolor=INK, linewidth=1.0)
    )


def _map_box(page: _Page, options: ExportOptions, bottom: float, top: float, tall_panel: bool):
    """Return (map box, panel box) in mm as (x, y, w, h)."""
    s, w = page.s, page.w
    margin, gap = 9.0 * s, 5.0 * s
    if options.orientation == "portrait":
        panel_h = (88.0 if tall_panel else 62.0) * s
        panel = (margin, bottom, w - 2 * margin, panel_h)
        mapb = (margin, bottom + panel_h + gap, w - 2 * margin, top - bottom - panel_h - gap)
    else:
        panel_w = 68.0 * s
        panel = (w - margin - panel_w, bottom, panel_w, top - bottom)
        mapb = (margin, bottom, w - 2 * margin - panel_w - gap, top - bottom)
    return mapb, panel
