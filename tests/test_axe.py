"""axe-core on every page: no critical, serious or moderate violation.

axe-core comes from npm (package.json; `make test` installs it into node_modules). The app never
serves it: each test injects ``node_modules/axe-core/axe.min.js`` into the page it opened, with
Playwright's ``add_script_tag(path=...)``, in a browser context that lets the test's own script
past the page's Content-Security-Policy. The live server and its job worker are the map tests'.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import test_browser
from test_browser import (
    CHROMIUM,
    _context,
    assert_same_origin,
    log_in,
    open_map,
    screen_point,
    unit_under,
)

# the map tests' fixtures, shared by name: their live server, browser driver and request log
live = test_browser.live
playwright = test_browser.playwright
requests_made = test_browser.requests_made
interior = test_browser.interior

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
#: The impacts that fail a page; "minor" findings are printed but allowed.
GRAVE = ("critical", "serious", "moderate")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

#: Routes checked by a test of their own below; every other page without arguments that
#: answers HTML (a guide, a new page) is checked by `test_every_other_page`.
CHECKED = {"/", "/login", "/list", "/import", "/admin", "/admin/boundaries"}


@pytest.fixture(scope="module")
def axe_script() -> Path:
    if not AXE.is_file():
        pytest.fail(f"{AXE.relative_to(AXE.parents[2])} is missing: run `make test-tools` (npm ci)")
    return AXE


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory, requests_made):
    ctx = _context(
        playwright,
        tmp_path_factory.mktemp("profile-axe"),
        requests_made,
        viewport={"width": 1280, "height": 800},
        bypass_csp=True,  # for the injected axe script only; the app's own pages keep theirs
    )
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def phone(playwright, tmp_path_factory, requests_made):
    ctx = _context(
        playwright,
        tmp_path_factory.mktemp("profile-axe-phone"),
        requests_made,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        bypass_csp=True,
    )
    yield ctx
    ctx.close()


def _open(browser, live, requests_made, username: str | None):
    browser.clear_cookies()
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    if username:
        log_in(page, live, username)
    return page, problems


def _serving(context, live, requests_made, username):
    """Yield a page of `context` logged in as `username` (None: anonymous); after the test,
    fail on any page error and on any request outside the app."""
    page, problems = _open(context, live, requests_made, username)
    yield page
    page.close()
    assert not problems, problems
    assert_same_origin(requests_made, live.base)


@pytest.fixture
def admin_page(browser, live, requests_made):
    yield from _serving(browser, live, requests_made, "admin")


@pytest.fixture
def officer_page(browser, live, requests_made):
    yield from _serving(browser, live, requests_made, "officer")


@pytest.fixture
def phone_page(phone, live, requests_made):
    yield from _serving(phone, live, requests_made, "admin")


@pytest.fixture
def anonymous_page(browser, live, requests_made):
    yield from _serving(browser, live, requests_made, None)


_RUN = """async () => {
    const result = await axe.run(document, {resultTypes: ['violations']});
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
        nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html,
                                  summary: n.failureSummary || ''})),
    }));
}"""


def describe(violations: list[dict]) -> str:
    """Return axe's violations as lines a person can read."""
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} nodes)")
        for n in v["nodes"][:8]:
            lines.append(f"    at {n['target']}: {n['html'][:160]}")
            for s in n["summary"].splitlines()[:4]:
                lines.append(f"        {s.strip()}")
        if len(v["nodes"]) > 8:
            lines.append(f"    … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def assert_accessible(page, axe_script: Path, what: str) -> None:
    """Run axe-core on the page as it is now; fail on any grave violation, listing them."""
    page.add_script_tag(path=str(axe_script))
    violations = page.evaluate(_RUN)
    grave = [v for v in violations if v["impact"] in GRAVE]
    assert not grave, f"axe-core on {what} ({page.url}):\n{describe(grave)}"


def open_panel(page, live, interior, code: str = "14845") -> None:
    """Open the map and click a unit, as a person does; wait for its panel and history."""
    open_map(page, live)
    x, y = screen_point(page, interior(code))
    assert unit_under(page, x, y) == code
    page.mouse.click(x, y)
    page.locator("#panel").wait_for(state="visible")
    page.locator("#panel .timeline li").first.wait_for()


# -- the pages ----------------------------------------------------------------------------------
def test_login_page(anonymous_page, live, axe_script):
    anonymous_page.goto(live.base + "/login")
    assert_accessible(anonymous_page, axe_script, "the login page")


def test_login_page_with_an_error(anonymous_page, live, axe_script):
    page = anonymous_page
    page.goto(live.base + "/login")
    page.fill("#username", "admin")
    page.fill("#password", "not the password")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert_accessible(page, axe_script, "the login page after a wrong password")


@pytest.mark.parametrize("path", ["/", "/?lang=en", "/?as_of=2025-01-31", "/?since=2026-11-01"])
def test_map_page(admin_page, live, axe_script, path):
    open_map(admin_page, live, path)
    assert_accessible(admin_page, axe_script, f"the map page {path}")


def test_map_page_with_the_panel_open(admin_page, live, axe_script, interior):
    open_panel(admin_page, live, interior)
    assert_accessible(admin_page, axe_script, "the map page with a unit's panel open")


def test_map_page_with_a_search_open(admin_page, live, axe_script):
    page = admin_page
    open_map(page, live)
    page.fill("#search-input", "dong tien")
    page.locator("#search-results li[role=option]").first.wait_for()
    assert_accessible(page, axe_script, "the map page with search results listed")


def test_map_page_with_the_edit_form_open(officer_page, live, axe_script, interior):
    page = officer_page
    open_panel(page, live, interior, "14845")
    page.click("#edit-open")
    page.locator("#edit-form").wait_for(state="visible")
    assert_accessible(page, axe_script, "the map page with the edit form open (officer)")


@pytest.mark.parametrize("path", ["/", "/list", "/admin"])
def test_phone_pages(phone_page, live, axe_script, path):
    if path == "/":
        open_map(phone_page, live)
    else:
        phone_page.goto(live.base + path)
    assert_accessible(phone_page, axe_script, f"{path} on a phone")


def test_phone_map_with_the_panel_open(phone_page, live, axe_script):
    page = phone_page
    open_map(page, live)
    page.fill("#search-input", "Mường Lát")
    page.press("#search-input", "Enter")
    page.locator("#panel").wait_for(state="visible")
    assert_accessible(page, axe_script, "the map page on a phone with a unit's panel open")


PAGES = ["/list", "/list?lang=en", "/import", "/admin", "/admin?lang=en", "/admin/boundaries"]


@pytest.mark.parametrize("path", PAGES)
def test_page(admin_page, live, axe_script, path):
    admin_page.goto(live.base + path)
    assert_accessible(admin_page, axe_script, path)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_error_page(admin_page, live, axe_script, lang):
    response = admin_page.goto(f"{live.base}/no-such-page?lang={lang}")
    assert response.status == 404
    assert_accessible(admin_page, axe_script, "the 404 page")


def test_every_other_page(admin_page, live, axe_script):
    """Each other page an administrator can open without arguments (a guide, a new page)."""
    paths = sorted(
        rule.rule
        for rule in live.app.url_map.iter_rules()
        if "GET" in rule.methods
        and not rule.arguments
        and rule.rule not in CHECKED
        and not rule.rule.startswith(("/api/", "/static", "/vendor", "/export"))
        and "." not in rule.rule.rsplit("/", 1)[-1]  # files (audit.csv, pack.pdf), not pages
        and rule.endpoint.split(".")[0] not in ("exports", "downloads")
        and rule.endpoint != "auth.logout"
    )
    checked = []
    for path in paths:
        head = admin_page.request.get(live.base + path)  # downloads are not pages
        if head.status != 200 or "text/html" not in (head.headers.get("content-type") or ""):
            continue
        admin_page.goto(live.base + path)
        assert_accessible(admin_page, axe_script, path)
        checked.append(path)
    print("also checked:", checked)
