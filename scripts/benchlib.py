"""What the benchmark scripts share: settings that keep them out of the repository, an app on
the bundled sample data, a live server, a login, timing, and the Markdown they print.

Every benchmark prints one Markdown section (its heading, the command that made it, its table
and what the figures mean); `scripts/bench_all.py` puts the sections together into
docs/PERFORMANCE.md. Every table holds a baseline measured in the same run and ratios to it:
the machines are shared and noisy, so the ratio is the figure to compare, never a time alone.
Not a module of the app: imported by the scripts of this folder only.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from geo_app import accounts, config, create_app
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED_BOUNDARIES = ROOT.parent / "shared" / "boundaries"
NATIONAL = SHARED_BOUNDARIES / "vietnam-2025"

#: The account the benchmarks and screenshots log in with (a throw-away store of their own).
BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-not-secret"
#: Signs the sessions of the throw-away apps (so nothing is written to instance/secret_key).
BENCH_SECRET = "bench-secret-not-secret"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """Return an argument parser with ``--quick`` (tiny sizes: what the test suite runs)."""
    p = argparse.ArgumentParser(
        description=(doc or "").strip().splitlines()[0] if doc else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, a few seconds: checks that the script runs (figures mean nothing)",
    )
    return p


def settings(tmp: Path, quick: bool, **overrides: Any) -> dict[str, Any]:
    """Return settings of a throw-away app: a SQLite store in `tmp`, a fixed secret key.

    The display-geometry cache is the configured one (``instance/cache`` by default: the
    country takes a minute to prepare, once), or a folder in `tmp` when `quick`, so that a
    quick run writes nothing outside `tmp`.
    """
    values: dict[str, Any] = {
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "SECRET_KEY": BENCH_SECRET,
        "TILES": "none",
        "JOBS_DB": str(tmp / "jobs.sqlite3"),  # the job queue too: nothing written outside
    }
    if quick:
        values["CACHE_DIR"] = str(tmp / "cache")
    values.update(overrides)
    return config.load(values)


def configured_boundaries() -> Path:
    """Return the configured boundary set (``GEO_APP_BOUNDARIES``, default Thanh Hóa)."""
    return Path(config.load({"SECRET_KEY": BENCH_SECRET})["BOUNDARIES"])


def command(script: str, argv: Sequence[str] | None = None) -> str:
    """Return the command line that ran `script`, as the documents show it."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([".venv/bin/python", f"scripts/{script}", *map(shlex.quote, args)])


# -- the app on the sample data ---------------------------------------------------------------
def load_sample(store: Store, units) -> None:
    """Import the bundled sample status file (62 listed units) into `store`."""
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(
        store, sample.read_bytes(), sample.name, importer.unit_refs(units), actor="cli"
    )


@contextlib.contextmanager
def sample_app(
    tmp: Path, boundary_path: str | None = None, quick: bool = False, quiet: bool = True
) -> Iterator[Any]:
    """Yield an app on `boundary_path` (default: configured) with the sample data in a new store
    in `tmp`, and the account `BENCH_USER` (admin)."""
    overrides = {"BOUNDARIES": boundary_path} if boundary_path else {}
    values = settings(tmp, quick, **overrides)
    display = boundaries.prepare_from_settings(
        values, progress=(lambda _m: None) if quiet else (lambda m: say(f"  {m}"))
    )
    store = Store(values["DATABASE_URL"])
    store.upgrade()
    load_sample(store, display.units)
    store.add_user(BENCH_USER, accounts.hash_password(BENCH_PASSWORD), "admin", "cli", "bench")
    store.dispose()
    app = create_app(values)
    try:
        yield app
    finally:
        app.extensions["geo_app"].store.dispose()


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


def browser_login(page, base: str, next_path: str = "/") -> None:
    """Log in through the login form of a Playwright page, which then opens `next_path`."""
    page.goto(f"{base}/login?next={next_path}")
    page.fill("#username", BENCH_USER)
    page.fill("#password", BENCH_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def browser_context(p, chromium: str, profile: Path, viewport: dict, touch: bool = False):
    """Return a headless chromium context on a fresh profile, exposing the map's Leaflet layer
    as ``window.__geoapp``; a touch screen is a mobile browser, drawn at 2× below 900 px."""
    ctx = p.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium,
        headless=True,
        viewport=viewport,
        device_scale_factor=2 if touch and viewport["width"] < 900 else 1,
        is_mobile=touch,
        has_touch=touch,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
    )
    ctx.add_init_script(
        "document.addEventListener('geoapp:layer', e => { window.__geoapp = e.detail; });"
    )
    return ctx


def open_map(page, url: str, settle_ms: float) -> None:
    """Open the map page at `url` and wait until its shapes are drawn, then `settle_ms` more
    (the first fit's animation)."""
    page.goto(url)
    page.wait_for_selector("html[data-map-state=ready]")
    page.wait_for_timeout(settle_ms)


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


@contextlib.contextmanager
def temporary_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="geo-app-bench-") as tmp:
        yield Path(tmp)


# -- timing -----------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> float:
    """Return the seconds one call of `fn` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Return the median of `repeat` timed calls of `fn`."""
    return statistics.median(timed(fn) for _ in range(max(repeat, 1)))


# -- Markdown ---------------------------------------------------------------------------------
def secs(seconds: float) -> str:
    """Return a duration as people read it: 0.81 ms, 69 ms, 1.37 s."""
    if seconds < 0.01:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def size(n: float) -> str:
    """Return a size in KB or MB (1024-based, as the browser's tools show them)."""
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.2f} MB"


def times(ratio: float) -> str:
    """Return a ratio: 1.60×, 58×, 2,167×."""
    if ratio < 10:
        return f"{ratio:.2f}×"
    return f"{ratio:,.0f}×"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def wrap(block: str, width: int = 96) -> str:
    """Return a paragraph or a list of bullets wrapped at `width` (tables are kept as they are)."""
    block = block.strip()
    if block.startswith("|"):
        return block
    if block.startswith("- "):
        items = ("\n" + block).split("\n- ")[1:]
        return "\n".join(
            textwrap.fill(
                " ".join(item.split()),
                width,
                initial_indent="- ",
                subsequent_indent="  ",
                break_on_hyphens=False,
                break_long_words=False,
            )
            for item in items
        )
    return textwrap.fill(
        " ".join(block.split()), width, break_on_hyphens=False, break_long_words=False
    )


def section(title: str, *blocks: str) -> str:
    """Return a Markdown section: ``## title`` and its blocks (wrapped), blank lines between."""
    return "\n\n".join([f"## {title}", *(wrap(b) for b in blocks if b and b.strip())]) + "\n"


def say(text: str) -> None:
    """Print progress on stderr (stdout holds the Markdown only)."""
    print(text, file=sys.stderr, flush=True)
