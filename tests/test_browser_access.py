"""The map page with the keyboard alone and for a screen reader, in Debian's chromium (the same
live server, browser and checks as `test_browser`, on its own store with the 2024 crosswalk):
skip link, focus into the panel and back, no shape in the Tab order, search by former names,
the live region, the trend as a table, and the figures refreshed together after an edit."""

# ruff: noqa: F811  (the fixtures imported from test_browser are parameters by the same names)
from __future__ import annotations

import pytest
from conftest import STATUSES, login
from test_browser import (  # noqa: F401  (fixtures used by name)
    CHROMIUM,
    assert_same_origin,
    desktop,
    live,
    open_map,
    page,
    playwright,
    requests_made,
)
from test_rollup_web import load_crosswalk

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
RECORD_STATUSES = [s for s in STATUSES if s.code != "not_listed"]


@pytest.fixture(scope="module", autouse=True)
def crosswalk(live):
    """This module's server knows the 2024 units and the crosswalk into 2025."""
    load_crosswalk(live.app.extensions["geo_app"].store)


def active(page) -> dict:
    """Return what has the focus: its tag, id, and whether it is inside the panel."""
    return page.evaluate(
        """() => { const a = document.activeElement;
            return {tag: a.tagName.toLowerCase(), id: a.id,
                    inPanel: document.getElementById('panel').contains(a)}; }"""
    )


def panel_title_is(page, text: str) -> None:
    page.wait_for_function(
        "(t) => document.getElementById('panel-title').textContent === t", arg=text
    )


def live_says(page, part: str) -> None:
    page.wait_for_function(
        "(t) => document.getElementById('live-status').textContent.includes(t)", arg=part
    )


def test_keyboard_alone_search_opens_a_unit_and_focus_goes_in_and_back(page, live):
    open_map(page, live)
    assert active(page)["tag"] == "body"
    tabs = 0
    while tabs < 5 and active(page)["id"] not in ("skip-link", "search-input"):
        page.keyboard.press("Tab")
        tabs += 1
    assert active(page)["id"] == "skip-link", f"the skip link is not among the first {tabs} Tabs"
    box = page.locator("#skip-link").bounding_box()
    assert box["y"] >= 0 and box["height"] > 10  # shown when it has the focus
    assert page.locator("#skip-link").inner_text() == "Đến ô tìm kiếm"
    page.keyboard.press("Enter")
    assert active(page)["id"] == "search-input"
    assert tabs <= 5

    page.keyboard.type("quang phu")
    page.keyboard.press("Enter")
    panel_title_is(page, "Quảng Phú")
    assert active(page) == {"tag": "h2", "id": "panel-title", "inPanel": True}
    page.keyboard.press("Tab")  # the next stop is the panel's close button
    assert active(page)["id"] == "panel-close"
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()
    assert active(page)["id"] == "search-input"


def test_arrow_keys_move_in_the_results_and_the_close_button_gives_focus_back(page, live):
    open_map(page, live)
    page.locator("#search-input").focus()
    page.keyboard.type("dong tien")
    options = page.locator("#search-results li[role=option]")
    page.wait_for_function(
        "() => document.querySelectorAll('#search-results li[role=option]').length === 2"
    )
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert options.nth(1).get_attribute("aria-selected") == "true"
    assert page.get_attribute("#search-input", "aria-activedescendant") == "search-option-1"
    wanted = options.nth(1).locator(".name").inner_text().split(" ", 1)[1].strip()
    page.keyboard.press("Enter")
    panel_title_is(page, wanted)
    assert active(page)["inPanel"]
    page.keyboard.press("Tab")
    assert active(page)["id"] == "panel-close"
    page.keyboard.press("Enter")
    assert page.locator("#panel").is_hidden()
    assert active(page)["id"] == "search-input"


def test_a_unit_opens_from_the_list_page_with_the_keyboard(page, live):
    page.goto(live.base + "/list")
    link = page.locator('#list-table tr[data-code="14845"] a.list-open')
    link.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("html[data-map-state=ready]")
    panel_title_is(page, "Mường Lát")
    page.wait_for_function("() => document.activeElement.id === 'panel-title'")
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()
    assert active(page)["id"] == "search-input"


