"""The map page at every size it is used at, and on paper, measured in Debian's chromium.

Phone (390×844), phone sideways (844×390), tablet (768×1024), tablet sideways (1024×768) and
two desktops (1366×768, 1920×1080). At each, by measuring boxes: every edit field's label sits
above its field; no visible control is cut off by the screen (or it is reachable by scrolling its
own container); the map keeps at least half the screen; the legend leaves the search free; the
figures' date and the as-of control can be reached; on touch screens every target is 44 px.
Then the relapse warning before saving, the save confirmed where the officer looks (phone), and
the print stylesheet (A4 landscape, one page, no controls).
"""

# ruff: noqa: F811  (the fixtures imported from test_browser are parameters by the same names)
from __future__ import annotations

import io

import pypdf
import pytest
from test_browser import (  # noqa: F401  (fixtures used by name)
    CHROMIUM,
    FLAGS,
    HOOK,
    assert_same_origin,
    live,
    log_in,
    playwright,
    requests_made,
    settle,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

#: name: (width, height, touch screen)
VIEWPORTS = {
    "phone": (390, 844, True),
    "phone-sideways": (844, 390, True),
    "tablet": (768, 1024, True),
    "tablet-sideways": (1024, 768, True),
    "desktop": (1366, 768, False),
    "desktop-hd": (1920, 1080, False),
}
#: A transformed unit of the sample data, which the admin may edit.
TRANSFORMED = "16522"
#: Controls that must be on the screen (or in a container that scrolls to them).
CONTROLS = (
    ".topbar a, .topbar button, .topbar summary, .topbar input, .topbar select,"
    " .figures .figure, .figures button, .figures input, .figures a,"
    " #legend summary, #legend .legend-row, #search-input, #status-filter,"
    " .leaflet-control-zoom a"
)
#: Of those, the ones a finger presses (the figure tiles are not pressed).
TARGETS = CONTROLS.replace(" .figures .figure,", "")

CUT_OFF = """(selector) => {
    const out = [];
    for (const el of document.querySelectorAll(selector)) {
        const r = el.getBoundingClientRect();
        const closed = el.closest('details:not([open])');
        if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden'
            || (closed && el.parentElement !== closed)) {
            continue;  // not shown (in a closed <details>, only the summary is)
        }
        // an element inside a container that scrolls is reachable when the container is
        let box = r;
        for (let c = el.parentElement; c && c !== document.body; c = c.parentElement) {
            const s = getComputedStyle(c);
            const scrolls = /(auto|scroll)/.test(s.overflowY + ' ' + s.overflowX);
            const over = c.scrollHeight > c.clientHeight + 1 || c.scrollWidth > c.clientWidth + 1;
            if (scrolls && over) {
                box = c.getBoundingClientRect();
                break;
            }
        }
        if (box.left < -0.5 || box.top < -0.5 || box.right > innerWidth + 0.5
            || box.bottom > innerHeight + 0.5) {
            out.push((el.id || el.className || el.tagName) + ' '
                + (el.textContent || '').trim().slice(0, 30)
                + ' ' + JSON.stringify([box.left, box.top, box.right, box.bottom]));
        }
    }
    return out;
}"""

SMALL_TARGETS = """(selector) => {
    const out = [];
    for (const el of document.querySelectorAll(selector)) {
        const r = el.getBoundingClientRect();
        const closed = el.closest('details:not([open])');
        if (r.width === 0 || r.height === 0 || (closed && el.parentElement !== closed)) continue;
        if (r.height < 43.5 || r.width < 43.5) {
            out.push((el.id || el.className || el.tagName) + ' '
                + (el.textContent || '').trim().slice(0, 30)
                + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
        }
    }
    return out;
}"""


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def sized(request, playwright, tmp_path, live, requests_made):
    """A logged-in page (admin) at one of the viewports, the map loaded."""
    width, height, touch = VIEWPORTS[request.param]
    ctx = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": width, "height": height},
        is_mobile=touch,
        has_touch=touch,
    )
    ctx.add_init_script(HOOK)
    ctx.on("request", lambda r: requests_made.append(r.url))
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    log_in(page, live)
    page.wait_for_selector("html[data-map-state=ready]")
    settle(page)
    page.touch = touch
    yield page
    ctx.close()
    assert not problems, problems
    assert_same_origin(requests_made, live.base)


