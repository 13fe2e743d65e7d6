"""Shared fixtures: paths to the data, settings, and stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from geo_app import boundaries, config, importer
from geo_app.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
THANH_HOA = SHARED / "boundaries" / "thanh-hoa-2025"
VIETNAM = SHARED / "boundaries" / "vietnam-2025"
DATA = Path(__file__).resolve().parent / "data"
SAMPLE = config.SAMPLE_STATUS_FILE
#: PostgreSQL server of the development and CI machines; each test gets its own schema.
PG_URL = os.environ.get("GEO_APP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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
    admin = sa.create_engine(PG_URL)
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


@pytest.fixture
def app(sample_settings):
    from geo_app import create_app

    application = create_app({**sample_settings, "TESTING": True})
    yield application
    application.extensions["geo_app"].store.dispose()


@pytest.fixture
def client(app):
    return app.test_client()
