"""Time the server-side session check against the user lookup it replaced, per request.

Usage: .venv/bin/python scripts/bench_sessions.py [--runs N] [--quick] [--no-postgresql]

Before issue 12 every request loaded its user with ``store.user(name)``; now it loads it with
``store.session_user(token, idle)``, which also checks that the login session is live (one
query joining ``sessions`` and ``users``; ``last_seen`` written at most once per 48 minutes).
Both are timed alternately, on a temporary SQLite store and on a schema of its own in the
machine's PostgreSQL (``GEO_APP_TEST_PG_URL``), and the medians are printed with their ratio.
``--quick`` (what the test suite runs) makes a few calls only. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from geo_app.store import Store  # noqa: E402

PG_URL = os.environ.get("GEO_APP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def bench(store: Store, runs: int) -> tuple[float, float]:
    """Return the median times (ms) of ``user`` and ``session_user``."""
    store.add_user("bench", "x" * 60, "admin", "bench", "bench")
    token = store.start_session("bench", "127.0.0.1")
    idle = dt.timedelta(hours=8)
    before, after = [], []
    for _ in range(runs):
        t = time.perf_counter()
        store.user("bench")
        before.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert store.session_user(token, idle) is not None
        after.append(time.perf_counter() - t)
    return statistics.median(before) * 1e3, statistics.median(after) * 1e3


def line(name: str, times: tuple[float, float]) -> str:
    b, a = times
    return f"{name:<11} user {b:7.3f} ms   session_user {a:7.3f} ms   ratio {a / b:5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="a few calls (the test suite)")
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        store.upgrade()
        print(line("sqlite", bench(store, runs)))
        store.dispose()
    if args.no_postgresql:
        return
    schema = "bench_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in PG_URL else "?"
        store = Store(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
        store.upgrade()
        print(line("postgresql", bench(store, runs)))
        store.dispose()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
