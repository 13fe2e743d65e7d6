"""Background jobs: the API, the pack link's file, the command line and a real worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLE, THANH_HOA, client_as, csrf_token

from geo_app import config, jobs
from geo_app.cli import main
from geo_app.io import importer
from geo_app.store import Store


def _post(client, body):
    return client.post("/api/jobs", json=body, headers={"X-CSRFToken": csrf_token(client)})


def test_a_pack_job_is_made_once_followed_and_fetched(app, client):
    r = _post(client, {"kind": "pack", "params": {"area": ["16522"], "lang": "en"}})
    assert r.status_code == 200, r.get_json()  # the test app runs jobs at once (no worker)
    job = r.get_json()
    assert job["kind"] == "pack" and job["state"] == "done" and job["progress"] == 1.0
    assert r.headers["Location"] == f"/api/jobs/{job['id']}" == job["url"]
    assert job["result_name"].startswith("briefing-pack_16522_") and "key" not in job
    again = client.get(job["url"]).get_json()
    assert again["state"] == "done" and again["result_url"] == f"/api/jobs/{job['id']}/result"
    pdf = client.get(again["result_url"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="{job["result_name"]}"'
    # the same pack asked again: the same job, nothing rendered twice
    assert (
        _post(client, {"kind": "pack", "params": {"area": "16522", "lang": "en"}}).get_json()["id"]
        == job["id"]
    )
    # and the pack link of the Export menu sends the job's file as it is
    link = client.get("/export/pack.pdf?area=16522&lang=en")
    assert link.status_code == 200 and link.data == pdf.data
    listed = client.get("/api/jobs").get_json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_an_edit_makes_a_new_pack(app, client):
    first = _post(client, {"kind": "pack", "params": {"area": "16522"}}).get_json()
    unit = client.get("/api/communes/16522").get_json()
    r = client.post(
        "/api/communes/16522/status",
        json={
            "status": "relapsed" if unit["status"] != "relapsed" else "hotspot",
            "effective_on": "2026-11-30",
            "note": "test",
            "version": unit["record"]["version"],
        },
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert r.status_code == 200, r.get_json()
    second = _post(client, {"kind": "pack", "params": {"area": "16522"}}).get_json()
    assert second["id"] != first["id"] and second["state"] == "done"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"kind": "coffee"}, "kind must be one of pack, prepare, overlay"),
        ({"kind": "pack", "params": {"paper": "A9"}}, "paper"),
        ({"kind": "pack", "params": {"as_of": "2099-01-01"}}, "in the future"),
        ({"kind": "pack", "params": {"as_of": "31/12/2025"}}, "YYYY-MM-DD"),
        ({"kind": "overlay", "params": {}}, "old"),
        ({"kind": "overlay", "params": {"old": "2024", "min_share": "lots"}}, "min_share"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_bad_job_is_a_400_naming_what_is_wrong_and_queues_nothing(app, client, body, message):
    r = _post(client, body)
    assert r.status_code == 400 and message in r.get_json()["error"], r.get_json()
    assert app.extensions["geo_app"].store.jobs() == []


def test_roles_and_owners(app, client):
    officer = client_as(app, "officer")
    assert _post(officer, {"kind": "pack", "params": {}}).status_code == 403
    chief = client_as(app, "chief")
    assert _post(chief, {"kind": "prepare"}).status_code == 403
    job = _post(chief, {"kind": "pack", "params": {"area": "16522"}}).get_json()
    staff = client_as(app, "staff")
    assert staff.get(job["url"]).status_code == 404  # another user's job is not shown
    assert staff.get(job["url"] + "/result").status_code == 404
    assert client.get(job["url"]).status_code == 200  # the administrator sees every job
    assert client.get("/api/jobs/" + "f" * 32).get_json()["error"].startswith("no job")


def test_a_preparation_job_makes_the_map_of_a_set_never_prepared(settings, tmp_path):
    from conftest import add_users

    from geo_app import create_app

    app = create_app({**settings, "CACHE_DIR": str(tmp_path / "empty"), "TESTING": True})
    store = app.extensions["geo_app"].store
    add_users(store)
    admin = client_as(app, "admin")
    assert admin.get("/").status_code == 503  # nothing prepared: never done in a request
    job = _post(admin, {"kind": "prepare"}).get_json()
    assert job["state"] == "done" and "166 units ready for display" in job["message"]
    assert admin.get("/").status_code == 200
    store.dispose()


@pytest.fixture
def cli_env(tmp_path, monkeypatch, cache_dir, units):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env = {
        "GEO_APP_DATABASE_URL": url,
        "GEO_APP_BOUNDARIES": str(THANH_HOA),
        "GEO_APP_CACHE_DIR": str(cache_dir),
        "GEO_APP_JOBS_DB": str(tmp_path / "jobs.sqlite3"),
        "GEO_APP_SECRET_KEY": "test",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    store = Store(url)
    store.upgrade()
    importer.run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    store.dispose()
    return env


def test_a_worker_runs_what_the_command_line_queues(cli_env, tmp_path):
    runner = CliRunner()
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "geo_app.cli", "jobs", "worker"],
        env={**os.environ, **cli_env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        out = tmp_path / "out"
        out.mkdir()
        r = runner.invoke(
            main, ["jobs", "start", "pack", "--param", "area=16522", "--wait", "--out", str(out)]
        )
        assert r.exit_code == 0, r.output
        uid = r.output.splitlines()[0]
        assert (
            "pack: page 1 of 2" in r.output or "pack: page 2 of 2" in r.output or "done" in r.output
        )
        (pdf,) = out.iterdir()
        assert pdf.name.startswith("ho-so-dia-ban_16522_") and pdf.read_bytes().startswith(b"%PDF")
        shown = runner.invoke(main, ["jobs", "show", uid])
        assert shown.exit_code == 0 and "done" in shown.output and "100 %" in shown.output
        assert uid in runner.invoke(main, ["jobs", "list"]).output
        again = tmp_path / "again.pdf"
        assert runner.invoke(main, ["jobs", "fetch", uid, "--out", str(again)]).exit_code == 0
        assert again.read_bytes() == pdf.read_bytes()
        bad = runner.invoke(main, ["jobs", "start", "pack", "--param", "paper=A9"])
        assert bad.exit_code == 1 and "paper" in bad.output
        missing = runner.invoke(main, ["jobs", "show", "0" * 32])
        assert missing.exit_code == 1 and "no job" in missing.output
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


def test_a_job_runs_once(cli_env):
    store = Store(cli_env["GEO_APP_DATABASE_URL"])
    settings = {**config.load(), "JOBS_IMMEDIATE": True}
    queue = jobs.Queue(settings, store)
    job = queue.submit("prepare", {}, "test")
    assert job["state"] == "done"
    started = store.job(job["id"])["started_at"]
    time.sleep(0.01)
    jobs.run(store, settings, job["id"])  # delivered twice by the queue: not run again
    assert store.job(job["id"])["started_at"] == started
    store.dispose()


def test_a_job_lost_with_its_worker_is_made_again_after_an_hour(cli_env, frozen_clock):
    store = Store(cli_env["GEO_APP_DATABASE_URL"])
    settings = {**config.load(), "JOBS_IMMEDIATE": False}
    queue = jobs.Queue(settings, store)
    first = queue.submit("prepare", {}, "test")  # no worker: it waits
    assert first["state"] == "queued"
    assert queue.submit("prepare", {}, "test")["id"] == first["id"]  # not queued twice
    frozen_clock.shift(jobs.STALE_AFTER.total_seconds() + 60)
    again = queue.submit("prepare", {}, "test")
    assert again["id"] != first["id"]
    store.dispose()


def _job_workers(pid: int) -> list[int]:
    """Return the pids of the `jobs worker` processes started by process `pid`."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = []
    for child in children:
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"jobs worker" in cmd:
            out.append(int(child))
    return out


def _gone(pid: int, timeout: float = 20) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            return True
        if state == "Z":  # ended, not yet reaped by its parent
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("how", ["term", "kill"])
def test_the_job_worker_of_serve_ends_with_it(cli_env, tmp_path, how):
    import signal

    from tests.test_serve import _free_port, _wait

    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "geo_app.cli", "serve", "--dev", "--port", str(port)],
        env={**os.environ, **cli_env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(f"http://127.0.0.1:{port}", timeout=120)
        end = time.monotonic() + 20
        while not _job_workers(server.pid) and time.monotonic() < end:
            time.sleep(0.2)
        (worker,) = _job_workers(server.pid)
        server.send_signal(signal.SIGTERM if how == "term" else signal.SIGKILL)
        server.wait(timeout=30)
        assert _gone(worker), f"the job worker {worker} outlived `geo-app serve` ({how})"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
