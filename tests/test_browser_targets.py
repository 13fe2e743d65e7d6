"""The list, the changes since a day and the targets, in Debian's chromium (the same live server,
browser and checks as `test_browser`). Writes `docs/list.png`, `docs/map-since.png` and
`docs/panel-targets-phone.png` when ``GEO_APP_SCREENSHOTS=1``."""

# ruff: noqa: F811  (the fixtures imported from test_browser are parameters by the same names)
from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_browser import (  # noqa: F401  (fixtures used by name)
    CHROMIUM,
    assert_same_origin,
    desktop,
    interior,
    live,
    open_map,
    page,
    phone,
    phone_page,
    playwright,
    requests_made,
    screen_point,
    settle,
    unit_under,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
DOCS = Path(__file__).resolve().parent.parent / "docs"


def screenshot(page, name: str) -> None:
    if os.environ.get("GEO_APP_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / name))


def test_the_list_sorts_filters_and_opens_a_unit_on_the_map(page, live):
    page.goto(live.base + "/list")
    rows = page.locator("#list-table tbody tr")
    assert rows.count() == 62
    page.click('th a[data-sort="name"]')
    page.wait_for_url("**sort=name**")
    names = page.locator("#list-table tbody tr td:first-child a").all_inner_texts()
    keys = [n.split(" ", 1)[1] for n in names]
    assert len(keys) == 62 and keys[0] <= keys[1]
    page.select_option("#list-status", "relapsed")
    with page.expect_navigation():
        page.click("#list-filters button[type=submit]")
    assert page.locator("#list-table tbody tr").count() == 4
    assert set(
        page.locator("#list-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.status)")
    ) == {"relapsed"}
    screenshot(page, "list.png")
    first = page.locator("#list-table tbody tr").first
    code = first.get_attribute("data-code")
    with page.expect_navigation():
        first.locator("a.list-open").click()
    page.wait_for_selector("html[data-map-state=ready]")
    page.locator("#panel").wait_for(state="visible")
    page.wait_for_function(
        "(code) => document.querySelector('#panel [data-field=\"code\"]').textContent === code",
        arg=code,
    )


def test_since_highlights_the_changed_units(page, live):
    open_map(page, live, "/?since=2026-11-01")
    banner = page.locator("#since-banner")
    assert banner.is_visible() and "01/11/2026" in banner.inner_text()
    changed = page.evaluate("() => window.__geoapp.layer.geoApp.marks.changed")
    assert changed  # the sample was imported in the period
    weights = page.evaluate(
        """(changed) => {
            const out = {changed: [], other: []};
            window.__geoapp.layer.getLayers().forEach(l => {
                const code = l.feature.properties.code;
                (changed.includes(code) ? out.changed : out.other).push(l.options.weight);
            });
            return out;
        }""",
        changed,
    )
    assert min(weights["changed"]) >= 3.0 > max(weights["other"])
    screenshot(page, "map-since.png")


def test_an_officer_ticks_a_target_on_a_phone(phone, live, requests_made, interior):
    from test_browser import _page

    page, problems = _page(phone, live, requests_made, "officer")
    try:
        open_map(page, live, "/#14845")
        page.locator("#panel .targets li").first.wait_for()
        assert "0/5" in page.locator('#panel [data-field="targets-progress"]').inner_text()
        box = page.locator("#panel .targets li input[type=checkbox]").first
        box.scroll_into_view_if_needed()
        box.tap()
        page.wait_for_function(
            "() => document.querySelector('#panel [data-field=\"targets-progress\"]')"
            ".textContent.includes('1/5')"
        )
        assert page.locator("#panel .targets li").first.get_attribute("data-state") == "met"
        screenshot(page, "panel-targets-phone.png")
        store = live.app.extensions["geo_app"].store
        assert store.audit_entries(action="target.set")[0]["actor"] == "officer"
    finally:
        page.close()
    assert not problems, problems
    assert_same_origin(requests_made, live.base)
