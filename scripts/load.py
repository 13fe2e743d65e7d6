"""Load test: logged-in users against gunicorn and against Flask's development server (the
baseline), both on PostgreSQL on loopback, in the same run; prints throughput and latencies.

    .venv/bin/python scripts/load.py [--users 50] [--seconds 60] [--workers 4]
                                     [--pace people|capacity|both] [--arrivals 5] [--quick]

Each pace (people: 0.5-2 s between a user's requests; capacity: back to back) runs for
`--seconds` against `geo-app serve --workers N` (gunicorn, 4 threads per worker), then against
`geo-app serve --dev`, same data, same machine; the ratios gunicorn / development server are
the figures to compare. Prints a Markdown section (see scripts/bench_all.py).

Needs the PostgreSQL server of the machine (GEO_APP_TEST_PG_URL, default the local `test`
database, trust auth); works in its own schema, dropped at the end. Traffic stays on 127.0.0.1.
Server logs, locust's CSV files and (with `--quick`) the display cache live in a temporary
folder. `--quick`: 3 users for 3 s back to back, 1 worker; it fails when a request failed
or a server logged a traceback.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from benchlib import (
    BENCH_SECRET,
    command,
    load_sample,
    parser,
    say,
    section,
    settings,
    table,
    temporary_folder,
    times,
)

from geo_app import accounts
from geo_app.geodata import boundaries
from geo_app.store import Store

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("GEO_APP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "load-test-password"
BIN = Path(sys.executable).parent
SERVERS = {"gunicorn": "gunicorn", "dev": "development server"}
PACES = {
    "people": "people's pace (0.5–2 s between requests)",
    "capacity": "back to back (capacity)",
}
WHEN = {"people": "at people's pace", "capacity": "at capacity (after the logins)"}
#: The requests of the per-request table, in the order a user makes them.
ENDPOINTS = [
    ("POST", "/login", "log in (argon2)"),
    ("GET", "/", "map page"),
    ("GET", "/api/summary", "figures"),
    ("GET", "/api/communes/<code>", "a unit's record"),
    ("POST", "/api/communes/<code>/status", "an edit"),
]


class CpuWindow:
    """CPU used during a run, from /proc (Linux), in cores: by the server (a process and its
    descendants), by locust, and by the whole machine (they, PostgreSQL and anything else
    running: other engineers' test suites). None where /proc cannot be read.

    `sample` while the run goes on: a process that has ended counts up to its last sample.
    """

    def __init__(self, server: int, client: int):
        self.pids = {"server": server, "locust": client}
        self.t0, self.machine0 = time.perf_counter(), _machine()
        table = _table()
        self.first = {name: _tree(pid, table) for name, pid in self.pids.items()}
        self.last = {name: (self.t0, value) for name, value in self.first.items()}

    def sample(self) -> None:
        now, table = time.perf_counter(), _table()
        for name, pid in self.pids.items():
            value = _tree(pid, table)
            if value is not None:
                self.last[name] = (now, value)

    def stop(self) -> dict[str, float | None]:
        self.sample()
        machine1 = _machine()
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[str, float | None] = {}
        for name, start in self.first.items():
            when, value = self.last[name]
            ok = start is not None and value is not None and when > self.t0
            out[name] = (value - start) / tick / (when - self.t0) if ok else None
        out["busy"] = None
        if self.machine0 and machine1 and machine1[0] > self.machine0[0]:
            total = machine1[0] - self.machine0[0]
            idle = machine1[1] - self.machine0[1]
            out["busy"] = (total - idle) / total * (os.cpu_count() or 1)
        return out


def _machine() -> tuple[int, int] | None:
    """Return all and idle jiffies of the machine since boot."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(values), values[3] + values[4]


def _stat(pid: str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _table() -> dict[int, list[str]]:
    """Return the /proc stat fields of every process, by pid (empty without /proc)."""
    table: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit() and (fields := _stat(entry.name)):
            table[int(entry.name)] = fields
    return table


def _tree(pid: int, table: dict[int, list[str]]) -> int | None:
    """Return the CPU jiffies used by `pid` and its live descendants (and reaped children)."""
    if pid not in table:
        return None
    tree, more = {pid}, {pid}
    while more:
        more = {p for p, fields in table.items() if int(fields[1]) in more} - tree
        tree |= more
    # utime, stime, cutime, cstime are fields 14 to 17 of the line, 11 to 14 after the name
    return sum(sum(int(v) for v in table[p][11:15]) for p in tree)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped (exit {server.returncode}) before serving")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not start in {timeout:.0f} s")


def setup(db_url: str, values: dict[str, Any], n_users: int) -> tuple[list[str], list[str]]:
    """Load the sample and create `n_users` officers, each assigned one listed unit."""
    store = Store(db_url)
    store.upgrade()
    units = boundaries.load(values["BOUNDARIES"]).units
    load_sample(store, units)
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
    return editable, [str(c) for c in units["code"]]


def run(
    kind: str,
    pace: str,
    env: dict[str, str],
    args,
    codes: list[str],
    all_codes: list[str],
    out: Path,
) -> dict[str, Any]:
    """Serve with `kind`, run locust against it; return its rows by (method, name), the CPU
    used, when the last user had logged in, and the seconds the statistics cover."""
    say(f"load: {pace}, {kind}, {args.users} users for {args.seconds} s")
    port = free_port()
    cmd = [str(BIN / "geo-app"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--dev"] if kind == "dev" else ["--workers", str(args.workers)]
    log_path = out / f"{pace}-{kind}-server.log"
    with log_path.open("w") as log:
        # the server and locust each in a session of their own: with Linux's autogroup the
        # CPU is shared between sessions, and gunicorn's many threads would starve locust
        server = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base = f"http://127.0.0.1:{port}"
            try:
                wait_ready(base, server)
            except RuntimeError:
                say(log_path.read_text(errors="replace")[-3000:])
                raise
            prefix = out / f"{pace}-{kind}"
            locust_env = dict(
                env,
                LOAD_PASSWORD=PASSWORD,
                LOAD_CODES=",".join(codes),
                LOAD_ALL_CODES=",".join(all_codes),
                LOAD_WAIT="0" if pace == "capacity" else "1",
            )
            login_file = out / f"{pace}-{kind}-logins.txt"
            locust_env = dict(
                locust_env,
                LOAD_USERS=str(args.users),
                LOAD_LOGIN_FILE=str(login_file),
                # capacity is measured once everybody is in, without the burst of logins
                LOAD_RESET_AFTER_LOGIN="1" if pace == "capacity" else "0",
            )
            locust_log = out / f"{pace}-{kind}-locust.log"
            with locust_log.open("w") as llog:
                locust = subprocess.Popen(
                    [
                        str(BIN / "locust"),
                        "-f",
                        str(ROOT / "scripts" / "locustfile.py"),
                        "--headless",
                        "-u",
                        str(args.users),
                        "-r",
                        str(args.users if pace == "capacity" else args.arrivals),
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
                    stdout=llog,
                    stderr=subprocess.STDOUT,
                    cwd=out,
                    start_new_session=True,
                )
                cpu = CpuWindow(server.pid, locust.pid)
                restarted, ticks = pace != "capacity", 0
                while locust.poll() is None:  # exit 1 when a request failed: the table says so
                    if not restarted and login_file.exists():
                        cpu = CpuWindow(server.pid, locust.pid)  # from the last login on
                        restarted = True
                    time.sleep(0.25)
                    ticks += 1
                    if ticks % 4 == 0:  # a look at /proc each second
                        cpu.sample()
            used = cpu.stop()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    logged = log_path.read_text(errors="replace")
    if "Traceback" in logged:
        say(f"load: the {kind} server logged a traceback:\n{logged[-3000:]}")
        if args.quick:
            raise SystemExit(1)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.is_file():
        say(locust_log.read_text(errors="replace")[-3000:])
        raise RuntimeError(f"locust wrote no statistics ({kind}, {pace})")
    with stats.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    failures_csv = Path(f"{prefix}_failures.csv")
    failures = []
    if failures_csv.is_file():
        with failures_csv.open(newline="") as fh:
            failures = list(csv.DictReader(fh))
    logins, failed_before = None, 0
    if login_file.exists():
        seconds, failed = login_file.read_text().split()
        logins, failed_before = float(seconds), int(failed)
    window = args.seconds
    if pace == "capacity" and logins is not None:
        window = max(args.seconds - logins, 1e-3)
    return {
        "rows": {(r["Type"], r["Name"]): r for r in rows},
        "cpu": used,
        "failures": failures,
        "logins": logins,
        # failures before the statistics started again (capacity) count too
        "failed_before": failed_before if pace == "capacity" else 0,
        "window": window,
    }


def _ms(value: str) -> str:
    try:
        ms = float(value or 0)
    except ValueError:  # "N/A": no request
        return "—"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _cores(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _agg(res: dict[str, Any]) -> dict[str, str]:
    return next(r for (_, name), r in res["rows"].items() if name == "Aggregated")


def failed(res: dict[str, Any]) -> int:
    """Return the failed requests of a run, those of the logins at capacity included."""
    return int(_agg(res)["Failure Count"]) + res["failed_before"]


def per_cpu(res: dict[str, Any]) -> str:
    """Return the requests answered per second of the server's CPU time."""
    cores = res["cpu"]["server"]
    return f"{rate(res) / cores:.0f}" if cores else "—"


def rate(res: dict[str, Any]) -> float:
    """Return requests per second over the time the statistics cover (locust's own figure
    spans only the first to the last request)."""
    return int(_agg(res)["Request Count"]) / res["window"]


def _seconds(value: float | None) -> str:
    return "not all" if value is None else f"{value:.1f} s"


def report(results: dict[str, dict[str, Any]], args, argv: list[str] | None) -> str:
    main_rows = []
    for pace, by_server in results.items():
        for i, (kind, res) in enumerate(by_server.items()):
            a = _agg(res)
            bold = "**" if kind == "gunicorn" else ""
            main_rows.append(
                [
                    PACES[pace] if i == 0 else "",
                    SERVERS[kind] + (" (**baseline**)" if kind == "dev" else ""),
                    _seconds(res["logins"]),
                    f"{int(a['Request Count']):,}",
                    f"{bold}{failed(res):,}{bold}",
                    f"{bold}{rate(res):.1f}{bold}",
                    _ms(a["50%"]),
                    _ms(a["95%"]),
                    _ms(a["99%"]),
                    " / ".join(_cores(res["cpu"][k]) for k in ("server", "locust", "busy"))
                    + " cores",
                ]
            )
    columns = [(pace, kind) for pace, by_server in results.items() for kind in by_server]
    per_request = []
    for method, name, what in ENDPOINTS:
        cells = []
        for pace, kind in columns:
            r = results[pace][kind]["rows"].get((method, name))
            counted = r and int(r["Request Count"])
            cells.append(f"{_ms(r['50%'])} / {_ms(r['95%'])}" if counted else "—")
        per_request.append([f"{what}: `{method} {name}`", *cells])
    notes = []
    for pace, by_server in results.items():
        g, d = by_server["gunicorn"], by_server["dev"]
        throughput = rate(g) / max(rate(d), 1e-9)
        p95 = float(_agg(d)["95%"]) / max(float(_agg(g)["95%"]), 1)
        tail = f"a p95 {times(p95)} lower" if p95 >= 1 else f"a p95 {times(1 / p95)} higher"
        if pace == "people":
            login = g["rows"].get(("POST", "/login")) or {}
            notes.append(
                f"At people's pace gunicorn serves {times(throughput)} the development "
                f"server's throughput, with {tail} (the load is about {rate(g):.0f} req/s: "
                "near 1× means both keep up). The slowest requests are the logins (argon2): "
                f"{_ms(login.get('50%', ''))} median, {_ms(login.get('95%', ''))} at p95 under "
                f"gunicorn, while {4 * args.workers} threads share {os.cpu_count()} cores with "
                "the arrivals before them; the other requests wait for a thread meanwhile."
            )
        else:
            edits = g["rows"].get(("POST", "/api/communes/<code>/status"))
            per_second = int(edits["Request Count"]) / g["window"] if edits else 0.0
            notes.append(
                f"At capacity gunicorn serves **{times(throughput)}** the development server's "
                f"throughput, with {tail}. Its edge is the cores: one Python process cannot use "
                f"more than one; here gunicorn's processes used {_cores(g['cpu']['server'])} "
                f"cores and the development server {_cores(d['cpu']['server'])}, while the "
                f"whole machine ({os.cpu_count()} cores) was busy {_cores(g['cpu']['busy'])} "
                f"and {_cores(d['cpu']['busy'])}. When other work holds the cores, the ratio "
                "falls toward 1×: read it with the CPU column. Per second of server CPU, "
                f"gunicorn answered {per_cpu(g)} requests and the development server "
                f"{per_cpu(d)}. A cost only gunicorn pays: each of its {args.workers} worker(s) "
                "keeps its own page and roll-up and makes them again after every change (about "
                f"{per_second:.1f} edits/s here), the development server once."
            )
    errors = sum(failed(res) for by in results.values() for res in by.values())
    what_failed = [
        f"{SERVERS[kind]} {WHEN[pace]}: {f['Occurrences']} × `{f['Method']} {f['Name']}` "
        f"({f['Error'][:120]})"
        for pace, by in results.items()
        for kind, res in by.items()
        for f in res["failures"]
    ]
    dropped = any(
        "RemoteDisconnected" in f["Error"] or "ConnectionReset" in f["Error"]
        for by in results.values()
        for res in by.values()
        for f in res["failures"]
    )
    notes.append(
        f"{errors:,} failed request{'' if errors == 1 else 's'} in all (a 409 would count: "
        "each user edits only its own unit, so none is expected)"
        + (": " + "; ".join(what_failed) + "." if what_failed else ".")
        + (
            " A connection closed under a request is gunicorn's keep-alive (2 s by default) "
            "ending just as locust reuses the connection after a pause of up to 2 s (browsers "
            "generally send a request again when a reused connection fails so; locust does "
            "not)."
            if dropped
            else ""
        )
    )
    return section(
        "Production serving (load)",
        f"Command: `{command('load.py', argv)}`. The run makes its own PostgreSQL schema on the "
        f"local server, loads the sample, creates {args.users} officers (each assigned one "
        "unit), then runs locust (`scripts/locustfile.py`) on loopback for "
        f"{args.seconds} s against `geo-app serve --workers {args.workers}` (gunicorn, 4 "
        "threads per worker) and then against `geo-app serve --dev` (Flask's threaded "
        "development server, the baseline), same data, same machine, at each pace. Every user "
        "logs in through the form (argon2) when it arrives (at people's pace "
        f"{args.arrivals:g} users a second, so all {args.users} within "
        f"{args.users / args.arrivals:.0f} s, as a shift's officers sign in; at capacity all at "
        "once), then opens the map page, "
        "the figures, unit records, and now and then edits its own unit "
        "(`POST /api/communes/<code>/status` with the CSRF token).",
        "At people's pace the figures cover the whole run, logins included. At capacity they "
        'start when the last user has logged in (the column "all logged in" gives when), so '
        "that they measure serving, not the burst of argon2 hashes: req/s = requests / the "
        "seconds the figures cover. CPU = CPU time over the same seconds, in cores, of the "
        "server's processes, of locust, and of the whole machine (they, PostgreSQL and any "
        "other work). The server and locust each run in a session of their own: Linux shares "
        "the CPU between sessions (autogroup), and in one session gunicorn's threads would "
        "starve the load generator.",
        table(
            [
                f"{args.users} users, {args.seconds} s",
                "server",
                "all logged in",
                "requests",
                "errors",
                "req/s",
                "p50",
                "p95",
                "p99",
                "CPU: server / locust / machine",
            ],
            main_rows,
        ),
        "Per request, p50 / p95:",
        table(
            ["request", *(f"{pace}: {SERVERS[kind]}" for pace, kind in columns)],
            per_request,
        ),
        "\n".join(f"- {n}" for n in notes),
    )


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--pace", choices=("people", "capacity", "both"), default="both")
    p.add_argument(
        "--arrivals",
        type=float,
        default=5.0,
        help="users arriving (and logging in) per second at people's pace (capacity: all at once)",
    )
    p.add_argument(
        "--keep", type=Path, default=None, help="copy the server logs and locust's files here"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.users, args.seconds, args.workers, args.pace = 3, 3, 1, "capacity"
    paces = ["people", "capacity"] if args.pace == "both" else [args.pace]
    schema = "load_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        print(f"load.py needs PostgreSQL at {PG_URL}: {exc.orig}", file=sys.stderr)
        return 1
    db_url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    results: dict[str, dict[str, Any]] = {}
    try:
        with temporary_folder() as out:
            values = settings(out, args.quick, DATABASE_URL=db_url)
            codes, all_codes = setup(db_url, values, args.users)
            env = dict(
                os.environ,
                GEO_APP_DATABASE_URL=db_url,
                GEO_APP_SECRET_KEY=BENCH_SECRET,
                GEO_APP_CACHE_DIR=str(values["CACHE_DIR"]),
                GEO_APP_JOBS_DB=str(values["JOBS_DB"]),
            )
            try:
                for pace in paces:
                    results[pace] = {
                        kind: run(kind, pace, env, args, codes, all_codes, out)
                        for kind in ("gunicorn", "dev")
                    }
            finally:
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    for f in out.glob("*-*.*"):
                        shutil.copy(f, args.keep / f.name)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    print(report(results, args, argv))
    runs = [res for by in results.values() for res in by.values()]
    if any(res["logins"] is None and int(_agg(res)["Request Count"]) == 0 for res in runs):
        print("load.py: a server answered no request", file=sys.stderr)
        return 1
    errors = sum(failed(res) for res in runs)
    if errors and args.quick:
        print(f"load.py: {errors} request(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