def test_escape_in_the_edit_form_keeps_what_was_typed(page, live):
    open_map(page, live)
    page.locator("#search-input").focus()
    page.keyboard.type("quang phu")
    page.keyboard.press("Enter")
    panel_title_is(page, "Quảng Phú")
    page.locator("#panel .timeline li").first.wait_for()
    page.click("#edit-open")
    page.locator("#edit-note").focus()
    page.keyboard.type("Đang soạn")
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_visible() and page.locator("#edit-form").is_visible()
    assert page.locator("#edit-note").input_value() == "Đang soạn"
    page.locator("#panel-title").focus()
    page.keyboard.press("Escape")  # outside the form, Escape closes the panel
    assert page.locator("#panel").is_hidden()
    assert active(page)["id"] == "search-input"


def test_no_map_shape_is_in_the_tab_order(page, live):
    open_map(page, live)
    paths = page.locator(".leaflet-overlay-pane path.leaflet-interactive")
    assert paths.count() == 166
    assert set(paths.evaluate_all("els => els.map(e => e.getAttribute('tabindex'))")) == {"-1"}
    # walk the whole Tab order once round: no stop is a shape, and there are few stops
    stops = []
    for _ in range(80):
        page.keyboard.press("Tab")
        a = page.evaluate(
            "() => { const a = document.activeElement;"
            " return [a.tagName.toLowerCase(), a.id, !!a.closest('.leaflet-overlay-pane')]; }"
        )
        if stops and a == stops[0]:
            break
        stops.append(a)
    else:
        pytest.fail(f"the Tab order did not come round in 80 stops: {stops[:12]}…")
    assert not [s for s in stops if s[0] in ("path", "svg") or s[2]], stops
    assert len(stops) < 40, stops


@pytest.mark.parametrize(
    ("typed", "former", "code", "now"),
    [
        ("Thị trấn Mường Lát", "Thị trấn Mường Lát", "14845", "Mường Lát"),
        ("Minh Tân", "Xã Minh Tân", "15382", "Biện Thượng"),
        ("thi tran muong lat", "Thị trấn Mường Lát", "14845", "Mường Lát"),
    ],
)
def test_a_former_name_is_found_says_now_part_of_and_opens_todays_unit(
    page, live, typed, former, code, now
):
    open_map(page, live)
    page.locator("#search-input").focus()
    page.keyboard.type(typed)
    option = page.locator("#search-results li[role=option]").first
    option.wait_for()
    text = option.inner_text()
    assert former in text and f"nay thuộc Xã {now}" in text, text
    assert option.get_attribute("data-code") == code
    page.keyboard.press("Enter")
    panel_title_is(page, now)
    assert page.locator('#panel [data-field="code"]').inner_text() == code
    page.locator("#panel .former-unit").first.wait_for()
    assert former.split(" ", 1)[1] in page.locator("#panel .former-list").inner_text()
    # a unit with no record of its own has no deadline: no empty badge beside its status
    if page.locator('#panel [data-field="deadline"]').get_attribute("hidden") is not None:
        assert page.locator('#panel [data-field="deadline"]').is_hidden()


def test_the_live_region_announces_a_filter(page, live):
    open_map(page, live)
    region = page.locator("#live-status")
    assert region.get_attribute("role") == "status"
    assert region.get_attribute("aria-live") == "polite"
    page.select_option("#status-filter", "relapsed")
    live_says(page, "Đang hiện 4 đơn vị: Phức tạp trở lại.")
    page.select_option("#status-filter", "")
    live_says(page, "Đang hiện tất cả đơn vị.")


