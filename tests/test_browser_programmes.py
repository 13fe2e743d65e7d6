"""The drug-situation programme on the map, in Debian's chromium: its colours and legend, the
programme switcher, the panel's fields and an edit (the same live server, browser and checks as
`test_browser`, on its own store). Writes the screenshots `docs/map-drugs.png` and
`docs/panel-drugs.png` when ``GEO_APP_SCREENSHOTS=1``."""

# ruff: noqa: F811  (the fixtures imported from test_browser are parameters by the same names)
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from test_browser import (  # noqa: F401  (fixtures used by name)
    CHROMIUM,
    FILL_COLOUR,
    assert_same_origin,
    desktop,
    interior,
    live,
    open_map,
    page,
    playwright,
    requests_made,
    screen_point,
    unit_under,
)

from geo_app.config import SAMPLE_DIR
from geo_app.core import programme as programmes
from geo_app.io import importer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
DOCS = Path(__file__).resolve().parent.parent / "docs"
DRUGS = programmes.get("drugs")
COUNTS = {"type_1": 3, "type_2": 10, "type_3": 33, "drug_free": 32}


@pytest.fixture(scope="module", autouse=True)
def drug_records(live, units):
    """This module's server holds the drug programme's sample besides the hotspot one."""
    store = live.app.extensions["geo_app"].store
    sample = SAMPLE_DIR / "drugs_sample_2025.csv"
    importer.run_import(store, sample.read_bytes(), sample.name, units, programme="drugs")


def screenshot(page, name: str) -> None:
    if os.environ.get("GEO_APP_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / name))


def test_the_drug_map_has_its_colours_legend_and_figures(page, live):
    open_map(page, live, "/?programme=drugs")
    paths = page.locator(".leaflet-overlay-pane path.leaflet-interactive")
    assert paths.count() == 166
    fills = Counter(paths.evaluate_all(f"els => els.map({FILL_COLOUR})"))
    expected = {DRUGS.by_code[s].color: n for s, n in COUNTS.items()}
    expected[DRUGS.by_code["not_listed"].color] = 166 - sum(COUNTS.values())
    assert fills == expected
    rows = page.locator(".legend-row .legend-label").all_inner_texts()
    assert rows == [s.label_vi for s in DRUGS.statuses]
    assert page.locator("h1").inner_text() == "Bản đồ phân loại địa bàn về ma túy"
    assert page.locator('[data-figure="drug_free"] .figure-value').inner_text() == "32"
    headline = page.locator('[data-figure="drug_free"] .figure-note').inner_text()
    assert headline == "19,3 % tổng số xã, phường"
    screenshot(page, "map-drugs.png")


def test_the_switcher_goes_from_one_programme_to_the_other(page, live):
    open_map(page, live)
    assert page.locator("#programme-switch [aria-current=page]").inner_text().startswith("Chuyển")
    with page.expect_navigation():
        page.click('#programme-switch a[data-programme="drugs"]')
    page.wait_for_selector("html[data-map-state=ready]")
    assert "programme=drugs" in page.url
    assert page.locator('[data-figure="type_1"]').count() == 1
    assert page.locator('[data-figure="hotspot"]').count() == 0


def test_the_panel_shows_the_programmes_fields_and_an_edit_recolours_the_unit(page, live, interior):
    open_map(page, live, "/?programme=drugs")
    x, y = screen_point(page, interior("15607"))
    assert unit_under(page, x, y) == "15607"
    page.mouse.click(x, y)
    page.locator("#panel .timeline li").first.wait_for()
    assert page.locator("#panel .status-text").inner_text() == DRUGS.label("type_3")
    assert page.locator('#panel [data-field="decision"]').inner_text() == "3615/QĐ-UBND"
    assert page.locator('#panel [data-field="classified_on"]').inner_text() == "26/12/2025"
    assert page.locator('#panel [data-field="designated_on"]').count() == 0
    screenshot(page, "panel-drugs.png")

    page.click("#edit-open")
    page.select_option("#edit-status", "type_2")
    page.fill("#edit-note", "Chỉ số đạt tiêu chí loại II")
    page.locator("#edit-form .edit-more summary").click()
    assert page.locator("#edit-decision").input_value() == "3615/QĐ-UBND"
    page.fill("#edit-use_points", "2")
    page.click("#edit-save")
    page.wait_for_function(
        "() => document.querySelector('#panel .status-text').textContent"
        f" === {DRUGS.label('type_2')!r}"
    )
    fill = page.evaluate(
        f"() => {FILL_COLOUR}(window.__geoapp.layer.getLayers()"
        ".find(l => l.feature.properties.code === '15607')._path)"
    )
    assert fill == DRUGS.by_code["type_2"].color
    assert page.locator('#panel [data-field="use_points"]').inner_text() == "2"
    page.wait_for_function(
        "() => document.querySelector('[data-figure=\"type_2\"] .figure-value').textContent"
        " === '11'"
    )
    store = live.app.extensions["geo_app"].store
    assert store.record("2025", "15607", "drugs").record.status == "type_2"
    assert store.record("2025", "15607").record.status == "hotspot"  # the other programme
