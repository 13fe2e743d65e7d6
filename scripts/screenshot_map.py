"""Take screenshots of the map page as a user sees it: desktop and phone, a unit's panel open.

    .venv/bin/python scripts/screenshot_map.py [--out docs] [--lang vi]

Runs the app on a temporary database holding the bundled sample data and the configured
boundary set (GEO_APP_BOUNDARIES; prepared display geometry is needed), in Debian's chromium.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import shapely
from bench_map import browser_login, live_server, sample_app
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def _context(p, chromium: str, profile: Path, viewport: dict, phone: bool = False):
    ctx = p.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium,
        headless=True,
        viewport=viewport,
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
    )
    ctx.add_init_script(
        "document.addEventListener('geoapp:layer', e => { window.__geoapp = e.detail; });"
    )
    return ctx


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("html[data-map-state=ready]")
    page.wait_for_timeout(700)  # the first fit's animation


def _interior(app, code: str) -> tuple[float, float]:
    units = app.extensions["geo_app"].display().units.set_index("code")
    x, y = shapely.maximum_inscribed_circle(units.geometry[code]).coords[0]
    return y, x


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--lang", default="vi", choices=("vi", "en"))
    parser.add_argument("--unit", default="16174", help="unit clicked on the desktop")
    parser.add_argument("--search", default="quang phu", help="what is searched on the phone")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("Debian's chromium is needed (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, sample_app(Path(tmp)) as app:
        with live_server(app) as base, sync_playwright() as p:
            desktop = _context(p, chromium, Path(tmp) / "desktop", {"width": 1440, "height": 900})
            page = desktop.new_page()
            browser_login(page, base)
            _open(page, f"{base}/?lang={args.lang}")
            lat, lng = _interior(app, args.unit)
            x, y = page.evaluate(
                """([lat, lng]) => {
                    const map = window.__geoapp.map, p = map.latLngToContainerPoint([lat, lng]);
                    const box = map.getContainer().getBoundingClientRect();
                    return [box.left + p.x, box.top + p.y];
                }""",
                [lat, lng],
            )
            page.mouse.click(x, y)  # as a user does: the panel opens, the tooltip shows
            page.wait_for_selector("#panel .timeline li")
            page.wait_for_selector("#trend-chart svg")
            page.click("#edit-open")  # the edit form, as an officer or admin sees it
            page.fill("#edit-note", "Kế hoạch chuyển hóa đã được phê duyệt")
            page.wait_for_timeout(600)
            page.screenshot(path=str(args.out / "map.png"))
            print(f"wrote {args.out / 'map.png'}")
            desktop.close()

            phone = _context(
                p, chromium, Path(tmp) / "phone", {"width": 390, "height": 844}, phone=True
            )
            page = phone.new_page()
            browser_login(page, base)
            _open(page, f"{base}/?lang={args.lang}")
            page.tap("#search-input")
            page.fill("#search-input", args.search)
            page.locator("#search-results li[role=option]").first.tap()
            page.wait_for_selector("#panel .timeline li")
            page.wait_for_timeout(900)  # the zoom animation
            page.screenshot(path=str(args.out / "map-phone.png"))
            print(f"wrote {args.out / 'map-phone.png'}")
            phone.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
