"""How statuses look on the web map: fill styles, hatch patterns (SVG), legend swatches, labels."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from geo_app.core import programme as programmes
from geo_app.core.records import OUTLINE_COLOR

LOGGER = logging.getLogger(__name__)

#: Leaflet path options of each status (fill from the fixed palette of `geo_app.status`).
BASE_STYLE: dict[str, Any] = {
    "color": OUTLINE_COLOR,
    "weight": 0.7,
    "opacity": 0.6,
    "fillOpacity": 0.82,
}


def status_styles(programme: str | None = None) -> dict[str, dict[str, Any]]:
    """Return the Leaflet path style of every status of a programme, from its fixed palette."""
    return {
        s.code: {**BASE_STYLE, "fillColor": s.color} for s in programmes.get(programme).statuses
    }


#: The lines of a hatched status, on the web as on paper (`Status.hatch`, the print exports'
#: matplotlib hatch): drawn in the print hatch's colour over the status colour, so both show.
HATCH_INK = OUTLINE_COLOR


HATCH_WIDTH = 1.4  # px, on the map


#: Side of the SVG pattern's tile in px for a single mark ("/"); "//" halves it, and so on.
HATCH_TILE = 16


#: Period of the legend swatch's stripes in px (a swatch is 14 px).
SWATCH_PERIOD = 4.5


_LINES = {"/": ("/",), "\\": ("\\",), "x": ("/", "\\"), "-": ("-",), "|": ("|",), "+": ("-", "|")}


_CSS_ANGLE = {"/": 135, "\\": 45, "-": 0, "|": 90}


def _hatch_lines(hatch: str) -> tuple[tuple[str, ...], int]:
    """Return the line directions of a hatch code and how many times its marks repeat."""
    lines: list[str] = []
    for ch in hatch:
        for line in _LINES.get(ch, ()):
            if line not in lines:
                lines.append(line)
    return tuple(lines), max((hatch.count(ch) for ch in set(hatch)), default=0)


def pattern_id(code: str, programme: str | None = None) -> str:
    """Return the id of the SVG pattern of a status on the map page."""
    return f"geoapp-hatch-{programmes.get(programme).code}-{code}"


def status_patterns(programme: str | None = None) -> dict[str, dict[str, Any]]:
    """Return the SVG pattern of each hatched status of a programme, by status code.

    Each is ``id``, ``size`` (the tile's side in px), ``color`` (the background: the status
    colour), ``ink``, ``width`` and ``d`` (the lines, an SVG path in the tile). The page's
    script puts them in the map's SVG ``<defs>`` and fills the units with ``url(#id)``.
    """
    out: dict[str, dict[str, Any]] = {}
    for st in programmes.get(programme).statuses:
        lines, repeat = _hatch_lines(st.hatch)
        if not lines:
            continue
        t = max(HATCH_TILE // repeat, 4)
        h = t / 2
        parts = {
            # each diagonal with its neighbours' ends, so tiles join without gaps
            "/": f"M0,{t} L{t},0 M{-h},{h} L{h},{-h} M{h},{t + h} L{t + h},{h}",
            "\\": f"M0,0 L{t},{t} M{-h},{h} L{h},{t + h} M{h},{-h} L{t + h},{h}",
            "-": f"M0,{h} H{t}",
            "|": f"M{h},0 V{t}",
        }
        out[st.code] = {
            "id": pattern_id(st.code, programme),
            "size": t,
            "color": st.color,
            "ink": HATCH_INK,
            "width": HATCH_WIDTH,
            "d": " ".join(parts[line] for line in lines),
        }
    return out


def swatch_style(code: str, programme: str | None = None) -> str:
    """Return the CSS of a status's legend swatch: its colour, and its hatch lines if any."""
    st = programmes.get(programme).by_code[code]
    css = f"background: {st.color}"
    lines, repeat = _hatch_lines(st.hatch)
    if lines:
        period = max(SWATCH_PERIOD * 2 / repeat, 3.0)
        stripes = ", ".join(
            f"repeating-linear-gradient({_CSS_ANGLE[line]}deg, {HATCH_INK} 0 1.2px, "
            f"transparent 1.2px {period:g}px)"
            for line in lines
        )
        css += f"; background-image: {stripes}"
    return css


def status_labels(lang: str = "vi", programme: str | None = None) -> dict[str, str]:
    """Return the label of every status of a programme (``not_listed`` included) in `lang`."""
    return {s.code: s.label(lang) for s in programmes.get(programme).statuses}


def status_legend(
    counts: Mapping[str, int], lang: str = "vi", programme: str | None = None
) -> list[dict[str, Any]]:
    """Return the legend rows in legend order: code, label, colour, swatch CSS (`swatch_style`),
    SVG pattern id (None when not hatched) and count of each status."""
    return [
        {
            "code": s.code,
            "label": s.label(lang),
            "color": s.color,
            "swatch": swatch_style(s.code, programme),
            "pattern": pattern_id(s.code, programme) if s.hatch else None,
            "count": counts[s.code],
        }
        for s in programmes.get(programme).statuses
    ]
