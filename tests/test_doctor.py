"""`geo-app doctor`: versions, settings with secrets hidden, database reach, services and file
permissions (issue 12)."""

from __future__ import annotations

import os
import pyexpat
import socket

import pytest
from click.testing import CliRunner
from conftest import THANH_HOA

from geo_app import config
from geo_app.cli import doctor
from geo_app.cli import main as cli_main
from geo_app.store import Store


@pytest.fixture
def env(monkeypatch, settings, tmp_path):
    """The environment of an installation on the test's SQLite store, instance/ in tmp_path."""
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    monkeypatch.setenv("GEO_APP_DATABASE_URL", settings["DATABASE_URL"])
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", settings["CACHE_DIR"])
    monkeypatch.setenv("GEO_APP_SECRET_KEY", "do-not-print-this-key")
    return settings


def _run(*args):
    r = CliRunner().invoke(cli_main, ["doctor", *args])
    assert "Traceback" not in r.output
    return r


def test_a_working_installation(env):
    r = _run()
    assert r.exit_code == 0, r.output
    out = r.output
    for text in ("Python 3.", "GDAL ", "PROJ ", "GEOS ", "Flask ", "SQLAlchemy ", "openpyxl "):
        assert text in out
    assert f"expat {'.'.join(map(str, pyexpat.version_info))}" in out
    head = Store(env["DATABASE_URL"]).head_revision()
    assert f"reached, schema {head} (current)" in out
    assert "display geometry prepared: 166 units" in out
    assert "GEO_APP_SESSION_IDLE_HOURS = 8.0" in out
    assert "do-not-print-this-key" not in out and "GEO_APP_SECRET_KEY = (set, hidden)" in out
    assert out.rstrip().endswith("this installation works")


def test_an_old_expat_is_named_with_its_cve(env, monkeypatch):
    monkeypatch.setattr(pyexpat, "version_info", (2, 5, 0))
    level, text = doctor.expat_line()
    assert level == "warn" and "older than 2.7" in text and "CVE-2024-8176" in text
    assert "CVE-2024-8176" in _run().output
    monkeypatch.setattr(pyexpat, "version_info", (2, 7, 1))
    assert doctor.expat_line() == ("ok", "expat 2.7.1")


def test_a_database_password_is_hidden(env, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(
        "GEO_APP_DATABASE_URL", f"postgresql+psycopg://geo:s3cret-pw@127.0.0.1:{port}/geo"
    )
    r = _run()
    assert r.exit_code == 1
    assert "s3cret-pw" not in r.output and "geo:***@127.0.0.1" in r.output
    assert "FAIL  the status database is unavailable" in r.output
    assert "Connection refused" in r.output
    assert "1 problem(s)" in r.output


def test_a_database_without_schema_and_an_unprepared_set_fail(env, monkeypatch, tmp_path):
    monkeypatch.setenv("GEO_APP_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    monkeypatch.setenv("GEO_APP_CACHE_DIR", str(tmp_path / "nothing-prepared"))
    r = _run()
    assert r.exit_code == 1
    assert "has no schema; run `geo-app db upgrade`" in r.output
    assert "geo-app boundaries prepare" in r.output


def test_readable_files_are_reported(env, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    os.chmod(instance, 0o755)
    (instance / "secret_key").write_text("x")
    os.chmod(instance / "secret_key", 0o644)
    (instance / "first_admin_password").write_text("x")
    db = env["DATABASE_URL"].removeprefix("sqlite:///")
    os.chmod(db, 0o644)
    r = _run()
    out = r.output
    assert f"folder {instance} is 0755: other users of the machine can read it; chmod 700" in out
    assert f"database {db} is 0644" in out and f"chmod 600 {db}" in out
    assert "secret key" in out and "first_admin_password still exists" in out
    assert r.exit_code == 0  # warnings only
