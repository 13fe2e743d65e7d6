"""Briefing exports (geo_app.export): sizes, colours, legend, PDF text, reference image, errors.

The reference image `tests/data/export_reference.png` is the province map, A4 landscape at
50 dpi, of the bundled sample data with the figures dated 30/06/2025. After a deliberate change
of the layout, regenerate it and look at it before committing:

    GEO_APP_REGENERATE_REFERENCE=1 .venv/bin/pytest tests/test_export.py -k reference
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import shapely
import time_machine
from conftest import BY_CODE, HOTSPOT, STATUSES
from matplotlib.testing.compare import compare_images
from PIL import Image
from pypdf import PdfReader

from geo_app import config
from geo_app.core.programme import NOT_LISTED
from geo_app.core.records import Standing
from geo_app.errors import BadRequest
from geo_app.io import importer
from geo_app.outputs import printmap
from geo_app.readmodel import ReadModel, View
from geo_app.store import Store

DATA = Path(__file__).resolve().parent / "data"
REFERENCE = DATA / "export_reference.png"
AS_OF = dt.date(2025, 6, 30)
TRANSFORMED_2023 = ("16522", "16417", "16438", "15187")  # DESIGN.md: transformed by May 2023
TITLE_VI = "Tình hình chuyển hóa địa bàn trọng điểm, phức tạp về ANTT — tỉnh Thanh Hóa"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory, units):
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('export') / 'store.sqlite3'}")
    store.upgrade()
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(store, sample.read_bytes(), sample.name, units)
    yield store
    store.dispose()


def map_data(display, store, day=None) -> printmap.MapData:
    """Return what the exports draw, read as every door reads it (`geo_app.readmodel`)."""
    view = ReadModel(store, "2025").view(list(display.units["code"]), day)
    return printmap.MapData(display.units, view, key=display.key, source="thanh-hoa-2025 (2025)")


@pytest.fixture(scope="module")
def data(display, sample_store) -> printmap.MapData:
    return map_data(display, sample_store)


def opts(fmt: str = "png", **params) -> printmap.ExportOptions:
    return printmap.parse_options({k: str(v) for k, v in params.items()}, fmt)


def png_array(body: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(body)) as im:
        return np.asarray(im.convert("RGB"))


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])


def pixel_grid(mf: printmap.MapFigure, shape: tuple[int, int]):
    """Return a function mapping map coordinates (metric CRS) to PNG pixel (column, row)."""
    pos = mf.ax.get_position()
    x0, y0, x1, y1 = mf.view
    height, width = shape

    def to_px(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fx = pos.x0 + (x - x0) / (x1 - x0) * pos.width
        fy = pos.y0 + (y - y0) / (y1 - y0) * pos.height
        return fx * width, (1 - fy) * height

    def to_map(col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fx, fy = col / width, 1 - row / height
        return (
            x0 + (fx - pos.x0) / pos.width * (x1 - x0),
            y0 + (fy - pos.y0) / pos.height * (y1 - y0),
        )

    return to_px, to_map


def dominant_colour(image: np.ndarray, mf: printmap.MapFigure, polygon) -> np.ndarray:
    """Return the most frequent colour of the pixels well inside `polygon` (metric CRS)."""
    to_px, to_map = pixel_grid(mf, image.shape[:2])
    inner = polygon.buffer(-400)
    minx, miny, maxx, maxy = inner.bounds
    c0, r1 = to_px(np.array(minx), np.array(miny))
    c1, r0 = to_px(np.array(maxx), np.array(maxy))
    cols, rows = np.meshgrid(
        np.arange(int(c0), int(c1) + 1), np.arange(int(r0), int(r1) + 1), indexing="xy"
    )
    cols, rows = cols.ravel(), rows.ravel()
    x, y = to_map(cols + 0.5, rows + 0.5)
    inside = shapely.contains_xy(inner, x, y)
    assert inside.sum() > 30, "unit too small to sample at this resolution"
    pixels = image[rows[inside], cols[inside]]
    colour, _ = Counter(map(tuple, pixels)).most_common(1)[0]
    return np.array(colour)


# -- sizes -------------------------------------------------------------------------------------
def test_a4_landscape_png_at_300_dpi_is_3508_by_2480(data):
    body = printmap.render_map(data, opts("png", dpi=300))
    assert body.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(body)) as im:
        assert im.size == (3508, 2480)


@pytest.mark.parametrize(
    "params, size",
    [
        ({"paper": "A4", "orientation": "portrait", "dpi": 50}, (413, 585)),
        ({"paper": "A3", "dpi": 60}, (992, 702)),
        ({"paper": "slide", "dpi": 96}, (1280, 720)),
    ],
)
def test_png_sizes_follow_paper_orientation_and_dpi(data, params, size):
    options = opts("png", **params)
    assert options.pixels() == size
    with Image.open(io.BytesIO(printmap.render_map(data, options))) as im:
        assert im.size == size


# -- colours and legend ------------------------------------------------------------------------
def test_units_are_filled_with_their_status_colour(data):
    options = opts("png", dpi=150)
    mf = printmap.build_map(data, options)
    image = png_array(printmap.save(mf, options))
    metric = data.units.to_crs(mf.crs).set_index("code").geometry
    statuses = data.statuses()
    checked: dict[str, list[str]] = {}
    for code in TRANSFORMED_2023:
        assert statuses[code] == "transformed"
    for st in STATUSES:  # the largest two units of each status, hatched ones included
        codes = [c for c, s in statuses.items() if s == st.code]
        codes.sort(key=lambda c: -metric[c].area)
        checked[st.code] = codes[:2]
    checked["transformed"] = list(TRANSFORMED_2023)
    for status_code, codes in checked.items():
        for code in codes:
            colour = dominant_colour(image, mf, metric[code])
            expected = rgb(BY_CODE[status_code].print_fill)  # the print fill
            assert np.abs(colour - expected).max() <= 3, (code, status_code, colour, expected)


def test_legend_counts_equal_the_store(data, sample_store, display):
    stored = sample_store.records("2025")
    by_status = Counter(r.record.status for r in stored.values())
    expected = {s.code: by_status.get(s.code, 0) for s in STATUSES}
    expected[NOT_LISTED] = len(display.units) - len(stored)
    mf = printmap.build_map(data, opts("png", dpi=50))
    assert {code: n for code, _, n in mf.legend} == expected
    assert [code for code, _, _ in mf.legend] == [s.code for s in STATUSES]
    assert sum(expected.values()) == 166 and len(stored) == 62
    texts = [t.get_text() for t in mf.figure.findobj(lambda a: hasattr(a, "get_text"))]
    for st in STATUSES:
        assert st.label_vi in texts
        assert str(expected[st.code]) in texts


def test_labels_name_listed_units_without_overlaps(data):
    mf = printmap.build_map(data, opts("png", dpi=50))
    statuses = data.statuses()
    assert mf.labels, "no label was placed"
    assert all(statuses[c] != NOT_LISTED for c in mf.labels)
    assert set(mf.labels) | set(mf.dropped) == {c for c, s in statuses.items() if s != NOT_LISTED}
    frame = mf.ax.get_window_extent(mf.figure.canvas.get_renderer())
    boxes = mf.label_boxes
    for i, a in enumerate(boxes):
        assert frame.x0 <= a.x0 and a.x1 <= frame.x1 and frame.y0 <= a.y0 and a.y1 <= frame.y1
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


def test_hotspot_and_relapsed_are_hatched(data):
    mf = printmap.build_map(data, opts("png", dpi=50))
    hatches = {}
    for coll in mf.ax.collections:
        faces = coll.get_facecolor()
        if len(faces):
            hatches[tuple(np.round(faces[0][:3] * 255).astype(int))] = coll.get_hatch()
    for st in STATUSES:
        assert hatches[tuple(rgb(st.print_fill))] == (st.hatch or None), st.code
    assert BY_CODE["hotspot"].hatch and BY_CODE["relapsed"].hatch


def test_a_long_title_is_wrapped_not_cut(data):
    title = " ".join(["Báo cáo sơ kết chuyển hóa địa bàn trọng điểm"] * 3)
    mf = printmap.build_map(data, opts("png", dpi=50, orientation="portrait", title=title))
    texts = [t.get_text() for t in mf.figure.texts]
    head = next(t for t in texts if t.startswith("Báo cáo"))
    assert "\n" in head and head.replace("\n", " ") == title


def test_an_empty_store_gives_a_grey_province_dated_today(display, sqlite_store):
    empty = map_data(display, sqlite_store)
    with time_machine.travel(dt.datetime(2025, 6, 30, 18, 0, tzinfo=dt.UTC)):  # 01:00, 1 July
        assert empty.figures_date == dt.date(2025, 7, 1) and not empty.sample
        mf = printmap.build_map(empty, opts("png", dpi=50))
    assert {code: n for code, _, n in mf.legend}[NOT_LISTED] == len(display.units)
    assert mf.labels == []
    texts = [t.get_text() for t in mf.figure.texts]
    assert "Số liệu tính đến ngày 01/07/2025" in texts
    assert not any("DỮ LIỆU MẪU" in t for t in texts)
    assert len(PdfReader(io.BytesIO(printmap.render_pack(empty, opts("pdf")))).pages) == 1


def test_sample_data_is_marked(data):
    assert data.sample
    texts = [t.get_text() for t in printmap.build_map(data, opts()).figure.texts]
    assert "DỮ LIỆU MẪU — KHÔNG PHẢI SỐ LIỆU THẬT" in texts
    assert "LƯU HÀNH NỘI BỘ" in texts


# -- PDF and SVG -------------------------------------------------------------------------------
def pdftotext(body: bytes, tmp_path: Path, page: int | None = None) -> str:
    assert shutil.which("pdftotext"), "pdftotext missing: install poppler-utils (make system-deps)"
    path = tmp_path / "out.pdf"
    path.write_bytes(body)
    args = ["pdftotext", "-enc", "UTF-8"]
    if page is not None:
        args += ["-f", str(page), "-l", str(page)]
    return subprocess.run(
        [*args, str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_pdf_text_gives_back_the_vietnamese_exactly(data, tmp_path):
    body = printmap.render_map(data, opts("pdf"))
    assert body.startswith(b"%PDF")
    text = pdftotext(body, tmp_path)
    lines = [ln.strip() for ln in text.splitlines()]
    assert TITLE_VI in lines
    assert f"Số liệu tính đến ngày {data.figures_date:%d/%m/%Y}" in lines
    for st in STATUSES:
        assert st.label_vi in lines
    assert "LƯU HÀNH NỘI BỘ" in lines
    assert "DỮ LIỆU MẪU — KHÔNG PHẢI SỐ LIỆU THẬT" in lines
    assert "Quảng Phú" in lines  # a unit label


def test_pdf_embeds_the_font_as_truetype(data):
    reader = PdfReader(io.BytesIO(printmap.render_map(data, opts("pdf"))))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    kinds = set()
    for ref in fonts.values():
        font = ref.get_object()
        kinds.add(str(font["/Subtype"]))
        assert "BeVietnamPro" in str(font["/BaseFont"])
        for desc in font.get("/DescendantFonts", []):
            desc = desc.get_object()
            assert str(desc["/Subtype"]) == "/CIDFontType2"  # TrueType outlines
            assert "/FontFile2" in desc["/FontDescriptor"].get_object()
    assert "/Type3" not in kinds
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (297, 210)


def test_svg_is_well_formed_with_text_as_glyph_outlines(data):
    body = printmap.render_map(data, opts("svg", paper="A3", orientation="portrait"))
    root = ET.fromstring(body)
    assert root.tag.endswith("svg")
    assert not [e for e in root.iter() if e.tag.endswith("}text")]
    width = float(root.attrib["width"].removesuffix("pt"))
    assert round(width / 72 * 25.4) == 297


def test_the_same_data_gives_the_same_bytes(data):
    for fmt in ("pdf", "svg", "png"):
        options = opts(fmt, dpi=50)
        assert printmap.render_map(data, options) == printmap.render_map(data, options)


def test_english_labels_and_title(data, tmp_path):
    text = pdftotext(printmap.render_map(data, opts("pdf", lang="en")), tmp_path)
    assert HOTSPOT.text("print_title", "en") in text
    assert "FOR INTERNAL CIRCULATION" in text
    for st in STATUSES:
        assert st.label_en in text
    assert "Trọng điểm" not in text


def test_custom_title_and_marking(data, tmp_path):
    options = opts("pdf", title="Hội nghị sơ kết — tháng 5/2023", marking="MẬT")
    text = pdftotext(printmap.render_map(data, options), tmp_path)
    assert "Hội nghị sơ kết — tháng 5/2023" in text
    assert "MẬT" in text and "LƯU HÀNH NỘI BỘ" not in text


# -- reference image ---------------------------------------------------------------------------
def test_matches_the_reference_image(data, tmp_path):
    options = opts("png", dpi=50)
    dated = View("2025", data.revision, AS_OF, data.view.codes, data.standing)
    body = printmap.render_map(replace(data, view=dated), options)
    if os.environ.get("GEO_APP_REGENERATE_REFERENCE"):
        REFERENCE.write_bytes(body)
        pytest.skip(f"reference image written to {REFERENCE}; look at it before committing")
    actual = tmp_path / "actual.png"
    actual.write_bytes(body)
    result = compare_images(str(REFERENCE), str(actual), tol=4)
    assert result is None, result


# -- extent ------------------------------------------------------------------------------------
def test_area_shows_the_unit_and_its_neighbours(data, display):
    mf = printmap.build_map(data, opts("png", dpi=50, area="16522"))
    units = display.units.set_index("code").geometry
    touching = {
        c for c, g in units.items() if c != "16522" and shapely.intersects(g, units["16522"])
    }
    assert mf.chosen == ["16522"]
    assert set(mf.neighbours) == touching and len(touching) >= 3
    metric = display.units.to_crs(mf.crs).set_index("code").geometry
    x0, y0, x1, y1 = mf.view
    for code in ["16522", *touching]:
        bx0, by0, bx1, by1 = metric[code].bounds
        assert x0 <= bx0 and bx1 <= x1 and y0 <= by0 and by1 <= y1
    province = shapely.total_bounds(metric.values)
    assert (x1 - x0) < (province[2] - province[0]) / 3


def test_a_list_of_units(data):
    mf = printmap.build_map(data, opts("png", dpi=50, area="16522, 14845"))
    assert mf.chosen == ["16522", "14845"]
    assert "16522" in mf.labels and "14845" in mf.labels


# -- briefing pack -----------------------------------------------------------------------------
def test_pack_has_the_province_then_a_page_per_unit(data, tmp_path):
    body = printmap.render_pack(data, opts("pdf", area="16522,14845"))
    reader = PdfReader(io.BytesIO(body))
    assert len(reader.pages) == 3
    first = pdftotext(body, tmp_path, page=1)
    assert TITLE_VI in first and "CHÚ GIẢI" in first
    second = pdftotext(body, tmp_path, page=2)
    assert "Phường Quảng Phú (16522)" in second
    assert "Đã chuyển hóa" in second and "Đơn vị phụ trách" in second
    assert "Công an phường Quảng Phú" in second
    assert "Trang 2/3" in second
    third = pdftotext(body, tmp_path, page=3)
    assert "Xã Mường Lát (14845)" in third


def test_pack_lists_every_listed_unit_gravest_first(data):
    codes = printmap.pack_codes(data, opts("pdf"))
    statuses = data.statuses()
    assert sorted(codes) == sorted(c for c, s in statuses.items() if s != NOT_LISTED)
    gravities = [BY_CODE[statuses[c]].gravity for c in codes]
    assert gravities == sorted(gravities, reverse=True)


def test_pack_is_a_pdf(data):
    with pytest.raises(BadRequest, match="format: a briefing pack is a PDF"):
        printmap.render_pack(data, opts("png"))


# -- the figures' date -------------------------------------------------------------------------
class _Stored:
    def __init__(self, when):
        self.updated_at = when


def test_figures_date_is_the_last_change_in_vietnam_time():
    records = {
        "a": _Stored(dt.datetime(2025, 5, 18, 9, 0, tzinfo=dt.UTC)),
        "b": _Stored(dt.datetime(2025, 5, 19, 20, 0, tzinfo=dt.UTC)),  # 03:00, 20th in Vietnam
        "c": _Stored(dt.datetime(2025, 5, 1, 9, 0, tzinfo=dt.UTC)),
    }
    view = View("2025", 1, None, ["a", "b", "c"], Standing(records))
    assert view.figures_date == view.updated_on == dt.date(2025, 5, 20)
    empty = View("2025", 0, None, ["a"], Standing({}))
    with time_machine.travel(dt.datetime(2025, 6, 30, 17, 30, tzinfo=dt.UTC)):
        assert empty.updated_on is None and empty.figures_date == dt.date(2025, 7, 1)


# -- bad parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, fmt, message",
    [
        ({"paper": "A5"}, "png", "paper: 'A5' is not a paper size; use A4, A3 or slide"),
        (
            {"orientation": "sideways"},
            "png",
            "orientation: 'sideways' is not an orientation; use landscape or portrait",
        ),
        ({"paper": "slide", "orientation": "portrait"}, "png", "orientation: a slide is 16:9"),
        ({"dpi": "high"}, "png", "dpi: 'high' is not a whole number; use 50 to 600"),
        ({"dpi": "20"}, "png", "dpi: 20 is out of range; use 50 to 600"),
        ({"dpi": "1200"}, "png", "dpi: 1200 is out of range; use 50 to 600"),
        ({"lang": "fr"}, "png", "lang: 'fr' is not a supported language; use vi or en"),
        ({"title": "x" * 151}, "png", "title: too long (151 characters); use at most 150"),
        ({"title": "Bản đồ 🗺"}, "png", "title: the character '🗺' (U+1F5FA) cannot be printed"),
        ({"marking": "MẬT\u4e00"}, "png", "marking: the character"),
        ({"papr": "A4"}, "png", "unknown parameter 'papr'; use area, paper, orientation"),
        ({}, "jpg", "format: 'jpg' is not an export format; use png, pdf or svg"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(params, fmt, message):
    with pytest.raises(BadRequest) as info:
        printmap.parse_options(params, fmt)
    assert message in info.value.message
    assert info.value.status == 400


def test_unknown_area_code_is_named(data):
    with pytest.raises(BadRequest, match="area: no unit has the code '99999'"):
        printmap.render_map(data, opts("png", area="16522,99999"))
    with pytest.raises(BadRequest, match="'99999'"):
        printmap.render_pack(data, opts("pdf", area="99999"))


def test_format_of_a_file_name():
    assert printmap.format_of("map.PDF") == "pdf"
    with pytest.raises(BadRequest, match=r"format: 'map\.jpg' does not end in \.png, \.pdf"):
        printmap.format_of("map.jpg")


def test_options_are_forgiving_about_case_and_blanks():
    options = printmap.parse_options(
        {"paper": "a3", "orientation": "Portrait", "lang": "EN", "title": "  ", "dpi": ""}, "PNG"
    )
    assert (options.paper, options.orientation, options.lang) == ("A3", "portrait", "en")
    assert options.fmt == "png" and options.dpi == 300
    assert options.title_text == HOTSPOT.text("print_title", "en")
    assert printmap.split_codes(["16522, 16417", "16522 15187"]) == ("16522", "16417", "15187")
