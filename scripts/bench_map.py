"""Measure the map page against geopandas `.explore()` of the same data, timed in the same run.

    .venv/bin/python scripts/bench_map.py                 # the configured boundary set
    .venv/bin/python scripts/bench_map.py --national      # and all 3,321 units of the country
    .venv/bin/python scripts/bench_map.py --national --browser   # plus figures in chromium

Prints, per boundary set: `.explore()` + HTML render time and size (the baseline), the app's
warm and cold `GET /`, their ratio, the first load (HTML + map data, gzip; static assets
excluded), the details API warm, and the re-render after a status change. With `--browser`:
time to all shapes drawn, a pan, and a click until the panel shows the record, in Debian's
chromium. Each set runs on a temporary SQLite store holding the bundled sample data. Display
geometry must be prepared (`geo-app boundaries prepare`); it is prepared here if it is not.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from geo_app import accounts, clock, config, create_app
from geo_app.core.records import STATUSES, Record, join_units
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.store import Change, Store

ROOT = Path(__file__).resolve().parent.parent
NATIONAL = ROOT.parent / "shared" / "boundaries" / "vietnam-2025"
GZIP = {"Accept-Encoding": "gzip"}


#: The account the benchmarks and screenshots log in with (a throw-away store of their own).
BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-not-secret"


def logged_in_client(app):
    """Return a test client of `app` logged in as `BENCH_USER` (the map needs a login)."""
    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = client.post(
        "/login", data={"username": BENCH_USER, "password": BENCH_PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 302, r.status_code
    return client


def browser_login(page, base: str) -> None:
    """Log in through the login form of a Playwright page."""
    page.goto(base + "/login")
    page.fill("#username", BENCH_USER)
    page.fill("#password", BENCH_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


@contextlib.contextmanager
def sample_app(tmp: Path, boundary_path: str | None = None, quiet: bool = True) -> Iterator[Any]:
    """Yield an app on `boundary_path` (default: configured) with the sample data in a new store."""
    overrides: dict[str, Any] = {
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "SECRET_KEY": "bench",
        "TILES": "none",
    }
    if boundary_path:
        overrides["BOUNDARIES"] = boundary_path
    settings = config.load(overrides)
    display = boundaries.prepare_from_settings(
        settings, progress=(lambda _m: None) if quiet else (lambda m: print(f"  {m}"))
    )
    store = Store(settings["DATABASE_URL"])
    store.upgrade()
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(
        store, sample.read_bytes(), sample.name, importer.unit_refs(display.units), actor="cli"
    )
    store.add_user(BENCH_USER, accounts.hash_password(BENCH_PASSWORD), "admin", "cli", "bench")
    store.dispose()
    app = create_app(settings)
    try:
        yield app
    finally:
        app.extensions["geo_app"].store.dispose()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def explore_baseline(app, repeat: int = 3) -> dict[str, Any]:
    """Time geopandas `.explore()` of the same units and statuses, rendered to HTML.

    One untimed call first (imports, caches), then the median of `repeat` calls.
    """
    svc = app.extensions["geo_app"]
    display = svc.display()
    joined = join_units(display.units, svc.store.records(svc.division))

    def explore() -> str:  # what a naive view would return: the same palette, defaults otherwise
        m = joined.explore(
            column="status",
            categorical=True,
            categories=[s.code for s in STATUSES],
            cmap=[s.color for s in STATUSES],
        )
        return m.get_root().render()

    t0 = time.perf_counter()
    html = explore()
    first = time.perf_counter() - t0
    seconds = _median_time(explore, repeat)
    body = html.encode()
    return {
        "seconds": seconds,
        "first": first,
        "bytes": len(body),
        "gzip": len(gzip.compress(body, 6)),
    }


def measure(app, repeat: int) -> dict[str, Any]:
    """Measure the app's page, data and API through the Flask test client."""
    svc = app.extensions["geo_app"]
    client = logged_in_client(app)
    out: dict[str, Any] = {"units": len(svc.display().units)}
    t0 = time.perf_counter()
    page = client.get("/", headers=GZIP)
    out["cold_page"] = time.perf_counter() - t0  # geometry encoded + page rendered
    assert page.status_code == 200, page.status_code
    # what the map loads: TopoJSON (each border once, quantised); the GeoJSON it replaced is
    # measured beside it
    data_url = svc.display().key and f"/map/units-{svc.display().key}.topojson"
    geojson_url = f"/map/units-{svc.display().key}.geojson"
    t0 = time.perf_counter()
    data = client.get(data_url, headers=GZIP)
    out["cold_data"] = time.perf_counter() - t0
    assert data.status_code == 200 and data.headers["Content-Encoding"] == "gzip"
    html = gzip.decompress(page.data).decode()
    script_url = re.search(r'<script src="(/map/script-[^"]+)"', html).group(1)
    script = client.get(script_url.replace("&amp;", "&"), headers=GZIP)
    assert script.status_code == 200
    out["page_gzip"] = len(page.data) + len(script.data)  # the HTML and the map's script
    out["data_gzip"] = len(data.data)
    out["data_raw"] = len(client.get(data_url).data)
    out["geojson_gzip"] = len(client.get(geojson_url, headers=GZIP).data)
    out["first_load"] = out["page_gzip"] + out["data_gzip"]
    out["warm_page"] = _median_time(lambda: client.get("/", headers=GZIP), repeat)
    etag = page.headers["ETag"]
    revalidate = client.get("/", headers={**GZIP, "If-None-Match": etag})
    assert revalidate.status_code == 304
    out["warm_data_304"] = _median_time(
        lambda: client.get(data_url, headers={**GZIP, "If-None-Match": data.headers["ETag"]}),
        repeat,
    )
    codes = ["16522", "14845", "15187", "16417"]
    codes = [c for c in codes if c in set(svc.display().units["code"])] or [
        str(svc.display().units["code"].iloc[0])
    ]
    for c in codes:  # first touch of each
        client.get(f"/api/communes/{c}")
    out["details_warm"] = statistics.median(
        _median_time(lambda c=c: client.get(f"/api/communes/{c}"), repeat) for c in codes
    )
    twin = client.get("/api/communes.geojson", headers=GZIP)
    out["twin_gzip"] = len(twin.data)
    # a status change: the next load renders the new revision
    current = svc.store.record(svc.division, codes[0])
    old = current.record if current else None
    new = Record(codes[0], "relapsed" if (old and old.status != "relapsed") else "hotspot")
    svc.store.apply([Change(new, old, clock.today(), "bench")], actor="bench", source="bench")
    t0 = time.perf_counter()
    changed = client.get("/", headers=GZIP)
    out["after_change"] = time.perf_counter() - t0
    assert changed.headers["ETag"] != etag, "a status change must change the page"
    return out


