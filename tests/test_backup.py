"""Backup and restore round-trip on SQLite and PostgreSQL."""

import json

import pytest
from click.testing import CliRunner

from geo_app import accounts
from geo_app.cli import main
from geo_app.errors import GeoAppError
from geo_app.io.importer import run_import
from tests.conftest import SAMPLE, SAMPLE_EVENTS


def everything(store):
    b = store.backup()
    b.pop("made_at")
    return b


def test_backup_then_restore_gives_back_every_table(store, units):
    run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    run_import(store, b"code,status\n16522,hotspot\n", "relapse.csv", units)
    store.add_user("admin", accounts.hash_password("a long password"), "admin", "cli", "cli")
    saved = everything(store)
    assert len(saved["tables"]["status_records"]) == 62
    assert len(saved["tables"]["status_history"]) == SAMPLE_EVENTS + 1
    assert store.revision() == SAMPLE_EVENTS + 1
    run_import(store, b"code,status\n16417,hotspot\n15187,hotspot\n", "later.csv", units)
    assert everything(store) != saved
    discarded = store.revision()
    assert discarded == SAMPLE_EVENTS + 3
    counts = store.restore(json.loads(json.dumps(saved)))
    assert counts["status_records"] == 62
    assert everything(store) == saved
    # the revision moves forward, past every revision served before: never reused
    assert store.revision() == discarded + 1
    # ids keep counting after a restore, and so does the revision
    run_import(store, b"code,status\n16417,hotspot\n", "after.csv", units)
    assert store.history_count() == SAMPLE_EVENTS + 2
    assert max(h["id"] for h in store.history("2025", "16417")) == SAMPLE_EVENTS + 2
    assert store.revision() == discarded + 2


def test_a_bad_backup_changes_nothing(store, units):
    run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    before = everything(store)
    with pytest.raises(GeoAppError, match="not a geo-app backup"):
        store.restore({"tables": {}})
    bad = everything(store)
    bad["schema_revision"] = "0000"
    with pytest.raises(GeoAppError, match="schema revision"):
        store.restore(bad)
    broken = everything(store)
    broken["tables"]["status_history"][0]["effective_on"] = "not a date"
    with pytest.raises(GeoAppError, match="damaged"):
        store.restore(broken)
    assert everything(store) == before


def test_backup_and_restore_commands(tmp_path, monkeypatch, thanh_hoa):
    monkeypatch.setenv("GEO_APP_DATABASE_URL", f"sqlite:///{tmp_path / 'b.sqlite3'}")
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(thanh_hoa))
    run = CliRunner().invoke
    assert run(main, ["db", "upgrade"]).exit_code == 0
    assert run(main, ["status", "import", str(SAMPLE)]).exit_code == 0
    out = tmp_path / "backup.json.gz"
    r = run(main, ["db", "backup", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert run(main, ["status", "import", str(tmp_path / "nope.csv")]).exit_code == 1
    edit = tmp_path / "edit.csv"
    edit.write_text("code,status\n16522,hotspot\n", encoding="utf-8")
    assert run(main, ["status", "import", str(edit)]).exit_code == 0
    r = run(main, ["db", "restore", str(out), "--yes"])
    assert r.exit_code == 0 and "62 status_records" in r.output
    csv_out = tmp_path / "e.csv"
    run(main, ["status", "export", "--out", str(csv_out)])
    assert "16522,Quảng Phú,Phường,transformed" in csv_out.read_text(encoding="utf-8-sig")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    r = run(main, ["db", "restore", str(junk), "--yes"])
    assert r.exit_code == 1 and "not a geo-app backup" in r.output
