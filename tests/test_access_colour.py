"""Cues that are not colour: the statuses read in greyscale on the web map and on paper.

The web map fills the hatched statuses (hotspot, relapsed) with an SVG pattern of the lines the
printed exports draw; a greyscale screenshot at 1366×768 tells hotspot, transformed and
relapsed apart by their texture. The exports print their unit labels at 7 pt or more on A4
(larger on a slide) and fill transformed units light, so a greyscale photocopy tells them from
the problem units.

Writes `docs/screenshots/greyscale-map.png` and `docs/screenshots/greyscale-export-a4.png`
when ``GEO_APP_SCREENSHOTS=1``.
"""

# ruff: noqa: F811  (the fixtures imported from test_browser are parameters by the same names)
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import shapely
from conftest import BY_CODE, HOTSPOT
from PIL import Image
from test_browser import (  # noqa: F401  (fixtures used by name)
    CHROMIUM,
    _context,
    assert_same_origin,
    live,
    log_in,
    open_map,
    playwright,
    requests_made,
    screen_point,
)
from test_export import data, map_data, opts, sample_store  # noqa: F401

from geo_app.outputs import printmap
from geo_app.webmap import maps

DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SHOTS = os.environ.get("GEO_APP_SCREENSHOTS") == "1"
GRAVE = ("hotspot", "relapsed")


# -- greyscale, as CIELAB lightness ---------------------------------------------------------------
def lightness(rgb: np.ndarray) -> np.ndarray:
    """Return the CIELAB L* (0-100, D65) of sRGB values 0-255 (any shape ending in 3)."""
    c = np.asarray(rgb, dtype=float)[..., :3] / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = lin @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(y > (6 / 29) ** 3, 116 * np.cbrt(y) - 16, y * (29 / 3) ** 3)


def hex_lightness(colour: str) -> float:
    return float(lightness(np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])))


def greyscale(rgb: np.ndarray) -> np.ndarray:
    """Return the image as a greyscale copy shows it: L* as grey levels 0-255."""
    return np.round(lightness(rgb) * 2.55).astype(np.uint8)


def delta_e(l1: float, l2: float) -> float:
    """ΔE*ab of two greys (a* = b* = 0): the difference of their lightness."""
    return abs(l1 - l2)


def test_the_lightness_conversion_is_cielab():
    assert hex_lightness("#FFFFFF") == pytest.approx(100, abs=0.01)
    assert hex_lightness("#000000") == pytest.approx(0, abs=0.01)
    assert hex_lightness("#777777") == pytest.approx(50.03, abs=0.1)  # a known mid-grey


# -- the web map ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def laptop(playwright, tmp_path_factory, requests_made):
    ctx = _context(
        playwright,
        tmp_path_factory.mktemp("profile-laptop"),
        requests_made,
        viewport={"width": 1366, "height": 768},
    )
    yield ctx
    ctx.close()


@pytest.fixture
def laptop_page(laptop, live, requests_made):
    laptop.clear_cookies()
    page = laptop.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    log_in(page, live)
    yield page
    page.close()
    assert not problems, problems
    assert_same_origin(requests_made, live.base)


def _widest_unit(page, display, status: str) -> tuple[tuple[float, float], float]:
    """Return the screen centre and radius (px) of the widest inscribed circle of a unit of
    `status` on the map."""
    statuses = page.evaluate("() => window.__geoapp.layer.geoApp.statuses")
    geoms = display.units.set_index("code").geometry
    best = None
    for code, st in statuses.items():
        if st != status:
            continue
        line = shapely.maximum_inscribed_circle(geoms[code])
        (cx, cy), (ex, ey) = line.coords
        centre = screen_point(page, (cy, cx))
        edge = screen_point(page, (ey, ex))
        r = float(np.hypot(centre[0] - edge[0], centre[1] - edge[1]))
        if best is None or r > best[1]:
            best = (centre, r)
    assert best is not None, f"no unit is {status}"
    return best


def _patch(grey: np.ndarray, centre: tuple[float, float], r: float) -> np.ndarray:
    """Return the square of the image well inside a circle (half-side 0.6 r)."""
    half = int(0.6 * r)
    x, y = int(round(centre[0])), int(round(centre[1]))
    return grey[y - half : y + half + 1, x - half : x + half + 1].astype(float)


def _direction_ratio(patch: np.ndarray, d: int = 2) -> float:
    """Return how much more the patch changes shifted along ↘ than along ↗ (image rows down).

    Lines drawn "/" (up to the right) stay put shifted along ↗, so the ratio is large; a cross
    hatch or a flat fill changes alike both ways (ratio about 1).
    """
    a = patch[d:, :-d]  # (row + d, col - d) against (row, col): along ↗
    b = patch[:-d, :-d]  # (row, col) against (row + d, col + d): along ↘
    up = np.abs(a - patch[:-d, d:]).mean()
    down = np.abs(b - patch[d:, d:]).mean()
    return float(down / max(up, 1e-6))