def browser_figures(app, chromium: str) -> dict[str, Any]:
    """Load the page in chromium: time to all shapes drawn, a pan, and a click to the panel."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as profile,
        live_server(app) as base,
        sync_playwright() as p,
    ):
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            viewport={"width": 1440, "height": 900},
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        ctx.add_init_script(
            "document.addEventListener('geoapp:layer', e => { window.__geoapp = e.detail; });"
        )
        page = ctx.new_page()
        browser_login(page, base)
        t0 = time.perf_counter()
        page.goto(base + "/")
        page.wait_for_selector("html[data-map-state=ready]", timeout=120_000)
        out["drawn"] = time.perf_counter() - t0
        out["shapes"] = page.evaluate("window.__geoapp.layer.getLayers().length")
        out["pan"] = page.evaluate(
            """() => new Promise(resolve => {
                const map = window.__geoapp.map, t0 = performance.now();
                map.once('moveend', () => requestAnimationFrame(() =>
                    resolve((performance.now() - t0) / 1000)));
                map.panBy([300, 200], {animate: false});
            })"""
        )
        point = page.evaluate(
            """() => {
                const g = window.__geoapp, lyr = g.layer.getLayers().find(
                    l => l.feature.properties.code === '16522') || g.layer.getLayers()[0];
                g.map.fitBounds(lyr.getBounds(), {animate: false});
                const p = g.map.latLngToContainerPoint(lyr.getBounds().getCenter());
                const box = g.map.getContainer().getBoundingClientRect();
                return [box.left + p.x, box.top + p.y, lyr.feature.properties.name];
            }"""
        )
        page.wait_for_timeout(800)
        out["click_retries"] = 0
        t0 = time.perf_counter()
        page.mouse.click(point[0], point[1])
        while True:
            try:
                page.wait_for_function(
                    "() => { const p = document.getElementById('panel');"
                    " return !p.hidden && !p.hasAttribute('aria-busy'); }",
                    timeout=10_000,
                )
                break
            except PlaywrightTimeout:
                if out["click_retries"] >= 2:
                    raise
                out["click_retries"] += 1
                page.mouse.click(point[0], point[1])
        out["click"] = time.perf_counter() - t0
        out["clicked"] = page.inner_text("#panel-title")
        ctx.close()
    return out


def run(label: str, boundary_path: str | None, args, chromium: str | None) -> dict[str, Any]:
    print(f"\n## {label}", flush=True)
    with tempfile.TemporaryDirectory() as tmp, sample_app(Path(tmp), boundary_path) as app:
        base = explore_baseline(app)
        res = measure(app, args.repeat)
        res["explore"] = base
        if args.browser and chromium:
            res["browser"] = browser_figures(app, chromium)
    ratio = base["seconds"] / res["warm_page"]
    print(f"units                                  {res['units']}")
    print(
        f"geopandas .explore() + HTML render     {_ms(base['seconds'])} (median of 3; first call "
        f"{_ms(base['first'])}), {_kb(base['bytes'])} ({_kb(base['gzip'])} gzip)"
    )
    print(f"GET / warm (median of {args.repeat})             {_ms(res['warm_page'])}")
    print(f"  → warm GET / is {ratio:,.0f}× faster than .explore()")
    print(f"GET / cold (first request of a process) {_ms(res['cold_page'])}")
    print(f"GET / after a status change            {_ms(res['after_change'])}")
    print(
        f"first load, gzip                       {_kb(res['first_load'])} "
        f"(HTML and map script {_kb(res['page_gzip'])} + map data {_kb(res['data_gzip'])}; "
        f"map data raw {_kb(res['data_raw'])}); .explore()'s HTML gzip is "
        f"{base['gzip'] / res['first_load']:.1f}× larger"
    )
    print(
        f"  map data as GeoJSON (before TopoJSON) {_kb(res['geojson_gzip'])} gzip: TopoJSON is "
        f"{res['geojson_gzip'] / res['data_gzip']:.1f}× smaller"
    )
    print(f"map data revalidation (304)            {_ms(res['warm_data_304'])}")
    print(f"GET /api/communes/<code> warm          {_ms(res['details_warm'])}")
    print(f"/api/communes.geojson, gzip            {_kb(res['twin_gzip'])}")
    if "browser" in res:
        b = res["browser"]
        print(f"chromium: all {b['shapes']} shapes drawn      {_ms(b['drawn'])} after navigation")
        print(f"chromium: pan 300×200 px               {_ms(b['pan'])}")
        retried = f", after {b['click_retries']} lost click(s)" if b["click_retries"] else ""
        print(f"chromium: click → panel with record    {_ms(b['click'])} ({b['clicked']}{retried})")
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed repetitions (median)")
    parser.add_argument(
        "--national",
        nargs="?",
        const=str(NATIONAL),
        default=None,
        help="also measure this boundary set (default: ../shared/boundaries/vietnam-2025)",
    )
    parser.add_argument("--browser", action="store_true", help="also measure in chromium")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if args.browser and chromium is None:
        print("--browser needs Debian's chromium", file=sys.stderr)
        return 1
    print(f"# Map page benchmark ({clock.today().isoformat()}, {os.cpu_count()} CPUs)")
    run("Configured boundary set", None, args, chromium)
    if args.national:
        run(f"National: {Path(args.national).name}", args.national, args, chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
