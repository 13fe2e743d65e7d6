"""Old-division records on today's map, in Debian's chromium: colours and the panel's list of
former units (the same live server, browser and checks as `test_browser`, on its own store)."""

# ruff: noqa: F811  (the fixtures imported from test_browser are parameters by the same names)
from __future__ import annotations

import pytest
from conftest import BY_CODE
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
from test_rollup_web import import_2024, load_crosswalk

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module", autouse=True)
def old_records(live):
    """This module's server holds the 2024 sample records and the crosswalk besides 2025's."""
    store = live.app.extensions["geo_app"].store
    load_crosswalk(store)
    import_2024(store)


def fill_of(page, code: str) -> str:
    return page.evaluate(
        f"(code) => {FILL_COLOUR}(window.__geoapp.layer.getLayers()"
        ".find(l => l.feature.properties.code === code)._path)",
        code,
    )


def open_unit(page, interior, code: str) -> None:
    x, y = screen_point(page, interior(code))
    assert unit_under(page, x, y) == code
    page.mouse.click(x, y)
    page.locator("#panel").wait_for(state="visible")
    page.locator("#panel .timeline li").first.wait_for()


def test_units_are_drawn_with_their_former_units_roll_up(page, live):
    open_map(page, live)
    assert fill_of(page, "15019") == BY_CODE["relapsed"].color  # only a former unit's record
    assert fill_of(page, "16213") == BY_CODE["hotspot"].color  # own in progress, former hotspot
    assert page.locator('[data-figure="listed"] .figure-value').inner_text() == "80"


def test_the_panel_lists_former_units_with_status_dates_and_split(page, live, interior, tmp_path):
    open_map(page, live)
    open_unit(page, interior, "15019")
    assert page.locator("#panel .status-text").inner_text() == "Phức tạp trở lại"
    assert "Không có hồ sơ riêng" in page.locator('#panel [data-field="message"]').inner_text()
    items = page.locator("#panel .former-unit")
    assert items.count() == 3
    son_lu = items.filter(has_text="Sơn Lư")
    assert "Thị trấn Sơn Lư" in son_lu.inner_text()
    assert "2024 · Mã 15016" in son_lu.inner_text()
    assert "Phức tạp trở lại" in son_lu.inner_text()
    assert son_lu.locator(".former-split").inner_text() == "đã chia cho nhiều đơn vị"
    assert page.locator("#panel .panel-section h3", has_text="sáp nhập").inner_text() == (
        "CÁC ĐƠN VỊ CŨ SÁP NHẬP VÀO ĐƠN VỊ NÀY"  # shown in capitals by the stylesheet
    )
    assert "Ngày chuyển hóa 16/08/2023" in son_lu.inner_text()
    assert son_lu.locator(".former-sample").inner_text() == "Dữ liệu mẫu"  # from the sample file
    assert items.filter(has_text="Sơn Hà").locator(".former-sample").count() == 0  # no record
    page.screenshot(path=str(tmp_path / "panel-15019.png"))

    open_unit(page, interior, "15016")  # own record hotspot, graver former record
    assert page.locator("#panel .status-text").inner_text() == "Phức tạp trở lại"
    note = page.locator('#panel [data-field="rollup-note"]')
    assert note.is_visible() and "Trọng điểm, phức tạp" in note.inner_text()
    assert page.locator('#panel [data-field="designated_on"]').is_visible()

    open_unit(page, interior, "14845")  # no former unit with a record of its own
    assert page.locator('#panel [data-field="rollup-note"]').is_hidden()
