"""Shared fixtures: paths to the data, settings, and stores on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from geo_app import accounts, config
from geo_app.core import programme as programmes
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.store import Store

#: The default programme, and its statuses as the tests name them.
HOTSPOT = programmes.get("hotspot")
STATUSES = HOTSPOT.statuses
BY_CODE = HOTSPOT.by_code
RECORD_STATUSES = HOTSPOT.record_statuses
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
THANH_HOA = SHARED / "boundaries" / "thanh-hoa-2025"
VIETNAM = SHARED / "boundaries" / "vietnam-2025"
DATA = Path(__file__).resolve().parent / "data"
SAMPLE = config.SAMPLE_STATUS_FILE
#: History entries (and so the data revision) after importing `SAMPLE`: one per row, and one
#: more for each of the 38 units not a hotspot (in progress, relapsed, transformed): they count
#: as listed (hotspot) from their designated_on (`geo_app.core.changes.plan_row`).
SAMPLE_EVENTS = 100
#: PostgreSQL server of the development and CI machines; each test gets its own schema.
PG_URL = os.environ.get("GEO_APP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


#: The instant every test starts at, unless it travels elsewhere: 10:00 in Vietnam, when the UTC
#: date and the Vietnamese date agree. The app's clock (`geo_app.clock`) moves on from there;
#: tests of the hours when the two dates differ travel there themselves (`travel`).
FROZEN = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
#: Today in Vietnam at `FROZEN`.
TODAY = dt.date(2026, 11, 30)


@pytest.fixture(autouse=True)
def frozen_clock():
    """Start every test at `FROZEN`, whatever the hour the suite runs at."""
    with time_machine.travel(FROZEN, tick=True) as traveller:
        yield traveller


@pytest.fixture(scope="session")
def thanh_hoa() -> Path:
    return THANH_HOA


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One display-geometry cache for the whole run (preparing takes about a second)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def display(cache_dir) -> boundaries.Display:
    return boundaries.prepare(THANH_HOA, cache_dir)


@pytest.fixture(scope="session")
def units() -> list[importer.UnitRef]:
    return importer.unit_refs(boundaries.load(THANH_HOA).units)


def _pg_store():
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL, pool_pre_ping=True)  # survives a server restart
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    store = Store(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
    return store, admin, schema


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """An empty, upgraded store: SQLite in a temporary folder, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        s.upgrade()
        yield s
        s.dispose()
        return
    s, admin, schema = _pg_store()
    try:
        s.upgrade()
        yield s
    finally:
        s.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    """An empty, upgraded SQLite store (for tests that need not run on both databases)."""
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    s.upgrade()
    yield s
    s.dispose()


@pytest.fixture
def settings(tmp_path, cache_dir, display) -> dict:
    """Settings of an app on the Thanh Hóa layer with an empty, upgraded SQLite store."""
    values = config.load(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
            "BOUNDARIES": str(THANH_HOA),
            "CACHE_DIR": str(cache_dir),
            "SECRET_KEY": "test-secret",
            "TILES": "none",
            "JOBS_IMMEDIATE": True,  # background jobs run inside the request: no worker here
        }
    )
    Store(values["DATABASE_URL"]).upgrade()
    return values


@pytest.fixture
def sample_settings(settings, units) -> dict:
    """Settings whose store holds the bundled sample data."""
    store = Store(settings["DATABASE_URL"])
    importer.run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    store.dispose()
    return settings


#: One account per role (password PASSWORD); the officer may change OFFICER_UNITS only.
PASSWORD = "correct horse battery"
USERS = {"admin": "admin", "chief": "commander", "officer": "officer", "staff": "staff"}
OFFICER_UNITS = ["14845", "16522"]
_HASH = None


def add_users(store: Store, division: str = "2025") -> None:
    """Create the test accounts of `USERS` in `store` (one hash made per run: argon2 is slow)."""
    global _HASH
    if _HASH is None:
        _HASH = accounts.hash_password(PASSWORD)
    for name, role in USERS.items():
        store.add_user(name, _HASH, role, actor="setup", source="test")
    store.set_assignments("officer", division, OFFICER_UNITS, actor="setup", source="test")


def login(client, username: str = "admin", password: str = PASSWORD, **kwargs):
    """Log `client` in through the login form (with its CSRF token); return the response."""
    import re

    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        **kwargs,
    )


def csrf_token(client) -> str:
    """Return the CSRF token of a logged-in client's session (as the page's script gets it)."""
    return client.get("/api/me").get_json()["csrf_token"]


@pytest.fixture
def app(sample_settings):
    from geo_app import create_app

    store = Store(sample_settings["DATABASE_URL"])
    add_users(store, sample_settings["DIVISION"])
    store.dispose()
    application = create_app({**sample_settings, "TESTING": True})
    yield application
    application.extensions["geo_app"].store.dispose()


@pytest.fixture
def anonymous(app):
    """A client that has not logged in."""
    return app.test_client()


def client_as(app, username: str):
    c = app.test_client()
    r = login(c, username)
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return c


@pytest.fixture
def client(app):
    """A client logged in as the administrator (every permission)."""
    return client_as(app, "admin")


#: A database of our own where the tests may create the PostGIS extension (never in `test`,
#: which other engineers' suites share); each test still gets its own schema in it.
POSTGIS_DB = "geoapp_postgis_test"


def _postgis_url() -> str | None:
    """Return the URL of `POSTGIS_DB`, made with the extension if need be; None when PostGIS
    is not installed on the server (Debian's postgresql-15-postgis-3: `make system-deps`)."""
    url = sa.engine.make_url(PG_URL)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            have = conn.exec_driver_sql(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).scalar()
            if not have:
                return None
            exists = conn.exec_driver_sql(
                f"SELECT 1 FROM pg_database WHERE datname = '{POSTGIS_DB}'"
            ).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{POSTGIS_DB}"')
    finally:
        admin.dispose()
    target = url.set(database=POSTGIS_DB)
    engine = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        engine.dispose()
    return target.render_as_string(hide_password=False)


def postgis_store():
    """Return (store, admin engine, schema) in a fresh schema of `POSTGIS_DB`, whose search path
    also reaches the extension (in `public`); skip when PostGIS is not installed."""
    base = _postgis_url()
    if base is None:
        pytest.skip("PostGIS is not installed on the PostgreSQL server (make system-deps)")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base, pool_pre_ping=True)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    return Store(f"{base}{sep}options=-csearch_path%3D{schema},public"), admin, schema


@pytest.fixture(params=["sqlite", "postgresql", "postgis"])
def geo_store(request, tmp_path):
    """An empty, upgraded store: SQLite, PostgreSQL without PostGIS, PostgreSQL with PostGIS."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        s.upgrade()
        yield s
        s.dispose()
        return
    s, admin, schema = _pg_store() if request.param == "postgresql" else postgis_store()
    try:
        s.upgrade()
        yield s
    finally:
        s.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
