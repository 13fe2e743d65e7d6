"""The map page as people use it: Debian's chromium, headless, driven by Playwright.

One live server (a thread) and one browser profile per form factor serve the whole module.
Every request any page makes is recorded; none may leave the app's origin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import shapely
from conftest import BY_CODE, PASSWORD, STATUSES, add_users, login
from werkzeug.serving import WSGIRequestHandler, make_server

from geo_app import clock, config, create_app
from geo_app.core.records import Record
from geo_app.io import importer
from geo_app.store import Change, Store
from geo_app.webmap import maps

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
SAMPLE_COUNTS = {"hotspot": 24, "in_progress": 22, "transformed": 12, "relapsed": 4}
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A strict policy: the app's own origin only, no inline script.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'"
)
#: The colour a unit's path shows: its fill, or for a hatched status the colour under the lines
#: of its SVG pattern (tests/test_access_colour.py checks the patterns themselves).
FILL_COLOUR = """(e => { const f = e.getAttribute('fill'), m = /^url\\(#(.+)\\)$/.exec(f || '');
    return m ? document.getElementById(m[1]).querySelector('rect').getAttribute('fill') : f; })"""
#: Keeps the map and its layer where tests can reach them (the page itself exposes nothing).
HOOK = "document.addEventListener('geoapp:layer', e => { window.__geoapp = e.detail; });"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        return None


@pytest.fixture(scope="module")
def live(tmp_path_factory, cache_dir, display, units, thanh_hoa):
    tmp = tmp_path_factory.mktemp("browser")
    settings = config.load(
        {
            "DATABASE_URL": f"sqlite:///{tmp / 'app.sqlite3'}",
            "BOUNDARIES": str(thanh_hoa),
            "CACHE_DIR": str(cache_dir),
            "SECRET_KEY": "browser-tests",
            "TILES": "none",
            "JOBS_DB": str(tmp / "jobs.sqlite3"),
        }
    )
    store = Store(settings["DATABASE_URL"])
    store.upgrade()
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(store, sample.read_bytes(), sample.name, units)
    add_users(store)
    store.dispose()
    app = create_app({**settings, "TESTING": True})

    @app.after_request
    def strict_csp(response):  # the page must work with no inline script allowed
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # a real job worker on the same database and queue, as `geo-app serve` starts one
    env = {
        **os.environ,
        "GEO_APP_DATABASE_URL": settings["DATABASE_URL"],
        "GEO_APP_JOBS_DB": settings["JOBS_DB"],
        "GEO_APP_BOUNDARIES": str(thanh_hoa),
        "GEO_APP_CACHE_DIR": str(cache_dir),
        "GEO_APP_SECRET_KEY": "browser-tests",
    }
    env.pop("GEO_APP_REDIS_URL", None)
    log = (tmp / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "geo_app.cli", "jobs", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield SimpleNamespace(base=f"http://127.0.0.1:{server.server_port}", app=app)
    worker.terminate()
    worker.wait(timeout=30)
    log.close()
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["geo_app"].store.dispose()


@pytest.fixture(scope="module")
def requests_made() -> list[str]:
    """Every URL any page of the module asked for."""
    return []


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _context(playwright, profile, requests_made, **options):
    ctx = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS, **options
    )
    ctx.add_init_script(HOOK)
    ctx.on("request", lambda request: requests_made.append(request.url))
    return ctx


@pytest.fixture(scope="module")
def desktop(playwright, tmp_path_factory, requests_made):
    ctx = _context(
        playwright,
        tmp_path_factory.mktemp("profile-desktop"),
        requests_made,
        viewport={"width": 1280, "height": 800},
    )
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def phone(playwright, tmp_path_factory, requests_made):
    ctx = _context(
        playwright,
        tmp_path_factory.mktemp("profile-phone"),
        requests_made,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield ctx
    ctx.close()


def log_in(page, live, username: str = "admin") -> None:
    """Log in through the login form, as a person does."""
    page.goto(live.base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert urlsplit(page.url).path == "/", page.url


def _page(ctx, live, requests_made, username: str = "admin"):
    ctx.clear_cookies()
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.geoapp_problems = problems  # a test expecting an error answer removes its own line
    log_in(page, live, username)
    return page, problems


@pytest.fixture
def page(desktop, live, requests_made):
    page, problems = _page(desktop, live, requests_made)
    yield page
    page.close()
    assert not problems, problems
    assert_same_origin(requests_made, live.base)


@pytest.fixture
def browser_officer(desktop, live, requests_made):
    page, problems = _page(desktop, live, requests_made, "officer")
    yield page
    page.close()
    assert not problems, problems
    assert_same_origin(requests_made, live.base)


@pytest.fixture
def phone_page(phone, live, requests_made):
    page, problems = _page(phone, live, requests_made)
    yield page
    page.close()
    assert not problems, problems
    assert_same_origin(requests_made, live.base)


def assert_same_origin(urls: list[str], base: str) -> None:
    origin = urlsplit(base)
    outside = [u for u in urls if urlsplit(u)[:2] != origin[:2]]
    assert not outside, f"requests left the app: {outside}"


def open_map(page, live, path: str = "/") -> None:
    page.goto(live.base + path)
    page.wait_for_selector("html[data-map-state=ready]")
    settle(page)


def settle(page) -> None:
    """Wait until the map has finished zooming and panning."""
    page.wait_for_function(
        "() => { const m = window.__geoapp.map;"
        " return !m._animatingZoom && !(m._panAnim && m._panAnim._inProgress); }"
    )
    page.wait_for_timeout(150)


@pytest.fixture(scope="module")
def interior(display):
    """Return a point well inside a unit, as (lat, lng)."""

    def point(code: str) -> tuple[float, float]:
        geom = display.units.set_index("code").geometry[code]
        centre = shapely.maximum_inscribed_circle(geom).coords[0]
        return centre[1], centre[0]

    return point


def screen_point(page, latlng: tuple[float, float]) -> tuple[float, float]:
    """Return where a point of the map is on the page."""
    x, y = page.evaluate(
        """([lat, lng]) => {
            const map = window.__geoapp.map;
            const p = map.latLngToContainerPoint([lat, lng]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        list(latlng),
    )
    return x, y


def unit_under(page, x: float, y: float) -> str | None:
    """Return the code of the unit drawn at (x, y), or None when something covers it."""
    return page.evaluate(
        """([x, y]) => {
            const el = document.elementFromPoint(x, y);
            let found = null;
            window.__geoapp.layer.eachLayer(l => { if (l._path === el) found = l; });
            return found && found.feature.properties.code;
        }""",
        [x, y],
    )


def reachable(page, selector: str) -> bool:
    """Tell whether the element is inside the viewport and nothing covers its centre."""
    return page.evaluate(
        """(selector) => {
            const el = document.querySelector(selector);
            if (!el) return false;
            const r = el.getBoundingClientRect();
            if (r.width === 0 || r.height === 0) return false;
            if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight) {
                return false;
            }
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return !!hit && (hit === el || el.contains(hit) || hit.contains(el));
        }""",
        selector,
    )


# -- desktop ----------------------------------------------------------------------------------
def test_every_unit_is_drawn_in_its_status_colour(page, live):
    open_map(page, live)
    paths = page.locator(".leaflet-overlay-pane path.leaflet-interactive")
    assert paths.count() == 166
    fills = Counter(paths.evaluate_all("els => els.map(e => e.getAttribute('fill'))"))
    patterns = maps.status_patterns()  # the hatched statuses are filled with their pattern
    expected = {
        f"url(#{patterns[s]['id']})" if s in patterns else BY_CODE[s].color: n
        for s, n in SAMPLE_COUNTS.items()
    }
    expected[BY_CODE["not_listed"].color] = 166 - sum(SAMPLE_COUNTS.values())
    assert fills == expected
    colours = Counter(paths.evaluate_all(f"els => els.map({FILL_COLOUR})"))
    assert colours == {BY_CODE[s].color: n for s, n in {**SAMPLE_COUNTS, "not_listed": 104}.items()}
    legend = page.locator(".legend-row")
    assert legend.count() == len(STATUSES)
    assert legend.first.inner_text().split("\n")[-1].strip() == "24"
    assert page.locator("#sample-banner").is_visible()
    assert page.locator('[data-figure="listed"] .figure-value').inner_text() == "62"


def test_tooltip_names_the_unit_and_its_status(page, live, interior):
    open_map(page, live)
    x, y = screen_point(page, interior("14845"))
    assert unit_under(page, x, y) == "14845"
    page.mouse.move(x, y)
    tip = page.locator(".leaflet-tooltip.unit-tip")
    tip.wait_for()
    assert "Xã Mường Lát" in tip.inner_text()
    assert "Trọng điểm, phức tạp" in tip.inner_text()


def test_a_click_on_a_unit_opens_its_panel(page, live, interior):
    open_map(page, live)
    x, y = screen_point(page, interior("14845"))
    assert unit_under(page, x, y) == "14845"
    page.mouse.click(x, y)
    panel = page.locator("#panel")
    panel.wait_for(state="visible")
    assert page.locator("#panel-title").inner_text() == "Mường Lát"
    assert page.locator("#panel .status-text").inner_text() == "Trọng điểm, phức tạp"
    page.locator("#panel .timeline li").first.wait_for()
    assert page.locator('#panel [data-field="designated_on"]').inner_text() == "06/02/2023"
    assert page.locator('#panel [data-field="unit"]').inner_text() == "Công an xã Mường Lát"
    assert page.locator('#panel [data-field="problems"] li').count() == 3
    assert page.evaluate("location.hash") == "#14845"
    stroke = page.evaluate(
        "window.__geoapp.layer.getLayers()"
        ".find(l => l.feature.properties.code === '14845').options.color"
    )
    assert stroke == maps.SELECTED_STYLE["color"]
    page.click("#panel-close")
    assert panel.is_hidden()
    assert page.evaluate("location.hash") == ""


def test_a_link_to_a_unit_followed_on_the_open_map_opens_it(page, live):
    open_map(page, live)
    page.goto(live.base + "/#14845")  # same page: only the address's #CODE changes
    page.locator("#panel").wait_for(state="visible")
    assert page.locator("#panel-title").inner_text() == "Mường Lát"


def test_export_dialog_downloads_the_province_or_the_selected_unit(page, live, interior):
    open_map(page, live)
    page.click("#export-open")
    dialog = page.locator("#export-dialog")
    assert dialog.is_visible()
    assert page.locator("#export-area").is_disabled()
    page.select_option("#export-what", "map_pdf")
    with page.expect_download() as info:
        page.click("#export-start")
    with open(info.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    assert info.value.suggested_filename.endswith(".pdf")
    page.click("#export-cancel")
    assert dialog.is_hidden()
    x, y = screen_point(page, interior("16522"))
    page.mouse.click(x, y)
    page.locator("#panel").wait_for(state="visible")
    page.click("#export-open")
    page.check("#export-area")
    page.select_option("#export-what", "map_png")
    page.fill("#export-dpi", "300")  # print resolution: made by a background job
    with page.expect_download(timeout=60_000) as info:
        page.click("#export-start")
        page.locator("#export-progress").wait_for(state="visible")
    assert "16522" in info.value.suggested_filename
    with open(info.value.path(), "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_pack_is_made_by_a_job_whose_progress_shows_in_the_export_dialog(page, live, interior):
    open_map(page, live)
    x, y = screen_point(page, interior("16522"))
    page.mouse.click(x, y)
    page.locator("#panel").wait_for(state="visible")
    page.click("#export-open")
    page.check("#export-area")
    page.select_option("#export-what", "pack")
    status = page.locator("#export-progress")
    with page.expect_download(timeout=60_000) as info:
        page.click("#export-start")
        status.wait_for(state="visible")
        states = set()
        for _ in range(200):  # what the page shows while the worker renders it
            states.add(status.get_attribute("data-state"))
            if "done" in states:
                break
            page.wait_for_timeout(100)
    assert states & {"queued", "running"}, states
    assert status.get_attribute("data-state") == "done"
    assert "sẵn sàng" in status.inner_text()
    assert info.value.suggested_filename.startswith("ho-so-dia-ban_16522_")
    with open(info.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    (job,) = live.app.extensions["geo_app"].store.jobs(limit=1)
    assert job["kind"] == "pack" and job["params"]["area"] == ["16522"]
    assert job["state"] == "done" and job["actor"] == "admin"


def test_a_unit_without_record_says_it_is_not_listed(page, live, interior):
    open_map(page, live)
    x, y = screen_point(page, interior("14848"))
    assert unit_under(page, x, y) == "14848"
    page.mouse.click(x, y)
    note = page.locator('#panel [data-field="message"]')
    note.wait_for(state="visible")
    page.wait_for_function("() => !document.getElementById('panel').hasAttribute('aria-busy')")
    assert page.locator("#panel .status-text").inner_text() == "Không thuộc diện"
    assert "không thuộc diện" in note.inner_text()


def test_search_without_diacritics_zooms_to_the_unit(page, live):
    open_map(page, live)
    start = page.evaluate("window.__geoapp.map.getZoom()")
    page.fill("#search-input", "quang phu")
    page.press("#search-input", "Enter")
    page.wait_for_function(
        "() => document.getElementById('panel-title').textContent === 'Quảng Phú'"
    )
    page.wait_for_function("() => window.__geoapp.map.getZoom() >= 12")
    settle(page)
    assert start < 10
    assert page.evaluate(
        """() => { const g = window.__geoapp;
            const l = g.layer.getLayers().find(l => l.feature.properties.code === '16522');
            return g.map.getBounds().contains(l.getBounds()); }"""
    )
    assert page.locator('#panel [data-field="kind"]').text_content() == "Phường"
    assert page.locator("#panel .status-text").inner_text() == "Đã chuyển hóa"


def test_several_matches_give_a_list_to_pick_from(page, live):
    open_map(page, live)
    page.fill("#search-input", "dong tien")
    options = page.locator("#search-results li[role=option]")
    options.first.wait_for()
    page.wait_for_function(
        "() => document.querySelectorAll('#search-results li[role=option]').length"
    )
    texts = " | ".join(options.all_inner_texts())
    assert options.count() == 2
    assert "Phường Đông Tiến" in texts and "Xã Đồng Tiến" in texts
    page.press("#search-input", "Enter")  # two exact matches: no guess, the list stays
    page.locator("#search-results li.several").wait_for()
    assert page.locator("#panel").is_hidden()
    page.locator("#search-results li[role=option]", has_text="Xã").click()
    page.wait_for_function(
        "() => document.getElementById('panel-title').textContent === 'Đồng Tiến'"
    )
    assert page.locator('#panel [data-field="kind"]').text_content() == "Xã"


def test_status_filter_fades_the_other_units(page, live):
    open_map(page, live)
    paths = page.locator(".leaflet-overlay-pane path.leaflet-interactive")

    def opacities() -> Counter:
        return Counter(paths.evaluate_all("els => els.map(e => e.getAttribute('fill-opacity'))"))

    base = str(maps.BASE_STYLE["fillOpacity"])
    faded = str(maps.FADED_STYLE["fillOpacity"])
    assert opacities() == {base: 166}
    page.select_option("#status-filter", "transformed")
    assert opacities() == {base: 12, faded: 154}
    page.click('.legend-row[data-status="hotspot"]')
    assert opacities() == {base: 24, faded: 142}
    assert page.locator("#status-filter").input_value() == "hotspot"
    page.click('.legend-row[data-status="hotspot"]')  # again: everything back
    assert opacities() == {base: 166}


def test_switching_to_english_changes_the_labels(page, live, interior):
    open_map(page, live)
    assert page.locator("h1").inner_text() == "Bản đồ chuyển hóa địa bàn"
    page.click(".lang-switch a[hreflang=en]")
    page.wait_for_selector("html[lang=en][data-map-state=ready]")
    settle(page)
    assert page.locator("h1").inner_text() == "Area transformation map"
    labels = page.locator(".legend-label").all_inner_texts()
    assert labels == [s.label_en for s in STATUSES]
    assert page.get_attribute("#search-input", "placeholder") == "Find a commune or ward…"
    x, y = screen_point(page, interior("14845"))
    page.mouse.click(x, y)
    page.locator("#panel .timeline li").first.wait_for()
    assert page.locator("#panel .status-text").inner_text() == "Hotspot"
    assert page.locator('#panel [data-field="designated_on"]').inner_text() == "2023-02-06"
    open_map(page, live)  # the choice is remembered
    assert page.locator("h1").inner_text() == "Area transformation map"


# -- phone ------------------------------------------------------------------------------------
def test_on_a_phone_the_map_fills_the_screen_and_a_tap_opens_a_sheet(phone_page, live, interior):
    page = phone_page
    open_map(page, live)
    viewport = page.viewport_size
    box = page.locator(".folium-map").bounding_box()
    assert box["width"] == viewport["width"]
    assert box["y"] + box["height"] == pytest.approx(viewport["height"], abs=1)
    assert box["height"] > 0.7 * viewport["height"]
    for selector in (
        "#search-input",
        "#status-filter",
        ".lang-switch a[hreflang=en]",
        ".leaflet-control-zoom-in",
        ".leaflet-control-zoom-out",
        "#legend summary",
    ):
        assert reachable(page, selector), selector
    x, y = screen_point(page, interior("14845"))
    assert unit_under(page, x, y) == "14845"
    page.touchscreen.tap(x, y)
    sheet = page.locator("#panel")
    sheet.wait_for(state="visible")
    page.locator("#panel .timeline li").first.wait_for()
    settle(page)
    sheet_box = sheet.bounding_box()
    assert sheet_box["y"] + sheet_box["height"] == pytest.approx(viewport["height"], abs=1)
    assert sheet_box["width"] == viewport["width"]
    assert sheet_box["y"] > box["y"] + 150  # over the map's lower part, the map still above
    assert sheet_box["height"] <= 0.6 * viewport["height"]
    assert page.locator("#panel-title").inner_text() == "Mường Lát"
    assert page.locator("#panel .status-text").inner_text() == "Trọng điểm, phức tạp"
    assert reachable(page, "#panel-close")
    assert reachable(page, "#search-input")
    page.tap("#panel-close")
    assert sheet.is_hidden()


def test_on_a_phone_search_and_filter_work_by_touch(phone_page, live):
    page = phone_page
    open_map(page, live)
    page.tap("#search-input")
    page.fill("#search-input", "quang phu")
    page.locator("#search-results li[role=option]").first.tap()
    page.wait_for_function(
        "() => document.getElementById('panel-title').textContent === 'Quảng Phú'"
    )
    page.wait_for_function("() => window.__geoapp.map.getZoom() >= 11")
    settle(page)
    assert page.evaluate(
        """() => { const g = window.__geoapp;
            const l = g.layer.getLayers().find(l => l.feature.properties.code === '16522');
            const p = g.map.latLngToContainerPoint(l.getBounds().getCenter());
            const top = document.getElementById('panel').getBoundingClientRect().top
                - g.map.getContainer().getBoundingClientRect().top;
            return p.y > 0 && p.y < top; }"""
    ), "the unit must show above the sheet"
    page.tap("#panel-close")
    page.select_option("#status-filter", "relapsed")
    assert page.locator("#filter.active").count() == 1


# -- logging in, and changing a record ---------------------------------------------------------
def test_the_map_needs_a_login_and_a_wrong_password_is_refused(desktop, live):
    desktop.clear_cookies()
    page = desktop.new_page()
    page.goto(live.base + "/")
    assert urlsplit(page.url).path == "/login"
    assert page.locator("h1").inner_text() == "Đăng nhập"
    page.fill("#username", "officer")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    page.locator("#login-error").wait_for()
    assert "không đúng" in page.locator("#login-error").inner_text()
    page.close()


def test_the_trend_chart_and_the_user_show(page, live):
    open_map(page, live)
    page.locator("#trend-chart svg polyline").first.wait_for()
    assert page.locator("#trend-chart svg polyline").count() == 4
    page.locator("#user-menu").wait_for()
    assert page.locator("#user-name").inner_text() == "admin"
    assert page.locator("#logout-csrf").input_value()


def fill_of(page, code: str) -> str:
    return page.evaluate(
        f"""(code) => {FILL_COLOUR}(window.__geoapp.layer.getLayers()
            .find(l => l.feature.properties.code === code)._path)""",
        code,
    )


def test_an_officer_changes_a_status_and_the_map_and_figures_follow(
    browser_officer, live, interior
):
    """Runs last of the desktop tests: it changes the data the others read."""
    page = browser_officer
    open_map(page, live)
    assert page.locator('[data-figure="transformed"] .figure-value').inner_text() == "12"
    assert page.locator("#export-menu").count() == 0  # an officer does not export
    assert fill_of(page, "14845") == BY_CODE["hotspot"].color
    x, y = screen_point(page, interior("14845"))
    page.mouse.click(x, y)
    page.locator("#panel .timeline li").first.wait_for()
    page.click("#edit-open")
    page.select_option("#edit-status", "transformed")
    page.fill("#edit-note", "Đạt tiêu chí, được công nhận chuyển hóa")
    page.click("#edit-save")
    page.wait_for_function(
        "() => document.querySelector('#panel .status-text').textContent === 'Đã chuyển hóa'"
    )
    page.wait_for_function(
        "() => document.querySelector('[data-figure=\"transformed\"] .figure-value')"
        ".textContent === '13'"
    )
    assert page.locator('[data-figure="hotspot"] .figure-value').inner_text() == "23"
    assert fill_of(page, "14845") == BY_CODE["transformed"].color
    newest = page.locator("#panel .timeline li").first.inner_text()
    assert "Đạt tiêu chí" in newest and "officer" in newest
    assert page.locator("#edit-form").is_hidden()
    # a unit not assigned to the officer has no edit button
    x, y = screen_point(page, interior("14848"))
    page.mouse.click(x, y)
    page.wait_for_function("() => !document.getElementById('panel').hasAttribute('aria-busy')")
    assert page.locator("#edit-open").is_hidden()
    open_map(page, live)  # a new load shows the change too
    assert fill_of(page, "14845") == BY_CODE["transformed"].color
    assert page.locator('[data-figure="transformed"] .figure-value').inner_text() == "13"


def test_a_stale_edit_shows_the_newer_record_and_keeps_what_was_typed(
    browser_officer, live, interior
):
    page = browser_officer
    open_map(page, live)
    x, y = screen_point(page, interior("16522"))
    page.mouse.click(x, y)
    page.locator("#panel .timeline li").first.wait_for()
    page.click("#edit-open")
    page.select_option("#edit-status", "in_progress")
    page.fill("#edit-note", "Tái phát tụ điểm")
    # meanwhile, someone else changes the record
    svc = live.app.extensions["geo_app"]
    old = svc.store.record(svc.division, "16522")
    newer = Record.from_content({**old.record.content(), "notes": "changed by someone else"})
    svc.store.apply(
        [Change(newer, old.record, clock.today(), "other", expected_version=old.version)],
        actor="admin",
        source="web",
    )
    page.click("#edit-save")
    message = page.locator("#edit-message.error")
    message.wait_for()
    assert "người khác" in message.inner_text()
    assert page.locator('#panel [data-field="notes"]').inner_text() == "changed by someone else"
    assert page.locator("#edit-note").input_value() == "Tái phát tụ điểm"  # nothing lost
    expected = [p for p in page.geoapp_problems if "status of 409" in p]
    assert len(expected) == 1  # the browser logs the 409 answer; nothing else went wrong
    page.geoapp_problems.remove(expected[0])
    page.click("#edit-save")  # again, on the newer version: accepted, as a relapse
    page.wait_for_function(
        "() => document.querySelector('#panel .status-text').textContent === 'Phức tạp trở lại'"
    )
    assert fill_of(page, "16522") == BY_CODE["relapsed"].color


def test_the_date_control_shows_a_past_state(page, live):
    open_map(page, live)
    page.fill("#as-of", "2023-06-30")
    with page.expect_navigation():
        page.click("#as-of-form button[type=submit]")
    page.wait_for_selector("html[data-map-state=ready]")
    assert page.locator("#as-of-banner").is_visible()
    summary = live.app.test_client()
    login(summary, "chief")
    figures = summary.get("/api/summary?as_of=2023-06-30").get_json()
    assert page.locator('[data-figure="listed"] .figure-value').inner_text() == str(
        figures["listed"]
    )
    fills = Counter(
        page.locator(".leaflet-overlay-pane path.leaflet-interactive").evaluate_all(
            f"els => els.map({FILL_COLOUR})"
        )
    )
    assert fills[BY_CODE["transformed"].color] == figures["counts"]["transformed"]
    page.locator("#trend-chart svg").wait_for()
    assert "2023-06-30" in page.url


# -- the whole visit --------------------------------------------------------------------------
def test_no_request_left_the_app(requests_made, live, display):
    assert requests_made, "no request was recorded"
    assert_same_origin(requests_made, live.base)
    paths = {urlsplit(u).path for u in requests_made}
    assert f"/map/units-{display.key}.topojson" in paths
    assert "/vendor/leaflet/leaflet.js" in paths
    assert any(p.startswith("/vendor/fonts/") for p in paths)
    assert any(p.startswith("/api/communes/") for p in paths)