def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def inside_viewport(page, selector: str) -> bool:
    b = box(page, selector)
    v = page.viewport_size
    return (
        b["x"] >= -0.5
        and b["y"] >= -0.5
        and b["x"] + b["width"] <= v["width"] + 0.5
        and (b["y"] + b["height"] <= v["height"] + 0.5)
    )


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_the_map_keeps_half_the_screen_and_nothing_is_cut_off(sized):
    page = sized
    v = page.viewport_size
    m = box(page, ".folium-map")
    width = min(m["x"] + m["width"], v["width"]) - max(m["x"], 0)
    height = min(m["y"] + m["height"], v["height"]) - max(m["y"], 0)
    assert width * height >= 0.5 * v["width"] * v["height"], (m, v)
    assert page.evaluate(CUT_OFF, CONTROLS) == []
    # the legend, opened, leaves the search free and is itself on the screen
    if page.locator("#legend").get_attribute("open") is None:
        page.locator("#legend summary").click()
    assert not overlap(box(page, "#legend"), box(page, ".map-tools"))
    assert page.evaluate(CUT_OFF, CONTROLS) == []
    # pinch-zoom: one viewport tag, which forbids no zooming
    tags = page.locator("meta[name=viewport]").evaluate_all("els => els.map(e => e.content)")
    assert len(tags) == 1 and "user-scalable" not in tags[0] and "maximum-scale" not in tags[0]


def test_the_figures_date_and_the_as_of_control_can_be_reached(sized):
    page = sized
    if not page.locator("#as-of").is_visible():
        more = page.locator("#figures-more")
        assert more.is_visible() and more.get_attribute("aria-expanded") == "false"
        more.click()
        assert more.get_attribute("aria-expanded") == "true"
    for selector in ("#as-of", "#as-of-form button[type=submit]", ".figures-updated"):
        page.locator(selector).scroll_into_view_if_needed()
        assert page.locator(selector).is_visible(), selector
        assert inside_viewport(page, selector), selector
    assert "01/12/2026" in page.locator(".figures-updated").inner_text()
    assert page.evaluate(CUT_OFF, CONTROLS) == []


def test_touch_targets_are_44_px_on_touch_screens(sized):
    page = sized
    coarse = page.evaluate("matchMedia('(pointer: coarse)').matches")
    assert coarse == page.touch
    if not page.touch:
        pytest.skip("a mouse screen: the sizes are the desktop's")
    if page.locator("#legend").get_attribute("open") is None:
        page.locator("#legend summary").click()
    if page.locator("#figures-more").is_visible():
        page.locator("#figures-more").click()
    small = page.evaluate(SMALL_TARGETS, TARGETS + ", #as-of, #as-of-form button")
    assert small == []


def test_each_edit_field_has_its_label_above_it(sized, live):
    page = sized
    page.goto(f"{live.base}/#{TRANSFORMED}")
    page.locator("#panel .timeline li").first.wait_for()
    page.click("#edit-open")
    page.locator("#edit-form .edit-more summary").click()
    pairs = page.locator("#edit-form label[for]").evaluate_all(
        """labels => labels
            .filter(l => !l.contains(document.getElementById(l.htmlFor)))
            .map(l => l.htmlFor)"""
    )
    assert len(pairs) >= 8, pairs  # status, date, reason and the record's fields
    for name in pairs:
        page.locator(f"#{name}").scroll_into_view_if_needed()
        label = box(page, f"label[for={name}]")
        field = box(page, f"#{name}")
        assert label["y"] + label["height"] <= field["y"] + 0.5, (name, label, field)
        assert label["x"] < field["x"] + field["width"] and field["x"] < label["x"] + label["width"]
        # nothing else between the label and its field: the next label is below the field
    tops = [box(page, f"#{name}")["y"] for name in pairs]
    assert tops == sorted(tops), "one field per row, in the form's order"
    assert page.evaluate(CUT_OFF, "#edit-form input, #edit-form select, #edit-form button") == []


