"""The store on SQLite and PostgreSQL: writes, history, revision, conflicts, migrations."""

import datetime as dt

import pytest
import sqlalchemy as sa

from geo_app.core.records import Record
from geo_app.store import Change, Conflict


def rec(code, status, **kw):
    return Record(code=code, status=status, **kw)


def test_upgrade_is_idempotent_and_makes_the_tables(store):
    store.upgrade()
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"status_records", "status_history", "alembic_version"} <= names
    assert store.revision() == 0 and store.count() == 0


def test_apply_writes_records_and_one_history_entry_each(store):
    d = dt.date(2023, 5, 19)
    n = store.apply(
        [
            Change(rec("16522", "hotspot", problems=["ma túy"]), None, d, "listed"),
            Change(rec("16417", "in_progress", unit="Công an phường"), None, d),
        ],
        actor="tester",
        source="test",
    )
    assert n == 2
    assert store.count() == 2 and store.history_count() == 2
    rev = store.revision()
    got = store.record("2025", "16522")
    assert got.record.get("problems") == ["ma túy"] and got.version == 1
    assert got.updated_at is not None
    store.apply(
        [Change(rec("16522", "transformed"), got.record, d, "done", expected_version=1)],
        actor="tester",
        source="test",
    )
    assert store.revision() > rev
    hist = store.history("2025", "16522")
    assert [h["new_status"] for h in hist] == ["hotspot", "transformed"]
    assert hist[1]["old"]["problems"] == ["ma túy"] and hist[1]["actor"] == "tester"
    assert store.record("2025", "16522").version == 2


def test_a_stale_version_writes_nothing_at_all(store):
    d = dt.date(2023, 5, 19)
    store.apply([Change(rec("16522", "hotspot"), None, d)], actor="a", source="t")
    before = (store.history_count(), store.revision())
    old = store.record("2025", "16522").record
    with pytest.raises(Conflict):
        store.apply(
            [
                Change(rec("16417", "hotspot"), None, d),  # valid, but in the same transaction
                Change(rec("16522", "transformed"), old, d, expected_version=7),
            ],
            actor="a",
            source="t",
        )
    assert (store.history_count(), store.revision()) == before
    assert store.record("2025", "16417") is None
    assert store.record("2025", "16522").record.status == "hotspot"


def test_codes_are_kept_per_division(store):
    d = dt.date(2024, 1, 1)
    store.apply([Change(rec("16417", "hotspot", division="2024"), None, d)], actor="a", source="t")
    store.apply([Change(rec("16417", "transformed"), None, d)], actor="a", source="t")
    assert store.record("2024", "16417").record.status == "hotspot"
    assert store.record("2025", "16417").record.status == "transformed"
    assert set(store.records("2024")) == {"16417"}


def test_unavailable_database_is_a_clear_error(tmp_path):
    from geo_app.errors import StoreUnavailable
    from geo_app.store import Store

    s = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable, match="unavailable"):
        s.revision()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_never_upgraded_says_what_to_run(tmp_path, kind):
    from geo_app.errors import StoreUnavailable
    from geo_app.store import Store
    from tests.conftest import _pg_store

    if kind == "sqlite":
        s, cleanup = Store(f"sqlite:///{tmp_path / 'empty.sqlite3'}"), None
    else:
        s, admin, schema = _pg_store()
        cleanup = (admin, schema)
    try:
        with pytest.raises(StoreUnavailable, match="geo-app db upgrade"):
            s.revision()
    finally:
        s.dispose()
        if cleanup:
            admin, schema = cleanup
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