def test_grave_statuses_are_patterned_on_the_web_map_and_read_in_greyscale(
    laptop_page, live, display, tmp_path
):
    page = laptop_page
    open_map(page, live)
    page.mouse.move(2, 2)  # no hover outline on a unit
    fills = page.evaluate(
        """() => {
            const out = {};
            window.__geoapp.layer.eachLayer(l => {
                const s = window.__geoapp.layer.geoApp.statuses[l.feature.properties.code]
                    || "not_listed";
                (out[s] = out[s] || new Set()).add(l._path.getAttribute("fill"));
            });
            return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v]]));
        }"""
    )
    patterns = maps.status_patterns()
    assert set(patterns) == {s.code for s in HOTSPOT.statuses if s.hatch} == set(GRAVE)
    for code in GRAVE:
        pid = patterns[code]["id"]
        assert fills[code] == [f"url(#{pid})"], code
        # the pattern is in the map's SVG, on the status colour, with the print hatch's lines
        found = page.evaluate(
            """(id) => {
                const p = document.getElementById(id);
                if (!p || p.tagName !== "pattern" || !p.closest(".leaflet-overlay-pane svg")) {
                    return null;
                }
                return [p.querySelector("rect").getAttribute("fill"),
                        p.querySelector("path").getAttribute("stroke")];
            }""",
            pid,
        )
        assert found == [BY_CODE[code].color, maps.HATCH_INK], code
    assert fills["transformed"] == [BY_CODE["transformed"].color]
    # the legend's swatches carry the same lines
    swatches = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll(".legend-row")].map(b =>
            [b.dataset.status, getComputedStyle(b.querySelector(".swatch")).backgroundImage]))"""
    )
    for code in GRAVE:
        assert "repeating-linear-gradient" in swatches[code], code
    assert swatches["transformed"] == "none"

    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
    assert shot.shape[:2] == (768, 1366)
    grey = greyscale(shot)
    Image.fromarray(grey).save(tmp_path / "greyscale-map.png")
    if SHOTS:
        DOCS.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grey).save(DOCS / "greyscale-map.png", optimize=True)

    stats = {}
    for code in ("hotspot", "transformed", "relapsed"):
        centre, r = _widest_unit(page, display, code)
        assert r >= 8, f"the widest {code} unit is too small on screen to sample ({r:.1f} px)"
        patch = _patch(grey, centre, r)
        stats[code] = (patch.mean(), patch.std(), _direction_ratio(patch))
    # in greyscale the three colours alone are close (the issue measured ΔE 3-7)...
    flat = {c: hex_lightness(BY_CODE[c].color) for c in ("hotspot", "transformed", "relapsed")}
    assert delta_e(flat["hotspot"], flat["transformed"]) < 15
    # ...but the grave ones are textured and the transformed one is flat
    assert stats["transformed"][1] < 4, stats
    for code in GRAVE:
        assert stats[code][1] > 4 * max(stats["transformed"][1], 2.0), (code, stats)
    # and hotspot's lines run one way (/), relapsed's cross (x)
    assert stats["hotspot"][2] > 2.0, stats
    assert 0.5 < stats["relapsed"][2] < 1.5, stats


def test_web_patterns_follow_the_programme_definition():
    drugs = maps.status_patterns("drugs")
    from geo_app.core import programme as programmes

    prog = programmes.get("drugs")
    assert set(drugs) == {s.code for s in prog.statuses if s.hatch}
    assert len(drugs) == 2
    for code, p in drugs.items():
        assert p["color"] == prog.by_code[code].color
        assert p["id"] != maps.status_patterns()["hotspot"]["id"]
    one_way = maps.status_patterns()["hotspot"]["d"]
    cross = maps.status_patterns()["relapsed"]["d"]
    assert one_way.count("M") == 3 and cross.count("M") == 6
    rows = maps.status_legend({s.code: 0 for s in HOTSPOT.statuses})
    by_code = {r["code"]: r for r in rows}
    assert by_code["hotspot"]["pattern"] and by_code["transformed"]["pattern"] is None
    assert by_code["hotspot"]["swatch"].startswith(f"background: {BY_CODE['hotspot'].color}")
    assert "repeating-linear-gradient" in by_code["relapsed"]["swatch"]
    assert by_code["transformed"]["swatch"] == f"background: {BY_CODE['transformed'].color}"


# -- the exports ----------------------------------------------------------------------------------
def _label_sizes(mf: printmap.MapFigure) -> list[float]:
    """Return the font size (pt) of every unit label the map shows (the visible texts drawn
    at a unit's label point, halos left out)."""
    sizes = []
    for t in mf.ax.texts:
        if t.get_color() == "white":  # the halo copy under a PDF label
            continue
        if t.get_zorder() == 4:  # labels sit at zorder 4 (north arrow, scale bar at 6)
            sizes.append(t.get_fontsize())
    return sizes


def test_province_labels_are_at_least_7_pt_on_an_a4_pdf(data):
    mf = printmap.build_map(data, opts("pdf"))
    sizes = _label_sizes(mf)
    assert len(sizes) == len(mf.labels) > 10
    assert min(sizes) >= 7.0, min(sizes)
    # and in the PDF itself: pypdf reads the font size each label is set in
    from pypdf import PdfReader

    body = printmap.save(mf, opts("pdf"))
    reader = PdfReader(io.BytesIO(body))
    seen: dict[str, float] = {}

    def visit(text, cm, tm, font, size):
        if text.strip():
            seen.setdefault(text.strip(), size * abs(tm[0]) if tm[0] else size)

    reader.pages[0].extract_text(visitor_text=visit)
    names = set(data.units.set_index("code").loc[mf.labels, "name"])
    label_sizes = [s for text, s in seen.items() if text in names]
    assert label_sizes, "no label found in the PDF's text"
    assert min(label_sizes) >= 7.0 - 0.05, sorted(label_sizes)[:5]


def test_area_labels_are_at_least_7_pt_on_a4(data):
    statuses = data.statuses()
    code = next(c for c, s in statuses.items() if s == "hotspot")
    mf = printmap.build_map(data, opts("png", dpi=50, area=code))
    sizes = _label_sizes(mf)
    assert sizes and min(sizes) >= 7.0


def test_labels_grow_with_the_paper_and_more_on_a_slide(data):
    a4 = min(_label_sizes(printmap.build_map(data, opts("png", dpi=50))))
    a3 = min(_label_sizes(printmap.build_map(data, opts("png", dpi=50, paper="A3"))))
    slide_mf = printmap.build_map(data, opts("png", dpi=96, paper="slide"))
    slide = min(_label_sizes(slide_mf))
    assert a3 == pytest.approx(a4 * 2**0.5, rel=0.01)
    # a slide (190.5 mm high) is smaller than A4 but read from across a room
    assert slide >= 9.5 and slide > a4 * 1.3, (a4, slide)
    assert len(slide_mf.labels) >= 30  # and still name most listed units


def test_transformed_prints_light_in_greyscale():
    light = {s.code: hex_lightness(s.print_fill) for s in HOTSPOT.statuses}
    for grave in GRAVE:
        assert light["transformed"] - light[grave] >= 15, light
    # and it stays apart from the other statuses and from "not listed"
    assert light["transformed"] - light["in_progress"] >= 10, light
    assert light["not_listed"] - light["transformed"] >= 10, light
    # the web map keeps the palette's own colour
    assert BY_CODE["transformed"].print_fill != BY_CODE["transformed"].color


def test_a4_export_reads_in_greyscale(data, tmp_path):
    """On the printed A4 map in greyscale, transformed units are clearly lighter than hotspot
    and relapsed ones (mean L* over the unit's pixels, hatch lines included)."""
    options = opts("png", dpi=150)
    mf = printmap.build_map(data, options)
    image = np.asarray(Image.open(io.BytesIO(printmap.save(mf, options))).convert("RGB"))
    grey = greyscale(image)
    Image.fromarray(grey).save(tmp_path / "greyscale-export-a4.png")
    if SHOTS:
        DOCS.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grey).save(DOCS / "greyscale-export-a4.png", optimize=True)
    metric = data.units.to_crs(mf.crs).set_index("code").geometry
    statuses = data.statuses()
    pos = mf.ax.get_position()
    x0, y0, x1, y1 = mf.view
    height, width = grey.shape
    means: dict[str, float] = {}
    for status in ("hotspot", "transformed", "relapsed"):
        values = []
        for code in [c for c, s in statuses.items() if s == status]:
            inner = metric[code].buffer(-500)
            if inner.is_empty:
                continue
            minx, miny, maxx, maxy = inner.bounds
            cols = np.arange(
                int((pos.x0 + (minx - x0) / (x1 - x0) * pos.width) * width),
                int((pos.x0 + (maxx - x0) / (x1 - x0) * pos.width) * width) + 1,
            )
            rows = np.arange(
                int((1 - (pos.y0 + (maxy - y0) / (y1 - y0) * pos.height)) * height),
                int((1 - (pos.y0 + (miny - y0) / (y1 - y0) * pos.height)) * height) + 1,
            )
            cc, rr = np.meshgrid(cols, rows)
            mx = x0 + ((cc + 0.5) / width - pos.x0) / pos.width * (x1 - x0)
            my = y0 + ((1 - (rr + 0.5) / height) - pos.y0) / pos.height * (y1 - y0)
            inside = shapely.contains_xy(inner, mx, my)
            values.extend(grey[rr[inside], cc[inside]].tolist())
        assert len(values) > 200, status
        means[status] = float(np.mean(values)) / 2.55  # back to L*
    for grave in GRAVE:
        assert delta_e(means["transformed"], means[grave]) >= 15, means
        assert means["transformed"] > means[grave], means
