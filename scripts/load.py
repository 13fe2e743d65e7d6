"""Load test: 50 logged-in users for 60 s against gunicorn and against Flask's development
server, both on PostgreSQL on loopback, in the same run; prints throughput and latencies.

Usage: .venv/bin/python scripts/load.py [--users 50] [--seconds 60] [--workers 4]
Needs the PostgreSQL server of the machine (GEO_APP_TEST_PG_URL, default the local `test`
database); works in its own schema, dropped at the end. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import sqlalchemy as sa

from geo_app import accounts, config
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.store import Store

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("GEO_APP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "load-test-password"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not start")


def setup(db_url: str, n_users: int) -> tuple[list[str], list[str]]:
    store = Store(db_url)
    store.upgrade()
    units = importer.unit_refs(boundaries.load(config.load()["BOUNDARIES"]).units)
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(store, sample.read_bytes(), sample.name, units)
    records = store.records("2025")
    editable = sorted(
        c for c, r in records.items() if r.record.status in ("hotspot", "in_progress")
    )
    password_hash = accounts.hash_password(PASSWORD)
    for i in range(1, n_users + 1):
        name = f"load{i:02d}"
        store.add_user(name, password_hash, "officer", actor="load", source="load")
        if i <= len(editable):
            store.set_assignments(name, "2025", [editable[i - 1]], actor="load", source="load")
    store.dispose()
    return editable, [u.code for u in units]


def run(
    kind: str, env: dict[str, str], args, codes: list[str], all_codes: list[str], out: Path
) -> dict[str, str]:
    port = free_port()
    cmd = [str(BIN / "geo-app"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--dev"] if kind == "dev" else ["--workers", str(args.workers)]
    log = (out / f"{kind}-server.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        prefix = out / kind
        locust_env = dict(
            env,
            LOAD_PASSWORD=PASSWORD,
            LOAD_CODES=",".join(codes),
            LOAD_ALL_CODES=",".join(all_codes),
        )
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "scripts" / "locustfile.py"),
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(args.users),
                "-t",
                f"{args.seconds}s",
                "--host",
                base,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=locust_env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        with open(f"{prefix}_stats.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        return {r["Name"]: r for r in rows}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="users send requests back to back (capacity), not 0.5-2 s apart",
    )
    args = parser.parse_args()
    schema = "load_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db_url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    try:
        codes, all_codes = setup(db_url, args.users)
        out = Path(tempfile.mkdtemp(prefix="geo-app-load-"))
        env = dict(os.environ, GEO_APP_DATABASE_URL=db_url, LOAD_WAIT="0" if args.no_wait else "1")
        results = {
            kind: run(kind, env, args, codes, all_codes, out) for kind in ("gunicorn", "dev")
        }
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    pace = "back to back" if args.no_wait else "0.5-2 s between requests"
    print(
        f"{args.users} users ({pace}), {args.seconds} s each, PostgreSQL, loopback "
        f"(gunicorn: {args.workers} workers x 4 threads; dev: Flask's threaded server)"
    )
    head = (
        f"{'server':<9} {'endpoint':<30} {'requests':>8} {'errors':>6} {'req/s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    print(head)
    for kind, rows in results.items():
        for name, r in rows.items():
            print(
                f"{kind:<9} {name:<30} {r['Request Count']:>8} {r['Failure Count']:>6} "
                f"{float(r['Requests/s']):>7.1f} {r['50%']:>7} {r['95%']:>7} {r['99%']:>7}"
            )
    g, d = results["gunicorn"]["Aggregated"], results["dev"]["Aggregated"]
    print(
        f"throughput gunicorn / dev: {float(g['Requests/s']) / float(d['Requests/s']):.2f}x; "
        f"p95 dev / gunicorn: {float(d['95%']) / max(float(g['95%']), 1):.2f}x"
    )


if __name__ == "__main__":
    main()
