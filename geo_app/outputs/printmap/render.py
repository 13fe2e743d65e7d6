"""Briefing exports: print-quality maps (PNG, PDF, SVG) and a briefing pack, without a browser.

Everything is drawn on the server with matplotlib (`Figure` objects and the Agg canvas, never
pyplot), in a metric CRS so the scale bar is true, with the Be Vietnam Pro font embedded
(TrueType in PDFs, glyph outlines in SVGs) so every Vietnamese diacritic prints and PDF text
can be searched and copied. The same data and options always give the same bytes.

The web door (`geo_app.web.exports`) and the CLI (`geo-app export ...`) both turn their
parameters into `ExportOptions` with `parse_options`, the one place they are validated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import math
import textwrap
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fontpkg_be_vietnam_pro
import geopandas as gpd
import matplotlib
import numpy as np
import shapely
from matplotlib import font_manager, ft2font
from matplotlib import patheffects as pe
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Polygon, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox, ScaledTranslation
from shapely.ops import polylabel

from geo_app.core import programme as programmes
from geo_app.core.names import full_name, search_key
from geo_app.core.programme import NOT_LISTED, Programme
from geo_app.core.records import OUTLINE_COLOR, Record, Standing
from geo_app.errors import BadRequest, GeoAppError
from geo_app.i18n import format_date
from geo_app.readmodel import View

LOGGER = logging.getLogger(__name__)

# -- fixed vocabulary --------------------------------------------------------------------------
FORMATS = ("png", "pdf", "svg")
PAPERS: dict[str, tuple[float, float]] = {  # landscape width, height in mm
    "A4": (297.0, 210.0),
    "A3": (420.0, 297.0),
    "slide": (338.667, 190.5),  # 16:9, 13.333 × 7.5 inches (the usual presentation size)
}
ORIENTATIONS = ("landscape", "portrait")
LANGS = ("vi", "en")
DPI_MIN, DPI_MAX, DPI_DEFAULT = 50, 600, 300
TITLE_MAX = 150
#: Query / option names every export accepts (one list for the web and the CLI).
PARAMETERS = (
    "area",
    "paper",
    "orientation",
    "dpi",
    "lang",
    "title",
    "marking",
    "programme",
    "since",
)

DEFAULT_MARKING = {"vi": "LƯU HÀNH NỘI BỘ", "en": "FOR INTERNAL CIRCULATION"}

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "as_of": "Số liệu tính đến ngày {date}",
        "area_one": "Khu vực: {name} và các đơn vị giáp ranh",
        "area_many": "Khu vực: {n} đơn vị được chọn và các đơn vị giáp ranh",
        "legend": "CHÚ GIẢI",
        "legend_counts": "số xã, phường",
        "province_line": "Ranh giới tỉnh",
        "commune_line": "Ranh giới xã, phường",
        "chosen_line": "Đơn vị được chọn",
        "figures": "SỐ LIỆU TOÀN TỈNH",
        "sample": "DỮ LIỆU MẪU — KHÔNG PHẢI SỐ LIỆU THẬT",
        "north": "B",
        "scale": "Tỷ lệ 1:{n} (in đúng khổ {paper})",
        "page": "Trang {i}/{n}",
        "code": "Mã đơn vị hành chính",
        "none": "—",
        "neighbours": "ĐƠN VỊ GIÁP RANH ({n})",
        "own": "Hồ sơ của đơn vị: {status}",
        "former": "ĐƠN VỊ CŨ SÁP NHẬP VÀO ({n})",
        "former_line": "{status}{split}",
        "split": " · đã chia cho nhiều đơn vị",
        "more": "… và {n} đơn vị khác",
        "location": "VỊ TRÍ TRONG TỈNH",
        "mark_overdue": "Quá hạn ({n}): viền đỏ nét đứt",
        "mark_due_soon": "Sắp đến hạn trong 30 ngày ({n}): viền chấm",
        "mark_changed": "Thay đổi từ {date} ({n}): viền đậm",
        "since": "Thay đổi từ {date}: {n} đơn vị",
        "summary": "DANH SÁCH ĐỊA BÀN",
        "changes": "NHỮNG THAY ĐỔI TRONG KỲ",
        "by_unit": "SỐ LIỆU THEO ĐƠN VỊ PHỤ TRÁCH",
        "continued": "(tiếp theo)",
    },
    "en": {
        "as_of": "Figures as of {date}",
        "area_one": "Area: {name} and its neighbours",
        "area_many": "Area: {n} chosen units and their neighbours",
        "legend": "LEGEND",
        "legend_counts": "communes, wards",
        "province_line": "Province boundary",
        "commune_line": "Commune / ward boundary",
        "chosen_line": "Chosen unit",
        "figures": "PROVINCE FIGURES",
        "sample": "SAMPLE DATA — NOT REAL FIGURES",
        "north": "N",
        "scale": "Scale 1:{n} (printed at {paper})",
        "page": "Page {i}/{n}",
        "code": "Official unit code",
        "none": "—",
        "neighbours": "NEIGHBOURING UNITS ({n})",
        "own": "The unit's own record: {status}",
        "former": "FORMER UNITS MERGED INTO IT ({n})",
        "former_line": "{status}{split}",
        "split": " · split between several units",
        "more": "… and {n} more",
        "location": "LOCATION IN THE PROVINCE",
        "mark_overdue": "Deadline passed ({n}): dashed red outline",
        "mark_due_soon": "Deadline within 30 days ({n}): dotted outline",
        "mark_changed": "Changed since {date} ({n}): bold outline",
        "since": "Changes since {date}: {n} units",
        "summary": "LIST OF UNITS",
        "changes": "CHANGES IN THE PERIOD",
        "by_unit": "FIGURES PER RESPONSIBLE UNIT",
        "continued": "(continued)",
    },
}

#: The texts of a programme's definition the exports print, by the key they print under.
_PROGRAMME_TEXTS = {
    "listed": "print_listed",
    "done": "print_headline",
    "target": "print_target",
    "labels_note": "print_labels_note",
    "source": "print_source",
    "record": "print_record",
    "pack_subtitle": "print_pack_subtitle",
}


def _texts(options: ExportOptions) -> dict[str, str]:
    """Return the texts of an export: the fixed vocabulary and the programme's own."""
    prog = options.prog
    out = dict(TEXTS[options.lang])
    out.update({k: prog.text(v, options.lang) for k, v in _PROGRAMME_TEXTS.items()})
    return out


