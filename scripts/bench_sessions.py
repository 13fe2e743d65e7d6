"""Time the server-side session check against the user lookup it replaced, per request, and
the argon2id parameter sets OWASP lists for a login's password check.

Usage: .venv/bin/python scripts/bench_sessions.py [--runs N] [--quick] [--no-postgresql]

Before issue 12 every request loaded its user with ``store.user(name)``; now it loads it with
``store.session_user(token, idle)``, which also checks that the login session is live (one
query joining ``sessions`` and ``users``; ``last_seen`` written at most once per 48 minutes).
Both are timed alternately, on a temporary SQLite store and on a schema of its own in the
machine's PostgreSQL (``GEO_APP_TEST_PG_URL``), and the medians are printed with their ratio.
The second table verifies a hash made with each parameter set of the OWASP Password Storage
Cheat Sheet (median of 9, 2 in ``--quick``) against the library's default (**baseline**); the
app uses `geo_app.accounts`' parameters.
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
from argon2 import PasswordHasher
from benchlib import command, parser, say, secs, section, table, temporary_folder, times

from geo_app import accounts
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


#: (label, memory KiB, time cost, parallelism): the library's default, then OWASP's options.
ARGON2_SETS = [
    ("library default: m=64 MiB, t=3, p=4 (**baseline**; the app's before issue 17)", 65536, 3, 4),
    ("m=46 MiB, t=1, p=1", 46 * 1024, 1, 1),
    ("m=19 MiB, t=2, p=1", 19 * 1024, 2, 1),
    ("m=12 MiB, t=3, p=1", 12 * 1024, 3, 1),
    ("m=9 MiB, t=4, p=1", 9 * 1024, 4, 1),
]


def argon2_rows(runs: int) -> list[list[str]]:
    """Return a table row per parameter set: its verify time (median) and ratio to the default."""
    chosen = (accounts.ARGON2_MEMORY_KIB, accounts.ARGON2_TIME_COST, accounts.ARGON2_PARALLELISM)
    medians = []
    for _label, m, t, par in ARGON2_SETS:
        hasher = PasswordHasher(time_cost=t, memory_cost=m, parallelism=par)
        digest = hasher.hash("a password of a shift officer")
        spent = []
        for _ in range(runs):
            start = time.perf_counter()
            hasher.verify(digest, "a password of a shift officer")
            spent.append(time.perf_counter() - start)
        medians.append(statistics.median(spent))
    rows = []
    for (label, m, t, par), med in zip(ARGON2_SETS, medians, strict=True):
        if (m, t, par) == chosen:
            label = f"**{label} (OWASP's recommended minimum; the app's)**"
        rows.append([label, secs(med), times(med / medians[0])])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=400, help="alternating calls (medians)")
    p.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    args = p.parse_args(argv)
    runs = 5 if args.quick else args.runs
    argon_runs = 2 if args.quick else 9
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
            "**Logins: argon2id parameters.** A login verifies the password's argon2id hash. "
            "Each parameter set of the OWASP Password Storage Cheat Sheet, verified on this "
            f"machine (median of {argon_runs}):",
            table(["parameters", "verify", "× baseline"], argon2_rows(argon_runs)),
            "OWASP's options are meant to cost about the same; the app keeps the one OWASP names "
            "first (`geo_app/accounts.py`), several times cheaper than the library's default. "
            "Hashes made with other parameters are re-hashed at the next successful login.",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
