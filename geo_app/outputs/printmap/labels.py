"""Unit names on the map: placed where they fit, at the sizes of the paper."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from matplotlib import patheffects as pe
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox, ScaledTranslation

from geo_app.outputs.printmap.layout import (
    _Geometry,
)

LOGGER = logging.getLogger(__name__)


def _place_labels(
    fig: Figure,
    ax: Axes,
    geo: _Geometry,
    candidates: Sequence[tuple[int, str, float, str, str]],
    obstacles: list[Bbox],
    view,
    real_text: bool,
) -> tuple[list[str], list[str], list[Bbox]]:
    """Place labels greedily in priority order; shift or drop those that would collide.

    Every box is measured with the Agg renderer at 72 dpi (points), so the same labels are
    kept whatever the output format or resolution.
    """
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    frame = Bbox.from_extents(frame.x0 + 2, frame.y0 + 2, frame.x1 - 2, frame.y1 - 2)
    placed: list[Bbox] = []
    shown: list[str] = []
    dropped: list[str] = []
    x0, y0, x1, y1 = view
    # A white halo keeps labels readable on any fill. In a PDF it is a second, stroked copy
    # drawn as outlines under the label, so the label stays real text that readers can search
    # and copy; in PNG and SVG (whose text is outlines anyway) the label draws its own halo.
    halo = pe.Stroke(linewidth=1.8, foreground="white")
    for i, text, size, weight, color in candidates:
        x, y = geo.label_xy[i]
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            continue
        label_art = ax.text(
            x,
            y,
            text,
            fontsize=size,
            fontweight=weight,
            color=color,
            ha="center",
            va="center",
            zorder=4,
            parse_math=False,
        )
        box = label_art.get_window_extent(renderer)
        hh = box.height
        ww = box.width
        ok = False
        for dx, dy in (
            (0, 0),
            (0, 0.75 * hh),
            (0, -0.75 * hh),
            (0.55 * ww, 0),
            (-0.55 * ww, 0),
            (0.4 * ww, 0.75 * hh),
            (-0.4 * ww, -0.75 * hh),
            (0.4 * ww, -0.75 * hh),
            (-0.4 * ww, 0.75 * hh),
        ):
            moved = box.translated(dx, dy)
            padded = Bbox.from_extents(moved.x0 - 1, moved.y0 - 0.5, moved.x1 + 1, moved.y1 + 0.5)
            if not (
                frame.x0 <= padded.x0
                and padded.x1 <= frame.x1
                and frame.y0 <= padded.y0
                and padded.y1 <= frame.y1
            ):
                continue
            if any(padded.overlaps(b) for b in placed) or any(
                padded.overlaps(b) for b in obstacles
            ):
                continue
            if dx or dy:
                label_art.set_transform(
                    ax.transData + ScaledTranslation(dx / 72, dy / 72, fig.dpi_scale_trans)
                )
            if real_text:
                ax.text(
                    x,
                    y,
                    text,
                    fontsize=size,
                    fontweight=weight,
                    color="white",
                    ha="center",
                    va="center",
                    zorder=3.9,
                    parse_math=False,
                    path_effects=[halo],
                    transform=label_art.get_transform(),
                )
            else:
                label_art.set_path_effects([halo, pe.Normal()])
            placed.append(padded)
            shown.append(geo.codes[i])
            ok = True
            break
        if not ok:
            label_art.remove()
            dropped.append(geo.codes[i])
    return shown, dropped, placed
