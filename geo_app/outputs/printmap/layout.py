"""The page: ink, the data drawn and its geometry, pages and the flow of blocks on them."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import textwrap
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox
from shapely.ops import polylabel

from geo_app.core.programme import Programme
from geo_app.core.records import OUTLINE_COLOR, Record, Standing
from geo_app.errors import BadRequest
from geo_app.outputs.printmap.options import (
    ExportOptions,
)
from geo_app.readmodel import View

LOGGER = logging.getLogger(__name__)


# colours that are not statuses: text, frames, the marking and the sample banner
INK = "#1A1A1A"


MUTED = "#555555"


MARKING_COLOR = "#B00000"


SAMPLE_FILL = "#FFF1A8"


SAMPLE_EDGE = "#8A6D00"


PROVINCE_LINE = "#1A1A1A"


HATCH_COLOR = OUTLINE_COLOR


MM_PER_PT = 25.4 / 72


#: rcParams touched while drawing; every render holds `_RENDER_LOCK` (rcParams are global).
_RENDER_LOCK = threading.RLock()


# -- the data to draw ---------------------------------------------------------------------------
@dataclass
class MapData:
    """Units (display geometry, EPSG:4326) and what they show: what every export draws.

    ``view`` is the read model's answer for those units (`geo_app.readmodel.View`): the
    records in force (own, and the former units' through the crosswalk: a unit is drawn with
    the gravest of its own and its former units' statuses), the figures and the date they
    stand at, the same the page and the API show.
    """

    units: gpd.GeoDataFrame
    view: View
    key: str = ""
    source: str = ""
    #: the list's rows (`geo_app.readmodel.ReadModel.unit_rows`), for the pack's tables
    rows: list[dict[str, Any]] | None = None
    #: the figures per responsible unit (`geo_app.readmodel.responsible_figures`)
    by_unit: list[dict[str, Any]] | None = None
    #: what changed since ``options.since`` (`geo_app.readmodel.ReadModel.changes`)
    changes: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.key:
            digest = hashlib.sha256()
            for code, wkb in zip(
                self.units["code"], shapely.to_wkb(self.units.geometry.values), strict=True
            ):
                digest.update(str(code).encode() + b"\0" + wkb)
            self.key = digest.hexdigest()[:32]

    @property
    def standing(self) -> Standing:
        return self.view.standing

    @property
    def revision(self) -> int:
        return self.view.revision

    @property
    def as_of(self) -> dt.date | None:
        return self.view.as_of

    def record(self, code: str) -> Record | None:
        """Return the unit's own record (None when it has none)."""
        rec = self.standing.records.get(code)
        return getattr(rec, "record", rec)

    @property
    def sample(self) -> bool:
        """Tell whether any record shown comes from a bundled sample file."""
        return self.view.sample

    @property
    def figures_date(self) -> dt.date:
        """The day the figures stand at (`geo_app.readmodel.View.figures_date`)."""
        return self.view.figures_date

    def statuses(self) -> dict[str, str]:
        """Return the status every unit shows (the roll-up; ``not_listed`` when none)."""
        return self.view.statuses

    def summary(self) -> dict[str, Any]:
        """Return the figures of what the units show (`geo_app.readmodel.View.figures`)."""
        return self.view.figures


# -- geometry prepared once per boundary set ---------------------------------------------------
@dataclass
class _Geometry:
    crs: Any
    crs_text: str
    codes: list[str]
    names: list[str]
    kinds: list[str]
    geoms: np.ndarray  # metric
    paths: list[MplPath]
    label_xy: np.ndarray
    areas: np.ndarray
    outline: list[np.ndarray]
    overview: MplPath  # the province, simplified, for the inset locator
    index: dict[str, int]
    tree: shapely.STRtree
    bounds: tuple[float, float, float, float]

    def neighbours(self, chosen: Sequence[int]) -> list[int]:
        """Return the units touching any chosen one (not the chosen themselves)."""
        hits = self.tree.query(self.geoms[list(chosen)], predicate="intersects")[1]
        chosen_set = set(chosen)
        return sorted({int(i) for i in hits} - chosen_set)

    def within(self, box: tuple[float, float, float, float]) -> np.ndarray:
        return np.sort(self.tree.query(shapely.box(*box)))


_GEOMETRY: OrderedDict[str, _Geometry] = OrderedDict()


_GEOMETRY_LOCK = threading.Lock()


def _polygon_path(geom) -> MplPath:
    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for part in shapely.get_parts(geom):
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        for ring in (part.exterior, *part.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            c = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
            c[0] = MplPath.MOVETO
            c[-1] = MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return MplPath(np.zeros((0, 2)))
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _label_point(geom) -> tuple[float, float]:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    if not parts:
        pt = geom.representative_point()
        return pt.x, pt.y
    largest = max(parts, key=lambda p: p.area)
    pt = polylabel(largest, tolerance=max(math.sqrt(largest.area) / 50, 10.0))
    return pt.x, pt.y


def _geometry(data: MapData) -> _Geometry:
    with _GEOMETRY_LOCK:
        cached = _GEOMETRY.get(data.key)
        if cached is not None:
            _GEOMETRY.move_to_end(data.key)
            return cached
    units = data.units
    crs = units.estimate_utm_crs()
    metric = units.to_crs(crs)
    geoms = shapely.orient_polygons(metric.geometry.values.to_numpy(), exterior_cw=False)
    auth = crs.to_authority(min_confidence=90)
    crs_text = f"{crs.name} ({auth[0]}:{auth[1]})" if auth else crs.name
    union = shapely.coverage_union_all(geoms)
    outline = [
        np.asarray(ring.coords)[:, :2]
        for part in shapely.get_parts(union)
        if part.geom_type == "Polygon"
        for ring in (part.exterior, *part.interiors)
    ]
    codes = [str(c) for c in units["code"]]
    geo = _Geometry(
        crs=crs,
        crs_text=crs_text,
        codes=codes,
        names=[str(n) for n in units["name"]],
        kinds=[str(k) for k in units["kind"]] if "kind" in units else [""] * len(codes),
        geoms=geoms,
        paths=[_polygon_path(g) for g in geoms],
        label_xy=np.array([_label_point(g) for g in geoms]),
        areas=shapely.area(geoms),
        outline=outline,
        overview=_polygon_path(
            shapely.simplify(union, max(math.sqrt(float(shapely.area(union))) / 400, 50.0))
        ),
        index={c: i for i, c in enumerate(codes)},
        tree=shapely.STRtree(geoms),
        bounds=tuple(float(v) for v in shapely.total_bounds(geoms)),
    )
    with _GEOMETRY_LOCK:
        _GEOMETRY[data.key] = geo
        while len(_GEOMETRY) > 4:
            _GEOMETRY.popitem(last=False)
    return geo


def _resolve(geo: _Geometry, codes: Sequence[str]) -> list[int]:
    missing = [c for c in codes if c not in geo.index]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise BadRequest(
            f"area: no unit has the code{plural} {', '.join(repr(c) for c in missing)} in the "
            "boundary set; give official unit codes (e.g. 16522), separated by commas"
        )
    return [geo.index[c] for c in codes]


# -- drawing helpers ----------------------------------------------------------------------------
def _number(n: float, lang: str) -> str:
    text = f"{n:,.0f}"
    return text.replace(",", ".") if lang == "vi" else text


def _pct(value: float, lang: str) -> str:
    return f"{value:.1f}".replace(".", ",") + " %" if lang == "vi" else f"{value:.1f}%"


def _nice_length(target_m: float) -> float:
    exp = 10 ** math.floor(math.log10(target_m))
    for step in (5, 2, 1):
        if step * exp <= target_m:
            return step * exp
    return exp


@dataclass
class _Page:
    """A page in millimetres, with helpers to place things in figure coordinates."""

    fig: Figure
    w: float
    h: float
    s: float  # type scale: 1 for A4
    prog: Programme  # whose statuses the swatches show

    def frac(self, x: float, y: float, w: float = 0.0, h: float = 0.0) -> list[float]:
        return [x / self.w, y / self.h, w / self.w, h / self.h]

    def text(self, x: float, y: float, s: str, size: float, **kw):
        return self.fig.text(
            x / self.w, y / self.h, s, fontsize=size * self.s, parse_math=False, **kw
        )


class _Flow:
    """Text and swatches flowing down a column of a panel axes whose units are millimetres."""

    def __init__(self, ax: Axes, page: _Page, x: float, top: float, width: float, bottom: float):
        self.ax, self.page = ax, page
        self.x, self.y, self.width, self.bottom = x, top, width, bottom
        self.full = False

    def room(self, height: float) -> bool:
        if self.y - height < self.bottom:
            self.full = True
            return False
        return True

    def space(self, mm: float) -> None:
        self.y -= mm * self.page.s

    def line(
        self,
        text: str,
        size: float,
        weight: str = "normal",
        color: str = INK,
        indent: float = 0.0,
        right: str | None = None,
    ) -> bool:
        height = size * self.page.s * MM_PER_PT * 1.38
        if not self.room(height):
            return False
        self.y -= height
        self.ax.text(
            self.x + indent * self.page.s,
            self.y,
            text,
            fontsize=size * self.page.s,
            fontweight=weight,
            color=color,
            va="baseline",
            parse_math=False,
        )
        if right is not None:
            self.ax.text(
                self.x + self.width,
                self.y,
                right,
                fontsize=size * self.page.s,
                fontweight="bold",
                color=color,
                ha="right",
                va="baseline",
                parse_math=False,
            )
        self.y -= size * self.page.s * MM_PER_PT * 0.32
        return True

    def wrapped(
        self,
        text: str,
        size: float,
        indent: float = 0.0,
        max_lines: int = 8,
        **kw: Any,
    ) -> bool:
        em = size * self.page.s * MM_PER_PT
        chars = max(int((self.width - indent * self.page.s) / (em * 0.56)), 10)
        lines = textwrap.wrap(text, chars) or [""]
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1].rstrip(" ,.;") + " …"
        for i, ln in enumerate(lines):
            if not self.line(ln, size, indent=indent, **kw):
                if i:
                    self.ax.texts[-1].set_text(self.ax.texts[-1].get_text() + " …")
                return False
        return True

    def swatch(
        self,
        code: str,
        text: str,
        size: float,
        right: str | None = None,
        weight: str = "normal",
        row: float | None = None,
        box: tuple[float, float] = (8.5, 4.6),
    ) -> bool:
        s = self.page.s
        row_h = (row * s) if row else max(6.2 * s, size * s * MM_PER_PT * 1.9)
        if not self.room(row_h):
            return False
        sw, sh = box[0] * s, box[1] * s
        y_mid = self.y - row_h / 2
        self._patch(code, self.x, y_mid - sh / 2, sw, sh)
        kw = dict(fontsize=size * s, color=INK, va="center_baseline", parse_math=False)
        self.ax.text(self.x + sw + 2.6 * s, y_mid, text, fontweight=weight, **kw)
        if right is not None:
            self.ax.text(self.x + self.width, y_mid, right, ha="right", fontweight="bold", **kw)
        self.y -= row_h
        return True

    def _patch(self, code: str, x: float, y: float, w: float, h: float) -> None:
        st = self.page.prog.by_code[code]
        patch = Rectangle(
            (x, y), w, h, facecolor=st.print_fill, edgecolor=OUTLINE_COLOR, linewidth=0.5
        )
        if st.hatch:
            patch.set_hatch(st.hatch)
            patch.set_hatchcolor(HATCH_COLOR)
            patch.set_hatch_linewidth(0.5)
        self.ax.add_patch(patch)

    def pair(self, key: str, value: str, key_w: float, bullets: bool = False) -> bool:
        """Write "key  value" with the value wrapped in its own column (one line per item)."""
        s = self.page.s
        size, key_size = 7.6, 6.4
        em = size * s * MM_PER_PT
        value_w = self.width - key_w * s
        chars = max(int(value_w / (em * 0.56)), 8)
        lines: list[str] = []
        for item in value.split("\n"):
            wrapped = textwrap.wrap(item, chars - (2 if bullets else 0)) or [""]
            if bullets:
                wrapped = ["• " + wrapped[0]] + ["  " + w for w in wrapped[1:]]
            lines.extend(wrapped)
        lines = lines[:6]
        step = em * 1.4
        if not self.room(step):
            return False
        top = self.y
        self.ax.text(
            self.x,
            top - em,
            key,
            fontsize=key_size * s,
            color=MUTED,
            va="baseline",
            parse_math=False,
        )
        for k, ln in enumerate(lines):
            if self.y - step < self.bottom:
                self.full = True
                self.ax.texts[-1].set_text(self.ax.texts[-1].get_text() + " …")
                return False
            self.ax.text(
                self.x + key_w * s,
                top - em - k * step,
                ln,
                fontsize=size * s,
                color=INK,
                va="baseline",
                parse_math=False,
            )
            self.y = top - (k + 1) * step
        self.y -= 1.0 * s
        return True

    def grid(self, items: Sequence[tuple[str, str]], size: float, more: str) -> None:
        """Write small swatch + name items in two columns; say how many did not fit."""
        s = self.page.s
        row = size * s * MM_PER_PT * 1.75
        half = (self.width - 3.0 * s) / 2
        rows = math.ceil(len(items) / 2)
        fit = int((self.y - self.bottom) // row)
        if fit <= 0:
            self.full = True
            return
        shown_rows = rows if rows <= fit else fit - 1
        shown = items[: shown_rows * 2]
        em = size * s * MM_PER_PT
        chars = max(int((half - 5.5 * s) / (em * 0.56)), 6)
        for k, (code, text) in enumerate(shown):
            r, c = divmod(k, 2)
            x = self.x + c * (half + 3.0 * s)
            y_mid = self.y - r * row - row / 2
            self._patch(code, x, y_mid - 1.4 * s, 3.6 * s, 2.8 * s)
            if len(text) > chars:
                text = text[: chars - 1].rstrip() + "…"
            self.ax.text(
                x + 5.0 * s,
                y_mid,
                text,
                fontsize=size * s,
                color=INK,
                va="center_baseline",
                parse_math=False,
            )
        self.y -= shown_rows * row
        if len(shown) < len(items):
            self.line(more.format(n=len(items) - len(shown)), size, color=MUTED)

    def line_sample(
        self, text: str, size: float, width: float, color: str, linestyle: Any = "solid"
    ) -> bool:
        s = self.page.s
        row = 5.2 * s
        if not self.room(row):
            return False
        y_mid = self.y - row / 2
        self.ax.plot(
            [self.x, self.x + 8.5 * s],
            [y_mid, y_mid],
            color=color,
            linewidth=width,
            linestyle=linestyle,
            solid_capstyle="butt",
        )
        self.ax.text(
            self.x + 11.1 * s,
            y_mid,
            text,
            fontsize=size * s,
            color=INK,
            va="center_baseline",
            parse_math=False,
        )
        self.y -= row
        return True

    def bar(self, fraction: float, code: str) -> bool:
        s = self.page.s
        height = 3.2 * s
        if not self.room(height + 1.5 * s):
            return False
        self.y -= 1.0 * s
        self.ax.add_patch(
            Rectangle(
                (self.x, self.y - height),
                self.width,
                height,
                facecolor="white",
                edgecolor=OUTLINE_COLOR,
                linewidth=0.5,
            )
        )
        if fraction > 0:
            self.ax.add_patch(
                Rectangle(
                    (self.x, self.y - height),
                    self.width * min(fraction, 1.0),
                    height,
                    facecolor=self.page.prog.by_code[code].print_fill,
                    edgecolor="none",
                )
            )
        self.y -= height + 0.5 * s
        return True


def _panel_axes(page: _Page, x: float, y: float, w: float, h: float) -> Axes:
    ax = page.fig.add_axes(page.frac(x, y, w, h))
    ax.set_xlim(0, w)
    ax.set_ylim(0, h)
    ax.set_axis_off()
    return ax


@dataclass
class MapFigure:
    """A drawn page: the figure and what tests and callers may want to know about it."""

    figure: Figure
    ax: Axes
    crs: Any
    legend: list[tuple[str, str, int]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    label_boxes: list[Bbox] = field(default_factory=list)
    chosen: list[str] = field(default_factory=list)
    neighbours: list[str] = field(default_factory=list)
    view: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


#: Unit labels on the map, in points on A4 (7 pt is the smallest a printed map is read at):
#: the province's units, an area's units, and the chosen unit of an area map or a pack page.
LABEL_PT = 7.0


AREA_LABEL_PT = 7.6


CHOSEN_LABEL_PT = 8.6


#: Labels on a slide grow more than the rest of its type: a slide is read across a room, and
#: its map is what people point at.
SLIDE_LABEL_SCALE = 1.2


def type_scale(options: ExportOptions) -> float:
    """Return how much larger than on A4 an export's type is (1 on A4, √2 on A3)."""
    w, h = options.page_mm()
    s = min(w, h) / 210.0
    if options.paper == "slide":  # seen on a screen across a room: larger type
        s *= 1.3
    return s


def label_scale(options: ExportOptions) -> float:
    """Return how much larger than on A4 an export's unit labels are."""
    s = type_scale(options)
    return s * SLIDE_LABEL_SCALE if options.paper == "slide" else s


def _new_figure(options: ExportOptions) -> tuple[Figure, _Page]:
    w, h = options.page_mm()
    fig = Figure(figsize=(w / 25.4, h / 25.4), dpi=72, facecolor="white")
    FigureCanvasAgg(fig)
    return fig, _Page(fig, w, h, type_scale(options), options.prog)


def _fit(text, room: float, size: float, smallest: float, renderer) -> float:
    """Shrink a header text to `room` mm (down to `smallest` pt), then wrap it.

    Returns
    -------
    float
        The text's height in mm.
    """
    mm = 25.4 / 72
    width = text.get_window_extent(renderer).width * mm
    if width > room:
        text.set_fontsize(max(size * room / width, smallest))
        width = text.get_window_extent(renderer).width * mm
        if width > room:
            raw = text.get_text()
            chars = max(int(len(raw) * room / width) - 1, 20)
            text.set_text("\n".join(textwrap.wrap(raw, chars)))
            text.set_linespacing(1.15)
    return text.get_window_extent(renderer).height * mm
