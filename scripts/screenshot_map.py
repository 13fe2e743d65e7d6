"""Take screenshots of the map page as a user sees it: desktop and phone, a unit's panel open.

    .venv/bin/python scripts/screenshot_map.py [--out docs] [--lang vi] [--quick]

Runs the app on a temporary database holding the bundled sample data and the configured
boundary set (GEO_APP_BOUNDARIES; display geometry is prepared into the configured cache if it
is not there), in Debian's chromium, and writes map.png and map-phone.png into `--out`.
`--quick` (what the test suite runs): the same steps with shorter pauses, the display cache in
a temporary folder, and the pictures in a new temporary folder unless `--out` is given.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import shapely
from benchlib import browser_context, browser_login, live_server, open_map, parser, sample_app
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def _interior(app, code: str) -> tuple[float, float]:
    units = app.extensions["geo_app"].display().units.set_index("code")
    x, y = shapely.maximum_inscribed_circle(units.geometry[code]).coords[0]
    return y, x


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--out", type=Path, default=None, help="folder of the pictures (docs)")
    p.add_argument("--lang", default="vi", choices=("vi", "en"))
    p.add_argument("--unit", default="16174", help="unit clicked on the desktop")
    p.add_argument("--search", default="quang phu", help="what is searched on the phone")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = (
            Path(tempfile.mkdtemp(prefix="geo-app-screens-")) if args.quick else ROOT / "docs"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    pause = 0.3 if args.quick else 1.0
    chromium = shutil.which("chromium")
    if chromium is None:
        print("Debian's chromium is needed (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, sample_app(Path(tmp), quick=args.quick) as app:
        with live_server(app) as base, sync_playwright() as p:
            desktop = browser_context(
                p, chromium, Path(tmp) / "desktop", {"width": 1440, "height": 900}
            )
            page = desktop.new_page()
            browser_login(page, base)
            open_map(page, f"{base}/?lang={args.lang}", 700 * pause)
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
            page.wait_for_timeout(600 * pause)
            page.screenshot(path=str(args.out / "map.png"))
            print(f"wrote {args.out / 'map.png'}")
            desktop.close()

            phone = browser_context(
                p, chromium, Path(tmp) / "phone", {"width": 390, "height": 844}, touch=True
            )
            page = phone.new_page()
            browser_login(page, base)
            open_map(page, f"{base}/?lang={args.lang}", 700 * pause)
            page.tap("#search-input")
            page.fill("#search-input", args.search)
            page.locator("#search-results li[role=option]").first.tap()
            page.wait_for_selector("#panel .timeline li")
            page.wait_for_timeout(900 * pause)  # the zoom animation
            page.screenshot(path=str(args.out / "map-phone.png"))
            print(f"wrote {args.out / 'map-phone.png'}")
            phone.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
