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

import datetime as dt
import os
import statistics
import sys
import time
import uuid

import sqlalchemy as sa
from benchlib import command, parser, say, secs, section, table, temporary_folder, times

from geo_app.store import Store

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


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=400, help="alternating calls (medians)")
    p.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    args = p.parse_args(argv)
    runs = 5 if args.quick else args.runs
    say(f"bench_sessions: {runs} calls each")
    results: list[tuple[str, tuple[float, float]]] = []
    with temporary_folder() as tmp:
        store = Store(f"sqlite:///{tmp / 'bench.sqlite3'}")
        store.upgrade()
        results.append(("SQLite (a temporary file)", bench(store, runs)))
        store.dispose()
    if not args.no_postgresql:
        schema = "bench_" + uuid.uuid4().hex[:12]
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in PG_URL else "?"
            store = Store(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
            store.upgrade()
            results.append(("PostgreSQL (the local server)", bench(store, runs)))
            store.dispose()
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
    print(
        section(
            "Login sessions: the per-request check",
            f"Command: `{command('bench_sessions.py', argv)}` ({runs} alternating calls each, "
            "medians). Every request checks its login session: `store.session_user(token, idle)` "
            "(one query joining sessions and users) against the user lookup it replaced, "
            "`store.user(name)` (**baseline**).",
            table(
                ["store", "`user` (baseline)", "`session_user`", "× baseline"],
                [[name, secs(b / 1e3), secs(a / 1e3), times(a / b)] for name, (b, a) in results],
            ),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