def test_the_trend_has_a_legend_and_a_table_with_a_column_per_series(page, live):
    open_map(page, live)
    rows = page.locator("#trend-table tbody tr")
    rows.first.wait_for(state="attached")
    legend = page.locator("#trend-legend li").all_inner_texts()
    assert sorted(legend) == sorted(s.label_vi for s in RECORD_STATUSES)  # each series once
    labels = legend  # the table's columns come in the legend's order
    assert page.locator("#trend-chart svg polyline").count() == len(labels)
    box = page.locator("#trend-table-box")
    assert box.locator("summary").inner_text() == "Xem dạng bảng"
    box.locator("summary").click()
    table = page.locator("#trend-table")
    assert table.is_visible()
    assert table.locator("caption").inner_text() == "Số đơn vị theo trạng thái cuối mỗi tháng"
    heads = table.locator("thead th")
    assert heads.count() == 1 + len(labels)
    assert heads.all_inner_texts()[1:] == labels
    assert set(heads.evaluate_all("els => els.map(e => e.scope)")) == {"col"}
    assert set(rows.locator("th").evaluate_all("els => els.map(e => e.scope)")) == {"row"}
    c = live.app.test_client()
    login(c, "chief")
    points = c.get("/api/trend").get_json()["points"]
    assert rows.count() == len(points)
    newest = rows.first.locator("td").all_inner_texts()
    code_of = {s.label_vi: s.code for s in RECORD_STATUSES}
    assert newest == [str(points[-1]["counts"][code_of[label]]) for label in labels]
    # the chart's words are at least 12 px as drawn
    sizes = page.evaluate(
        """() => [...document.querySelectorAll(
            '#trend-chart text, #trend-legend li, #trend figcaption, #trend-table td')]
            .map(e => { const svg = e.ownerSVGElement;
                const scale = svg ? svg.getBoundingClientRect().width / svg.viewBox.baseVal.width
                    : 1;
                return parseFloat(getComputedStyle(e).fontSize) * scale; })"""
    )
    assert sizes and min(sizes) >= 12, sizes
    # by the keyboard: Escape closes the table and leaves the focus on its toggle
    page.keyboard.press("Escape")
    assert not table.is_visible()
    page.locator("#trend-table-box summary").focus()
    page.keyboard.press("Enter")
    assert table.is_visible()
    page.keyboard.press("Escape")
    assert not table.is_visible()
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"


def figures_shown(page) -> dict:
    """Return what the page shows of the figures: tiles, their notes, filter and legend."""
    return page.evaluate(
        """() => ({
            tiles: Object.fromEntries([...document.querySelectorAll('.figure[data-figure]')]
                .filter(f => f.querySelector(':scope > .figure-value'))
                .map(f => [f.dataset.figure, f.querySelector(':scope > .figure-value').textContent
                    + '|' + (f.querySelector('.figure-note') || {textContent: ''}).textContent])),
            options: [...document.querySelectorAll('#status-filter option')]
                .map(o => o.textContent),
            legend: Object.fromEntries([...document.querySelectorAll('.legend-row')]
                .map(r => [r.dataset.status, r.querySelector('.legend-count').textContent])),
        })"""
    )


def test_after_an_edit_figures_filter_counts_and_legend_refresh_together(page, live):
    """Runs last: it changes the data the others read."""
    open_map(page, live)
    before = figures_shown(page)
    assert before["legend"]["transformed"] == "12"
    page.locator("#search-input").focus()
    page.keyboard.type("Xã Mường Lát")
    page.keyboard.press("Enter")
    panel_title_is(page, "Mường Lát")
    page.locator("#panel .timeline li").first.wait_for()
    page.click("#edit-open")
    page.select_option("#edit-status", "transformed")
    page.fill("#edit-note", "Đạt tiêu chí, được công nhận chuyển hóa")
    page.click("#edit-save")
    page.wait_for_function(
        "() => document.querySelector('.legend-row[data-status=\"transformed\"] .legend-count')"
        ".textContent === '13'"
    )
    live_says(page, "Đã lưu: Xã Mường Lát, Đã chuyển hóa.")
    after = figures_shown(page)
    c = live.app.test_client()
    login(c, "chief")
    summary = c.get("/api/summary").get_json()
    assert summary["counts"]["transformed"] == 13
    # every part says the new values, as a fresh load of the page does
    reloaded = page.context.new_page()
    open_map(reloaded, live)
    assert figures_shown(reloaded) == after
    reloaded.close()
    assert after["legend"]["transformed"] == "13" and after["legend"]["hotspot"] == "23"
    value, note = after["tiles"]["transformed"].split("|")
    old_value, old_note = before["tiles"]["transformed"].split("|")
    assert (value, old_value) == ("13", "12")
    assert note and old_note and note != old_note  # the "% of listed" note too
    assert "Đã chuyển hóa (13)" in after["options"] and "Đã chuyển hóa (12)" in before["options"]
    assert "Trọng điểm, phức tạp (23)" in after["options"]
    for tile in summary["tiles"]:
        value, note = after["tiles"][tile["code"]].split("|")
        assert value == str(tile["count"]) and note == (tile.get("note") or "")