# colours that are not statuses: text, frames, the marking and the sample banner
INK = "#1A1A1A"
MUTED = "#555555"
MARKING_COLOR = "#B00000"
SAMPLE_FILL = "#FFF1A8"
SAMPLE_EDGE = "#8A6D00"
PROVINCE_LINE = "#1A1A1A"
HATCH_COLOR = OUTLINE_COLOR
MM_PER_PT = 25.4 / 72

_FONT_DIR = Path(fontpkg_be_vietnam_pro.ROOT) / "files"
FONT_FAMILY = fontpkg_be_vietnam_pro.FAMILY
_FONT_LOCK = threading.Lock()
_fonts_ready = False
#: rcParams touched while drawing; every render holds `_RENDER_LOCK` (rcParams are global).
_RENDER_LOCK = threading.RLock()


def register_fonts() -> str:
    """Register the Be Vietnam Pro files with matplotlib (once) and return the family name."""
    global _fonts_ready
    with _FONT_LOCK:
        if not _fonts_ready:
            for path in sorted(_FONT_DIR.glob("BeVietnamPro-*.ttf")):
                font_manager.fontManager.addfont(str(path))
            _fonts_ready = True
    return FONT_FAMILY


def _charmap() -> set[int]:
    regular = ft2font.FT2Font(str(_FONT_DIR / "BeVietnamPro-Regular.ttf")).get_charmap()
    bold = ft2font.FT2Font(str(_FONT_DIR / "BeVietnamPro-Bold.ttf")).get_charmap()
    return set(regular) & set(bold)


_PRINTABLE: set[int] | None = None


def _printable() -> set[int]:
    global _PRINTABLE
    if _PRINTABLE is None:
        _PRINTABLE = _charmap()
    return _PRINTABLE


def _rc() -> dict[str, Any]:
    return {
        "font.family": FONT_FAMILY,
        "pdf.fonttype": 42,  # TrueType: PDF text extracts whole ("trọng điểm", not "trọng đ iểm")
        "svg.fonttype": "path",  # glyph outlines: right in every viewer, with or without the font
        "svg.hashsalt": "geo-app",  # stable element ids: the same SVG every time
        "hatch.linewidth": 0.6,
        "axes.unicode_minus": False,
        "text.usetex": False,
    }


