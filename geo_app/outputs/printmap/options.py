"""What an export is asked for: its options, checked; its texts; the font and what it can print."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fontpkg_be_vietnam_pro
from matplotlib import font_manager, ft2font

from geo_app.core import programme as programmes
from geo_app.core.programme import Programme
from geo_app.errors import BadRequest

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


DPI_MIN = 50


DPI_MAX = 600


DPI_DEFAULT = 300


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
        "mark_due_soon": "Sắp đến hạn trong {days} ngày ({n}): viền chấm",
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
        "mark_due_soon": "Deadline within {days} days ({n}): dotted outline",
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


_FONT_DIR = Path(fontpkg_be_vietnam_pro.ROOT) / "files"


FONT_FAMILY = fontpkg_be_vietnam_pro.FAMILY


_FONT_LOCK = threading.Lock()


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


_fonts_ready = False
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
