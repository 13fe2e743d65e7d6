"""Two app servers, one database: two `geo-app serve` on different ports share one PostgreSQL
(a schema of the test's own) and one Redis (a key prefix of the test's own).

A boundary set uploaded on A is on B's map once prepared (by a job, on either server); an edit on
A shows on B's next request; a session made on A is valid on B; failed logins on A and B count
together; a pack started on A is fetched from B. Then a server started with an empty instance
folder, and without the boundary files, serves the same map from the database.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import subprocess
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import requests
from conftest import THANH_HOA, _pg_store

from geo_app import accounts, config
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.webmap import topology
from tests.test_serve import GEO_APP, _free_port, _wait

pytestmark = pytest.mark.slow
PASSWORD = "two-servers-password"
REDIS_URL = os.environ.get("GEO_APP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Server:
    """One `geo-app serve` process with its own instance folder."""

    def __init__(self, name: str, env: dict[str, str], folder: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.env = dict(
            env,
            GEO_APP_CACHE_DIR=str(folder / "cache"),
            GEO_APP_UPLOAD_DIR=str(folder / "uploads"),
            GEO_APP_BOUNDARY_DIR=str(folder / "boundaries"),
            GEO_APP_JOBS_DB=str(folder / "jobs.sqlite3"),
        )
        self.folder = folder
        self.log = (folder.parent / f"{name}.log").open("w")
        self.proc = subprocess.Popen(
            [GEO_APP, "serve", "--port", str(self.port), "--workers", "2"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait(self) -> Server:
        try:
            _wait(self.base, timeout=120)
        except RuntimeError:
            self.stop()
            raise RuntimeError(Path(self.log.name).read_text()[-3000:]) from None
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    return found.group(1)


def login(base: str, username: str = "admin", password: str = PASSWORD) -> requests.Response:
    s = requests.Session()
    page = s.get(base + "/login", timeout=10)
    r = s.post(
        base + "/login",
        data={"username": username, "password": password, "csrf_token": _token(page.text)},
        timeout=30,
        allow_redirects=False,
    )
    r.session = s  # type: ignore[attr-defined]
    return r


def session_on(base: str) -> requests.Session:
    r = login(base)
    assert r.status_code == 302, r.text[:300]
    return r.session  # type: ignore[attr-defined]


def _map_data(base: str, s: requests.Session) -> tuple[str, dict]:
    page = s.get(base + "/", timeout=30).text
    url = re.search(r'<link rel="preload" href="([^"]+)"', page).group(1)
    r = s.get(base + url, timeout=30)
    assert r.status_code == 200
    return url, json.loads(r.content)


def _today(page: str) -> str:
    config_json = re.search(
        r'<script id="geoapp-config" type="application/json">(.*?)</script>', page, re.S
    )
    return json.loads(config_json.group(1))["today"]


def _renamed_zip(tmp_path: Path) -> bytes:
    """The province's units with Phường Quảng Phú renamed: a corrected boundary set."""
    units = boundaries.load(THANH_HOA).units
    units.loc[units["code"] == "16522", "name"] = "Quảng Phú Mới"
    folder = tmp_path / "corrected"
    folder.mkdir()
    units.to_file(folder / "ranh_gioi.shp", engine="fiona", encoding="utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, p.name)
    return out.getvalue()


@pytest.fixture
def two_servers(tmp_path, units):
    store, admin, schema = _pg_store()
    prefix = "geo-app-test-" + uuid.uuid4().hex[:12]
    servers: list[Server] = []
    try:
        store.upgrade()
        sample = config.SAMPLE_STATUS_FILE
        importer.run_import(store, sample.read_bytes(), sample.name, units)
        store.add_user("admin", accounts.hash_password(PASSWORD), "admin", "test", "test")
        store.add_user("victim", accounts.hash_password(PASSWORD), "commander", "test", "test")
        env = dict(
            os.environ,
            GEO_APP_DATABASE_URL=store.url,
            GEO_APP_BOUNDARIES=str(THANH_HOA),
            GEO_APP_SECRET_KEY="two-servers-" + prefix,
            GEO_APP_REDIS_URL=REDIS_URL,
            GEO_APP_REDIS_PREFIX=prefix,
        )
        a = Server("a", env, tmp_path / "a")
        servers.append(a)
        a.wait()  # A imports the configured set and prepares it: B reads it from the store
        b = Server("b", env, tmp_path / "b")
        servers.append(b)
        b.wait()
        yield a, b, store, env, servers
    finally:
        for s in servers:
            s.stop()
        store.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
        _drop_redis_keys(prefix)


def _drop_redis_keys(prefix: str) -> None:
    """Remove this test's keys only (never FLUSHDB: the Redis is shared)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_two_servers_share_one_database_and_one_queue(two_servers, tmp_path):
    a, b, store, env, servers = two_servers
    # nothing of either server is on the other's disk: the display came from the store
    assert not (b.folder / "cache").exists() or not any((b.folder / "cache").iterdir())

    # a session made on A is valid on B
    sa = session_on(a.base)
    sb = requests.Session()
    sb.cookies.update(sa.cookies)
    me = sb.get(b.base + "/api/me", timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "admin"

    # an edit on A shows on B's next request
    unit = sb.get(b.base + "/api/communes/16522", timeout=10).json()
    new = "relapsed" if unit["status"] != "relapsed" else "hotspot"
    token = sa.get(a.base + "/api/me", timeout=10).json()["csrf_token"]
    today = _today(sb.get(b.base + "/", timeout=30).text)  # the servers' clock, not the test's
    r = sa.post(
        a.base + "/api/communes/16522/status",
        json={
            "status": new,
            "effective_on": today,
            "note": "two servers",
            "version": unit["record"]["version"],
        },
        headers={"X-CSRFToken": token},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert sb.get(b.base + "/api/communes/16522", timeout=10).json()["own_status"] == new

    # failed logins on A and B count together (5 per account in 15 minutes)
    for base in (a.base, b.base, a.base, b.base, a.base):
        assert login(base, "victim", "wrong password!").status_code == 401
    assert login(b.base, "victim", PASSWORD).status_code == 429  # right password, too late

    # a pack started on A is followed and fetched from B
    job = sa.post(
        a.base + "/api/jobs",
        json={"kind": "pack", "params": {"area": ["16522"], "lang": "en"}},
        headers={"X-CSRFToken": token},
        timeout=30,
    )
    assert job.status_code in (200, 202), job.text
    url = job.json()["url"]
    end = time.monotonic() + 120
    while True:
        seen = sb.get(b.base + url, timeout=10).json()
        if seen["state"] in ("done", "failed") or time.monotonic() > end:
            break
        time.sleep(0.5)
    assert seen["state"] == "done", seen
    pdf = sb.get(b.base + seen["result_url"], timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    link = sb.get(b.base + "/export/pack.pdf?area=16522&lang=en", timeout=60)
    assert link.content == pdf.content  # the pack link on B sends A's job's file

    # a boundary set uploaded on A is on B's map once prepared (a job; no request waits)
    before_url, _ = _map_data(b.base, sb)
    page = sa.get(a.base + "/admin/boundaries?lang=en", timeout=10).text
    form = {
        "name": "2025",
        "valid_from": "2025-07-01",
        "valid_to": "",
        "source": "corrected layer",
        "replace": "1",
        "csrf_token": _token(page),
    }
    files = {"file": ("ranh-gioi.zip", _renamed_zip(tmp_path), "application/zip")}
    report = sa.post(a.base + "/admin/boundaries?lang=en", data=form, files=files, timeout=60)
    assert report.status_code == 200, report.text[:2000]
    accept = re.search(r'<form[^>]*id="accept-form".*?</form>', report.text, re.S).group(0)
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', accept)
    fields = {k: html.unescape(v) for k, v in found}
    done = sa.post(
        a.base + "/admin/boundaries/accept?lang=en", data=fields, timeout=60, allow_redirects=False
    )
    assert done.status_code == 303, done.text[:2000]
    end = time.monotonic() + 120
    while True:
        url, topo = _map_data(b.base, sb)
        if url != before_url or time.monotonic() > end:
            break
        time.sleep(0.5)
    assert url != before_url, "B still shows the old boundary set"
    names = {f["properties"]["code"]: f["properties"]["name"] for f in topology.decode(topo)}
    assert names["16522"] == "Quảng Phú Mới"
    assert sb.get(b.base + "/api/communes/16522", timeout=10).json()["name"] == "Quảng Phú Mới"

    # a restart with an empty instance folder and no boundary files: the same map, from the
    # database alone
    for s in servers:
        s.stop()
    servers.clear()
    c = Server(
        "c", dict(env, GEO_APP_BOUNDARIES=str(tmp_path / "no-such-layer")), tmp_path / "empty"
    )
    servers.append(c)
    c.wait()
    sc = session_on(c.base)
    assert _map_data(c.base, sc) == (url, topo)
    assert sc.get(c.base + "/api/communes/16522", timeout=10).json()["own_status"] == new
    leftovers = [p for p in c.folder.rglob("*") if p.is_file() and "jobs.sqlite3" not in p.name]
    assert leftovers == [], leftovers  # nothing written to the instance folder