# -- options ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportOptions:
    """What an export looks like. Build it with `parse_options` (which validates it)."""

    fmt: str = "png"
    paper: str = "A4"
    orientation: str = "landscape"
    dpi: int = DPI_DEFAULT
    lang: str = "vi"
    title: str = ""  # "" = the default title of `lang`
    areas: tuple[str, ...] = ()  # unit codes; () = the whole province (map) / every listed unit
    marking: str = ""  # "" = the default marking of `lang`
    programme: str = programmes.DEFAULT
    since: dt.date | None = None  # mark the units that changed since that day

    @property
    def prog(self) -> Programme:
        return programmes.get(self.programme)

    @property
    def title_text(self) -> str:
        return self.title or self.prog.text("print_title", self.lang)

    @property
    def marking_text(self) -> str:
        return self.marking or DEFAULT_MARKING[self.lang]

    def page_mm(self) -> tuple[float, float]:
        """Return the page width and height in millimetres."""
        w, h = PAPERS[self.paper]
        return (h, w) if self.orientation == "portrait" else (w, h)

    def pixels(self) -> tuple[int, int]:
        """Return the width and height in pixels of a PNG at `dpi`."""
        w, h = self.page_mm()
        return round(w / 25.4 * self.dpi), round(h / 25.4 * self.dpi)