# -- the relapse warning and the save confirmation (a phone) -------------------------------------
@pytest.fixture
def phone_page(playwright, tmp_path, live, requests_made):
    ctx = playwright.chromium.launch_persistent_context(
        str(tmp_path / "phone"),
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    ctx.add_init_script(HOOK)
    page = ctx.new_page()
    log_in(page, live)
    yield page
    ctx.close()


def test_a_relapse_is_said_before_saving_and_the_save_is_confirmed_in_view(phone_page, live):
    """Runs after the layout tests: it changes a record of the module's store."""
    page = phone_page
    page.goto(f"{live.base}/#{TRANSFORMED}")
    page.locator("#panel .timeline li").first.wait_for()
    assert page.locator("#panel .status-text").inner_text() == "Đã chuyển hóa"
    page.tap("#edit-open")
    warning = page.locator("#edit-relapse")
    assert warning.is_hidden()  # the form opens on the unit's own status
    page.select_option("#edit-status", "in_progress")
    assert warning.is_visible()
    assert "Phức tạp trở lại" in warning.inner_text() and "Đã chuyển hóa" in warning.inner_text()
    page.select_option("#edit-status", "transformed")
    assert warning.is_hidden()  # no relapse: no warning
    page.select_option("#edit-status", "hotspot")
    assert warning.is_visible()
    page.select_option("#edit-status", "in_progress")
    page.fill("#edit-note", "Tái phát tụ điểm")
    page.locator("#edit-save").scroll_into_view_if_needed()
    page.tap("#edit-save")
    done = page.locator("#edit-done")
    done.wait_for(state="visible")
    assert "Phức tạp trở lại" in done.inner_text()
    assert page.evaluate("document.activeElement.id") == "edit-done"
    b = done.bounding_box()
    panel = page.locator("#panel").bounding_box()
    assert b["y"] >= panel["y"] and b["y"] + b["height"] <= 844, (b, panel)
    assert page.evaluate(
        """() => { const r = document.getElementById('edit-done').getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return hit === document.getElementById('edit-done'); }"""
    ), "the confirmation is covered"
    assert page.locator("#panel .status-text").inner_text() == "Phức tạp trở lại"


# -- printing (Ctrl+P) ----------------------------------------------------------------------
def test_the_page_prints_the_province_with_legend_figures_date_and_marking(
    playwright, tmp_path, live
):
    ctx = playwright.chromium.launch_persistent_context(
        str(tmp_path / "print"),
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": 1366, "height": 768},
    )
    ctx.add_init_script(HOOK)
    page = ctx.new_page()
    log_in(page, live)
    page.wait_for_selector("html[data-map-state=ready]")
    settle(page)
    assert page.locator("#print-note").is_visible()  # the screen says the PDF is better
    assert page.locator("#print-marking").is_hidden()
    page.evaluate("window.__geoapp.map.setView([19.8, 105.78], 12, {animate: false})")
    page.emulate_media(media="print")
    page.wait_for_function(
        """() => { const g = window.__geoapp;
            return g.map.getBounds().contains(g.layer.getBounds()); }"""
    )
    for selector in (
        "#search-input",
        "#status-filter",
        ".leaflet-control-zoom",
        "#figures-more",
        "#as-of-form",
        "#print-note",
        "#logout",
        "#list-link",
        ".lang-switch",
        "#export-menu",
        "#panel",
    ):
        assert page.locator(selector).is_hidden(), selector
    for selector in (
        "#legend .legend-row",
        '[data-figure="listed"]',
        '[data-figure="transformed"] .figure-note',
        ".figures-updated",
        "#print-marking",
        "#sample-banner",
        ".folium-map",
    ):
        assert page.locator(selector).first.is_visible(), selector
    assert (
        page.locator("#legend .legend-row").count()
        == page.locator("#legend .legend-row:visible").count()
    )
    assert page.locator("#print-marking").inner_text() == "LƯU HÀNH NỘI BỘ"
    pdf = pypdf.PdfReader(io.BytesIO(page.pdf(format="A4", landscape=True)))
    assert len(pdf.pages) == 1
    width, height = float(pdf.pages[0].mediabox.width), float(pdf.pages[0].mediabox.height)
    assert width > height  # landscape
    page.emulate_media(media="screen")
    page.wait_for_function(
        "() => !window.__geoapp.map.getBounds().contains([[19.3, 104.4], [20.6, 106.1]])"
    )
    ctx.close()
