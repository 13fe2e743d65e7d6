"""The app as deployed: gunicorn with several workers on PostgreSQL, on loopback.

A change made through one worker shows on the next page of any other; a PostgreSQL outage
gives clear 503s, the app recovers by itself, and no record is lost or doubled.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from geo_app import accounts, config
from geo_app.io import importer
from geo_app.store import Store
from tests import pgcluster
from tests.conftest import THANH_HOA, TODAY, _pg_store
from tests.pgcluster import ThrowawayCluster

pytestmark = pytest.mark.slow
PASSWORD = "serve-test-password"
GEO_APP = str(Path(sys.executable).parent / "geo-app")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, session: requests.Session | None = None, **kw) -> requests.Response:
    """A request on a new connection, so the kernel may hand it to any worker."""
    return (session or requests).get(url, headers={"Connection": "close"}, timeout=10, **kw)


def _wait(base: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not start")


def login(base: str) -> requests.Session:
    s = requests.Session()
    page = s.get(base + "/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    token = token or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page.text)
    r = s.post(
        base + "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token.group(1)},
        timeout=10,
    )
    assert r.status_code == 200 and "/login" not in r.url, r.text[:300]
    return s


def _serve(store, cache_dir, units, tmp_path):
    """Load the sample and an admin into `store`, start `geo-app serve` on it; yield (base, env)."""
    store.upgrade()
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(store, sample.read_bytes(), sample.name, units)
    store.add_user("admin", accounts.hash_password(PASSWORD), "admin", "test", "test")
    port = _free_port()
    env = dict(
        os.environ,
        GEO_APP_DATABASE_URL=store.url,
        GEO_APP_BOUNDARIES=str(THANH_HOA),
        GEO_APP_CACHE_DIR=str(cache_dir),
        GEO_APP_SECRET_KEY="serve-tests",
    )
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [GEO_APP, "serve", "--port", str(port), "--workers", "3"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base)
        yield base, env
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def served(cache_dir, display, units, tmp_path):
    """The app under gunicorn on the machine's PostgreSQL (a schema of its own)."""
    store, admin, schema = _pg_store()
    try:
        for base, env in _serve(store, cache_dir, units, tmp_path):
            yield base, store, env
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def cluster():
    """A PostgreSQL cluster of the test's own, which it may stop (`tests/pgcluster.py`)."""
    pg = ThrowawayCluster()
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


@pytest.fixture
def served_on_cluster(cluster, cache_dir, display, units, tmp_path):
    """The app under gunicorn on a throwaway PostgreSQL cluster; yields (base, store, cluster)."""
    store = Store(cluster.url)
    try:
        for base, _env in _serve(store, cache_dir, units, tmp_path):
            yield base, store, cluster
    finally:
        store.dispose()