def _one(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(_one(v) for v in value)
    return str(value).strip()


def _choice(name: str, value: str, allowed: Sequence[str], what: str) -> str:
    by_fold = {a.casefold(): a for a in allowed}
    if value.casefold() in by_fold:
        return by_fold[value.casefold()]
    raise BadRequest(f"{name}: {value!r} is not {what}; use {_or(allowed)}")


def _or(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _check_text(name: str, value: str) -> str:
    text = " ".join(value.split())
    if len(text) > TITLE_MAX:
        raise BadRequest(f"{name}: too long ({len(text)} characters); use at most {TITLE_MAX}")
    printable = _printable()
    for ch in text:
        if ord(ch) not in printable:
            raise BadRequest(
                f"{name}: the character {ch!r} (U+{ord(ch):04X}) cannot be printed with the "
                f"map font ({FONT_FAMILY}); remove it"
            )
    return text


def split_codes(value: Any) -> tuple[str, ...]:
    """Return unit codes from "16522,16417", "16522 16417" or a list of such strings."""
    if value is None:
        return ()
    parts = value if isinstance(value, list | tuple) else [value]
    codes: list[str] = []
    for part in parts:
        for code in str(part).replace(";", ",").replace(" ", ",").split(","):
            if code.strip() and code.strip() not in codes:
                codes.append(code.strip())
    return tuple(codes)


def format_of(path: str | Path) -> str:
    """Return the export format named by a file's suffix.

    Raises
    ------
    BadRequest
        When the suffix is not .png, .pdf or .svg.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise BadRequest(
            f"format: {Path(path).name!r} does not end in {_or(['.' + f for f in FORMATS])}"
        )
    return suffix


def parse_options(params: Mapping[str, Any], fmt: str = "png") -> ExportOptions:
    """Validate export parameters (web query or CLI options) into `ExportOptions`.

    Parameters
    ----------
    params:
        Values by name (see `PARAMETERS`); strings as typed, or None / "" for the default.
        ``area`` may be a comma-separated string or a list of them.
    fmt:
        ``png``, ``pdf`` or ``svg``.

    Returns
    -------
    ExportOptions

    Raises
    ------
    BadRequest
        Naming the parameter, the value and the accepted values. Unit codes are checked
        against the boundary set when rendering (`render_map`, `render_pack`).
    """
    unknown = [k for k in params if k not in PARAMETERS]
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}; use {_or(PARAMETERS)}")
    fmt = _choice("format", _one(fmt), FORMATS, "an export format")
    values = {k: _one(params.get(k)) for k in PARAMETERS if k != "area"}
    paper = (
        _choice("paper", values["paper"], tuple(PAPERS), "a paper size")
        if values["paper"]
        else "A4"
    )
    orientation = (
        _choice("orientation", values["orientation"], ORIENTATIONS, "an orientation")
        if values["orientation"]
        else "landscape"
    )
    if paper == "slide" and orientation != "landscape":
        raise BadRequest(
            "orientation: a slide is 16:9 landscape only; use orientation=landscape, "
            "or paper A4 or A3 for a portrait page"
        )
    dpi = DPI_DEFAULT
    if values["dpi"]:
        try:
            dpi = int(values["dpi"])
        except ValueError:
            raise BadRequest(
                f"dpi: {values['dpi']!r} is not a whole number; use {DPI_MIN} to {DPI_MAX}"
            ) from None
        if not DPI_MIN <= dpi <= DPI_MAX:
            raise BadRequest(f"dpi: {dpi} is out of range; use {DPI_MIN} to {DPI_MAX}")
    lang = (
        _choice("lang", values["lang"], LANGS, "a supported language") if values["lang"] else "vi"
    )
    title = _check_text("title", values["title"]) if values["title"] else ""
    marking = _check_text("marking", values["marking"]) if values["marking"] else ""
    areas = split_codes(params.get("area"))
    prog = programmes.get(values["programme"] or None)  # an unknown one is a 400, named
    since = None
    if values["since"]:
        try:
            since = dt.date.fromisoformat(values["since"])
        except ValueError:
            raise BadRequest(
                f"since: {values['since']!r} is not a date written YYYY-MM-DD"
            ) from None
    return ExportOptions(
        fmt, paper, orientation, dpi, lang, title, areas, marking, prog.code, since
    )


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


def _legend_block(flow: _Flow, data: MapData, options: ExportOptions, counts: bool, area: bool):
    t = _texts(options)
    summ = data.summary()
    entries: list[tuple[str, str, int]] = []
    flow.line(t["legend"], 9.0, weight="bold", right=t["legend_counts"] if counts else None)
    if counts and flow.ax.texts:
        flow.ax.texts[-1].set_fontweight("normal")
        flow.ax.texts[-1].set_fontsize(6.5 * flow.page.s)
        flow.ax.texts[-1].set_color(MUTED)
    flow.space(0.8)
    for st in options.prog.statuses:
        n = int(summ["counts"][st.code])
        entries.append((st.code, st.label(options.lang), n))
        flow.swatch(st.code, st.label(options.lang), 8.2, right=str(n) if counts else None)
    flow.space(0.6)
    flow.line_sample(t["province_line"], 7.2, 1.1 * flow.page.s, PROVINCE_LINE)
    flow.line_sample(t["commune_line"], 7.2, 0.5, OUTLINE_COLOR)
    for name, codes in _marks(data, options).items():  # only the outlines this map draws
        if codes:
            style = MARKS[name]
            label = t[f"mark_{name}"].format(n=len(codes), date=_since_text(options))
            flow.line_sample(
                label,
                7.2,
                style["linewidth"] * flow.page.s,
                style["edgecolor"],
                style["linestyle"],
            )
    if area:
        flow.line_sample(t["chosen_line"], 7.2, 2.0 * flow.page.s, INK)
    return entries, summ


def _figures_block(flow: _Flow, summ: dict[str, Any], options: ExportOptions) -> None:
    t = _texts(options)
    lang = options.lang
    flow.line(t["figures"], 9.0, weight="bold")
    flow.space(0.5)
    flow.wrapped(t["listed"].format(listed=summ["listed"], units=summ["units"]), 7.8)
    head = summ["headline"]
    flow.wrapped(t["done"].format(n=head["n"], of=head["total"], pct=_pct(head["pct"], lang)), 7.8)
    flow.bar(head["pct"] / 100.0, head["status"])
    flow.wrapped(t["target"], 7.0, color=MUTED)


def _since_text(options: ExportOptions) -> str:
    return format_date(options.since, options.lang) if options.since else ""


def _subtitle(data: MapData, options: ExportOptions, geo: _Geometry, chosen: list[int]) -> str:
    t = _texts(options)
    text = t["as_of"].format(date=format_date(data.figures_date, options.lang))
    if options.since is not None and data.changes is not None:
        text += "  ·  " + t["since"].format(
            date=_since_text(options), n=len(data.changes["changes"])
        )
    if chosen:
        if len(chosen) == 1:
            i = chosen[0]
            area = t["area_one"].format(name=full_name(geo.kinds[i], geo.names[i]))
        else:
            area = t["area_many"].format(n=len(chosen))
        text += "  ·  " + area
    return text


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


def _panel(
    page: _Page,
    data: MapData,
    options: ExportOptions,
    geo: _Geometry,
    box: tuple[float, float, float, float],
    chosen: list[int],
    neighbours: list[int],
    statuses: Mapping[str, str],
    unit_page: bool,
    view,
    cands: Sequence[tuple[int, str, float, str, str]],
    shown: Sequence[str],
) -> list[tuple[str, str, int]]:
    """Fill the panel beside (landscape) or below (portrait) the map; return the legend rows.

    Landscape: one column, the inset locator at its foot. Portrait: two columns (legend,
    figures), three with an inset (area maps and pack pages).
    """
    px, py, pw, ph = box
    s = page.s
    t = _texts(options)
    pax = _panel_axes(page, px, py, pw, ph)
    portrait = options.orientation == "portrait"
    ncols = (3 if chosen else 2) if portrait else 1
    col_gap = 6.0 * s
    col_w = (pw - col_gap * (ncols - 1)) / ncols
    cols = [_Flow(pax, page, k * (col_w + col_gap), ph, col_w, 0.0) for k in range(ncols)]
    inset: tuple[float, float, float, float] | None = None  # x, y, w, h in panel mm
    title_h = 7.0 * s * MM_PER_PT * 1.6
    if chosen:
        if portrait:
            iw = col_w
            ih = min(ph - title_h - 1.0 * s, iw * 1.1)
            inset = (pw - iw, ph - title_h - ih, iw, ih)
        elif unit_page:
            iw = pw * 0.42
            ih = min(iw * 1.1, ph * 0.3)
            inset = (pw - iw, 0.0, iw, ih)
        else:
            iw = pw
            ih = min(pw * 0.72, ph * 0.32)
            inset = (0.0, 0.0, iw, ih)
    legend: list[tuple[str, str, int]]
    if unit_page:
        first = cols[0]
        if portrait:
            second = cols[1]
        else:
            bottom_h = inset[3] + title_h + 2.0 * s if inset else 0.0
            legend_h = (9.0 * 1.7 * MM_PER_PT + 5 * 4.4 + 2.0) * s
            first.bottom = max(bottom_h, legend_h) + 4.0 * s
            legend_w = pw - (inset[2] + 4.0 * s if inset else 0.0)
            second = _Flow(pax, page, 0.0, max(bottom_h, legend_h), legend_w, 0.0)
        _record_block(first, data, options, geo, chosen[0])
        _neighbours_block(second if portrait else first, options, geo, neighbours, statuses)
        if portrait:
            second.space(3.0)
        legend = _compact_legend(second, data, options)
    else:
        legend, summ = _legend_block(cols[0], data, options, counts=True, area=bool(chosen))
        if inset and not portrait:
            cols[0].bottom = inset[3] + title_h + 4.0 * s
        target = cols[1] if portrait else cols[0]
        if not portrait:
            target.space(3.5)
        _figures_block(target, summ, options)
        target.space(2.0)
        chosen_codes = {geo.codes[i] for i in chosen}
        total = sum(1 for c in cands if c[4] == INK and geo.codes[c[0]] not in chosen_codes)
        n_shown = sum(1 for c in shown if c not in chosen_codes)
        target.wrapped(
            t["labels_note"].format(shown=min(n_shown, total), total=total), 6.2, color=MUTED
        )
    if inset is not None:
        ix, iy, iw, ih = inset
        pax.text(
            ix,
            iy + ih + 1.2 * s,
            t["location"],
            fontsize=7.0 * s,
            fontweight="bold",
            color=INK,
            va="bottom",
            parse_math=False,
        )
        _inset(page, geo, px + ix, py + iy, iw, ih, view)
    for art in [*pax.patches, *pax.lines, *pax.texts]:  # strokes on the edge stay whole
        art.set_clip_on(False)
    return legend


def _compact_legend(flow: _Flow, data: MapData, options: ExportOptions):
    """Draw the status swatches without counts (pack unit pages); return the legend rows."""
    t = _texts(options)
    counts = data.summary()["counts"]
    flow.line(t["legend"], 7.6, weight="bold")
    flow.space(0.3)
    rows = []
    for st in options.prog.statuses:
        rows.append((st.code, st.label(options.lang), int(counts[st.code])))
        flow.swatch(st.code, st.label(options.lang), 6.8, row=4.4, box=(6.5, 3.4))
    return rows


def _record_block(
    flow: _Flow, data: MapData, options: ExportOptions, geo: _Geometry, i: int
) -> None:
    t = _texts(options)
    code = geo.codes[i]
    rec = data.record(code)
    own = rec.status if rec is not None else NOT_LISTED
    former = data.standing.former_units(code)
    status = data.standing.statuses([code])[code]
    flow.line(t["record"], 9.0, weight="bold")
    flow.space(0.5)
    prog = options.prog
    flow.swatch(status, prog.label(status, options.lang), 9.0, weight="bold")
    if status != own:  # the colour comes from a former unit's record
        flow.wrapped(t["own"].format(status=prog.label(own, options.lang)), 6.6, color=MUTED)
    flow.space(1.0)
    key_w = 28.0
    flow.pair(t["code"], code, key_w)
    if rec is not None:
        for f in prog.fields:  # the programme's fields, as its definition gives them
            value = rec.get(f.name)
            name = f.print_label(options.lang)
            if f.type == "date":
                flow.pair(name, format_date(value, "vi") or t["none"], key_w)
            elif f.type == "list":
                flow.pair(name, "\n".join(value[:6]) or t["none"], key_w, bullets=True)
            elif f.type == "text":
                flow.pair(name, value or t["none"], key_w)
            elif value not in (None, ""):  # long text and numbers only when given
                flow.pair(name, f.to_text(value), key_w)
    flow.space(2.0)
    if former and not flow.full:
        flow.line(t["former"].format(n=len(former)), 7.6, weight="bold")
        flow.space(0.3)
        for pair, old in former:
            old_rec = getattr(old, "record", old)
            st = old_rec.status if old_rec is not None else NOT_LISTED
            name = full_name(pair.get("kind", ""), pair.get("name", "")) or pair["old_code"]
            title = f"{name} ({pair['old_division']}: {pair['old_code']})"
            if not flow.swatch(st, title, 7.0, row=4.6, box=(6.5, 3.4)):
                break
            split = t["split"] if pair.get("split") else ""
            line = t["former_line"].format(status=prog.label(st, options.lang), split=split)
            dated = _former_date(prog, old_rec, options.lang)
            if dated is not None:
                line += f" · {dated[0]} {format_date(dated[1], 'vi')}"
            if not flow.wrapped(line, 6.2, indent=9.1, color=MUTED, max_lines=2):
                break
        flow.space(2.0)


def _former_date(prog: Programme, rec: Record | None, lang: str) -> tuple[str, dt.date] | None:
    """Return the date a former unit's line shows, with its label: the latest of the fields
    that date a status (hotspot: transformed_on, else designated_on) that it has."""
    if rec is None:
        return None
    names = [f.name for f in prog.fields if any(s.dated_by == f.name for s in prog.statuses)]
    for name in reversed(names):
        if rec.get(name):
            return prog.field(name).print_label(lang), rec.get(name)
    return None


def _neighbours_block(
    flow: _Flow,
    options: ExportOptions,
    geo: _Geometry,
    neighbours: Sequence[int],
    statuses: Mapping[str, str],
) -> None:
    t = _texts(options)
    if neighbours and not flow.full:
        flow.line(t["neighbours"].format(n=len(neighbours)), 7.6, weight="bold")
        flow.space(0.3)
        order = sorted(neighbours, key=lambda j: search_key(geo.names[j]))
        items = [(statuses[geo.codes[j]], full_name(geo.kinds[j], geo.names[j])) for j in order]
        flow.grid(items, 6.6, t["more"])


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


# -- helpers for the two doors ------------------------------------------------------------------
MIME_TYPES = {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"}


def file_name(kind: str, options: ExportOptions, as_of: dt.date) -> str:
    """Return an ASCII file name for a download: "ban-do-chuyen-hoa_16522_2025-05-19.png".

    Parameters
    ----------
    kind:
        ``map`` or ``pack``.
    """
    stem = options.prog.text("file_map" if kind == "map" else "file_pack", options.lang)
    parts = [stem]
    if options.areas:
        codes = [c for c in options.areas if c.isascii() and c.replace("-", "").isalnum()]
        if codes and len(options.areas) <= 3:
            parts.append("-".join(codes))
        else:
            parts.append(f"{len(options.areas)}-{'don-vi' if options.lang == 'vi' else 'units'}")
    if options.paper != "A4" or options.orientation != "landscape":
        parts.append(f"{options.paper}-{options.orientation}".lower())
    parts.append(as_of.isoformat())
    return "_".join(parts) + "." + options.fmt
