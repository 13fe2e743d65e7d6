"""Screenshots of the map page at every layout the app supports, and of the printed page.

    .venv/bin/python scripts/screenshots_access.py [--out docs/screenshots] [--lang vi] [--quick]

Runs the app on a temporary database holding the bundled sample data (as scripts/screenshot_map.py
does) in Debian's chromium and writes into `--out`:
- ``layout-<width>x<height>.png`` for the phone (390×844), the phone sideways (844×390), the
  tablet (768×1024), the tablet sideways (1024×768) and two desktops (1366×768, 1920×1080),
  printing the map's share of the screen at each;
- ``layout-390x844-edit.png``: a unit's edit form open on the phone, a relapse warned of;
- ``layout-390x844-figures.png``: the phone's "Figures" sheet (date, as-of control, trend);
- ``print-a4-landscape.pdf`` and ``print-a4-landscape.png``: what Ctrl+P prints (A4 landscape),
  the PNG rendered from the PDF with poppler's ``pdftoppm``.
`--quick` (what the test suite runs): shorter pauses, the display cache in a temporary folder,
and the pictures in a new temporary folder unless `--out` is given.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import browser_context, browser_login, live_server, open_map, parser, sample_app
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
#: (width, height, phone or tablet: touch screen, mobile browser)
VIEWPORTS = [
    (390, 844, True),
    (844, 390, True),
    (768, 1024, True),
    (1024, 768, True),
    (1366, 768, False),
    (1920, 1080, False),
]
#: A transformed unit of the sample data: choosing "in progress" on it is recorded as a relapse.
TRANSFORMED = "16522"


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--out", type=Path, default=None, help="folder of the pictures")
    p.add_argument("--lang", default="vi", choices=("vi", "en"))
    args = p.parse_args(argv)
    if args.out is None:
        args.out = (
            Path(tempfile.mkdtemp(prefix="geo-app-screens-"))
            if args.quick
            else ROOT / "docs" / "screenshots"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    pause = 0.3 if args.quick else 1.0
    chromium = shutil.which("chromium")
    if chromium is None:
        print("Debian's chromium is needed (apt-get install chromium)", file=sys.stderr)
        return 1
    pdftoppm = shutil.which("pdftoppm")
    with tempfile.TemporaryDirectory() as tmp, sample_app(Path(tmp), quick=args.quick) as app:
        with live_server(app) as base, sync_playwright() as p:
            url = f"{base}/?lang={args.lang}"
            for width, height, touch in VIEWPORTS:
                name = f"layout-{width}x{height}"
                ctx = browser_context(
                    p, chromium, Path(tmp) / name, {"width": width, "height": height}, touch
                )
                page = ctx.new_page()
                browser_login(page, base)
                open_map(page, url, 900 * pause)
                page.screenshot(path=str(args.out / f"{name}.png"))
                share = page.evaluate(
                    "() => { const m = document.querySelector('.folium-map');"
                    " const r = m.getBoundingClientRect();"
                    " const h = Math.min(r.bottom, innerHeight) - Math.max(r.top, 0);"
                    " const w = Math.min(r.right, innerWidth) - Math.max(r.left, 0);"
                    " return Math.max(0, h) * Math.max(0, w) / (innerWidth * innerHeight); }"
                )
                print(f"wrote {args.out / f'{name}.png'} (the map: {share:.0%} of the screen)")
                if width == 390:
                    page.click("#figures-more")
                    page.wait_for_selector("#trend-chart svg")
                    page.wait_for_timeout(300 * pause)
                    page.screenshot(path=str(args.out / f"{name}-figures.png"))
                    print(f"wrote {args.out / f'{name}-figures.png'}")
                    page.click("#figures-more")
                    page.goto(f"{url}#{TRANSFORMED}")
                    page.wait_for_selector("#panel .timeline li")
                    page.click("#edit-open")
                    page.select_option("#edit-status", "in_progress")
                    page.fill("#edit-note", "Tái phát tụ điểm")
                    page.locator("#edit-relapse").scroll_into_view_if_needed()
                    page.wait_for_timeout(600 * pause)
                    page.screenshot(path=str(args.out / f"{name}-edit.png"))
                    print(f"wrote {args.out / f'{name}-edit.png'}")
                if (width, height) == (1366, 768):
                    page.emulate_media(media="print")
                    page.wait_for_timeout(900 * pause)
                    pdf = args.out / "print-a4-landscape.pdf"
                    page.pdf(path=str(pdf), format="A4", landscape=True, print_background=True)
                    print(f"wrote {pdf}")
                    if pdftoppm:
                        stem = args.out / "print-a4-landscape"
                        subprocess.run(
                            [pdftoppm, "-png", "-r", "60", "-singlefile", str(pdf), str(stem)],
                            check=True,
                        )
                        print(f"wrote {stem}.png")
                    else:
                        print("pdftoppm (poppler-utils) is missing: no PNG of the print")
                ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