def test_a_change_through_one_worker_shows_on_every_worker(served, tmp_path):
    base, store, env = served
    session = login(base)
    before = [_get(base + "/api/summary", session).json() for _ in range(9)]
    assert {b["counts"]["hotspot"] for b in before} == {24}
    for _ in range(6):  # every worker renders and caches the page at this revision
        assert "Trọng điểm" in _get(base + "/", session).text
    # another process changes the data (an import from the command line)
    changed = tmp_path / "change.csv"
    codes = [c for c, r in store.records("2025").items() if r.record.status == "in_progress"]
    changed.write_text("code,status\n" + "".join(f"{c},hotspot\n" for c in codes[:3]))
    r = subprocess.run(
        [GEO_APP, "status", "import", str(changed)], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    after = [_get(base + "/api/summary", session).json() for _ in range(12)]
    assert {a["counts"]["hotspot"] for a in after} == {27}
    pages = [_get(base + "/", session).text for _ in range(12)]
    assert all('data-figure="hotspot"' in p for p in pages)
    values = {
        re.search(r'data-figure="hotspot".*?figure-value">(\d+)<', p, re.S).group(1) for p in pages
    }
    assert values == {"27"}


def _figures(base: str, session: requests.Session, n: int = 12) -> set[tuple[int, int]]:
    """Return the (hotspot, transformed) counts the workers give over `n` new connections."""
    out = set()
    for _ in range(n):
        counts = _get(base + "/api/summary", session).json()["counts"]
        out.add((counts["hotspot"], counts["transformed"]))
    return out


def test_a_restore_under_a_running_server_shows_on_the_next_request(served, tmp_path, units):
    """`db restore` moves the data revision forward: no worker serves the discarded timeline,
    even when the backup's own revision number is the one the workers have cached."""
    base, store, env = served
    session = login(base)
    in_progress = sorted(
        c for c, r in store.records("2025").items() if r.record.status == "in_progress"
    )
    # the served timeline: three units turn hotspot (the revision goes from 100 to 103)
    change = tmp_path / "change.csv"
    change.write_text("code,status\n" + "".join(f"{c},hotspot\n" for c in in_progress[:3]))
    r = subprocess.run([GEO_APP, "status", "import", str(change)], env=env, capture_output=True)
    assert r.returncode == 0, r.stderr
    served_now = _figures(base, session)
    assert served_now == {(27, 12)}
    for _ in range(6):  # every worker caches its page and figures at this revision
        _get(base + "/", session)
    # the backup: another copy of the data (yesterday's, another machine's) at revision 103 too
    other = Store(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    other.upgrade()
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(other, sample.read_bytes(), sample.name, units)
    other.add_user("admin", accounts.hash_password(PASSWORD), "admin", "test", "test")
    done = "code,status\n" + "".join(f"{c},transformed\n" for c in in_progress[:3])
    importer.run_import(other, done.encode(), "done.csv", units)
    assert other.revision() == store.revision()
    backup = tmp_path / "backup.json"
    backup.write_text(json.dumps(other.backup()), encoding="utf-8")
    other.dispose()
    r = subprocess.run(
        [GEO_APP, "db", "restore", str(backup), "--yes"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    # the next request, on whichever worker, shows the restored data
    assert _figures(base, session) == {(24, 15)}
    pages = [_get(base + "/", session).text for _ in range(9)]
    values = {
        re.search(r'data-figure="transformed".*?figure-value">(\d+)<', p, re.S).group(1)
        for p in pages
    }
    assert values == {"15"}
    # and it goes on from there: a change after the restore shows at once too
    again = tmp_path / "again.csv"
    again.write_text(f"code,status\n{in_progress[3]},hotspot\n")
    r = subprocess.run([GEO_APP, "status", "import", str(again)], env=env, capture_output=True)
    assert r.returncode == 0, r.stderr
    assert _figures(base, session) == {(25, 15)}


NEEDS_POSTGRES_BINARIES = pytest.mark.skipif(
    pgcluster.binaries() is None, reason="needs PostgreSQL's server binaries (initdb, pg_ctl)"
)


@NEEDS_POSTGRES_BINARIES
def test_a_database_outage_under_load_gives_503_and_loses_nothing(served_on_cluster):
    """Readers and editors keep going while PostgreSQL stops and starts again."""
    base, store, cluster = served_on_cluster
    session = login(base)
    token = _get(base + "/api/me", session).json()["csrf_token"]
    n_history = store.history_count()
    editable = [c for c, r in store.records("2025").items() if r.record.status == "hotspot"][:4]
    stop = threading.Event()
    seen: list[tuple[str, int]] = []
    accepted: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            for url in ("/api/summary", "/", "/api/communes/16522"):
                try:
                    seen.append((url, _get(base + url, session).status_code))
                except requests.RequestException:
                    seen.append((url, -1))

    def editor(code: str) -> None:
        flip = {"hotspot": "in_progress", "in_progress": "hotspot"}
        while not stop.is_set():
            try:
                rec = _get(f"{base}/api/communes/{code}", session)
                if rec.status_code != 200:
                    seen.append(("edit-read", rec.status_code))
                    time.sleep(0.2)
                    continue
                current = rec.json()["record"]
                note = f"outage test {code} #{len(seen)}"
                r = session.post(
                    f"{base}/api/communes/{code}/status",
                    timeout=10,
                    headers={"X-CSRFToken": token, "Connection": "close"},
                    json={
                        "status": flip[current["status"]],
                        "effective_on": TODAY.isoformat(),
                        "note": note,
                        "version": current["version"],
                    },
                )
                seen.append(("edit", r.status_code))
                if r.status_code == 200:
                    accepted.append(note)
            except requests.RequestException:
                seen.append(("edit", -1))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads += [threading.Thread(target=editor, args=(c,)) for c in editable]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        store.dispose()
        cluster.stop()
        time.sleep(3)
        during = len(seen)
    finally:
        cluster.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the pool notices the new server by itself
        if _get(base + "/api/summary", session).status_code == 200:
            break
        time.sleep(0.5)
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    codes = [c for _, c in seen]
    assert 503 in codes, "some requests must have met the outage"
    assert set(codes) <= {200, 503}, sorted(set(codes))  # never a 500, a hang or a 409
    assert any(c == 200 for _, c in seen[during:]), "the app recovered without a restart"
    page = _get(base + "/api/summary", session)
    assert page.status_code == 200
    # Nothing lost: every edit the app accepted is in the history. Nothing doubled: no edit is
    # there twice, and each record's version counts its history. (An edit whose commit went
    # through just before the outage cut its answer may be there with a 503: the version check
    # then refuses a retry, so it is never applied twice.)
    notes = [h["note"] for c in editable for h in store.history("2025", c)[1:]]
    assert len(notes) == len(set(notes))
    assert set(accepted) <= set(notes)
    assert len(notes) - len(accepted) <= sum(1 for k, c in seen if k == "edit" and c == 503)
    assert store.history_count() == n_history + len(notes)
    for code in editable:
        assert store.record("2025", code).version == len(store.history("2025", code))


@NEEDS_POSTGRES_BINARIES
def test_a_database_outage_gives_clear_503_pages_and_json(served_on_cluster):
    base, store, cluster = served_on_cluster
    session = login(base)
    before = _get(base + "/api/summary", session).json()
    n_records, n_history = store.count(), store.history_count()
    store.dispose()
    cluster.stop()
    try:
        r = _get(base + "/api/summary", session)
        assert r.status_code == 503
        assert "unavailable" in r.json()["error"]
        page = _get(base + "/", session)
        assert page.status_code == 503 and "Traceback" not in page.text
        assert page.headers["Content-Type"].startswith("text/html")
        me = _get(base + "/api/me", session).json()  # the token, while the session lasts
        edit = session.post(
            base + "/api/communes/16522/status",
            timeout=10,
            headers={"X-CSRFToken": me.get("csrf_token", ""), "Connection": "close"},
            json={
                "status": "hotspot",
                "effective_on": "2026-01-01",
                "note": "during the outage",
                "version": 1,
            },
        )
        assert edit.status_code in (400, 503)
    finally:
        cluster.start()
    deadline = time.monotonic() + 30
    while True:  # the pool notices the new server by itself (pre-ping): no app restart
        r = _get(base + "/api/summary", session)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r.status_code == 200
    assert r.json()["counts"] == before["counts"]
    assert (store.count(), store.history_count()) == (n_records, n_history)
