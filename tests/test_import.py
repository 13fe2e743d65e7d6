"""Import of status files: every row lands on the right unit or is reported; all or nothing."""

import datetime as dt
import json
import unicodedata

import openpyxl
import pytest
from click.testing import CliRunner

from geo_app.cli import main
from geo_app.errors import ImportFailed
from geo_app.io import importer
from geo_app.io.importer import UnitRef, run_import
from geo_app.outputs import records
from tests.conftest import SAMPLE, THANH_HOA

HEADER = "code,name,kind,status,designated_on,target_on,transformed_on,unit,problems,notes\n"


def csv_bytes(body: str, header: str = HEADER, bom: bool = False) -> bytes:
    data = (header + body).encode("utf-8")
    return b"\xef\xbb\xbf" + data if bom else data


def snapshot(store):
    return (
        {c: r.to_dict() for c, r in store.records("2025").items()},
        store.history_count(),
        store.revision(),
    )


def problems_of(exc: ImportFailed):
    return [(p["row"], p["column"], p["value"], p["reason"]) for p in exc.details]


# -- the sample and idempotence -----------------------------------------------------------
def test_sample_imports_then_reimport_changes_nothing(store, units):
    first = run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    assert (first.created, first.updated, first.unchanged) == (62, 0, 0)
    assert first.sample is True
    records = store.records("2025")
    for code in ("16522", "16417", "16438", "15187"):  # DESIGN.md's four units
        assert records[code].record.status == "transformed"
        assert records[code].sample is True
    assert {r.record.status for r in records.values()} == {
        "hotspot",
        "in_progress",
        "transformed",
        "relapsed",
    }
    before = snapshot(store)
    again = run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 62)
    assert snapshot(store) == before


def test_update_is_recorded_in_history_old_to_new(store, units):
    run_import(
        store,
        csv_bytes("16522,,,hotspot,01/02/2023,,,,ma túy,\n"),
        "a.csv",
        units,
        actor="staff",
        today=dt.date(2023, 3, 1),
    )
    result = run_import(
        store,
        csv_bytes("16522,,,transformed,01/02/2023,,16/03/2023,,ma túy,ok\n"),
        "b.csv",
        units,
        actor="staff",
    )
    assert (result.created, result.updated) == (0, 1)
    stored = store.record("2025", "16522")
    assert stored.version == 2
    assert stored.record.get("transformed_on") == dt.date(2023, 3, 16)
    hist = store.history("2025", "16522")
    assert [(h["old_status"], h["new_status"]) for h in hist] == [
        (None, "hotspot"),
        ("hotspot", "transformed"),
    ]
    assert hist[0]["effective_on"] == "2023-02-01"  # a hotspot takes effect when designated
    assert hist[1]["effective_on"] == "2023-03-16"  # transformed when recognised
    assert hist[1]["source"] == "import:b.csv"
    assert hist[1]["old"]["status"] == "hotspot" and hist[1]["new"]["notes"] == "ok"


# -- what must be accepted ----------------------------------------------------------------
def test_bom_nfd_names_tone_placement_vn_dates_and_labels_are_accepted(store, units):
    nfd = unicodedata.normalize("NFD", "Quảng Phú")
    body = (
        f",{nfd},Phường,Đã chuyển hóa,15/12/2022,30/06/2023,16/03/2023,CA phường,,\n"
        ",Xuân Hoà,xã,Trọng điểm phức tạp,2023-01-05,,,,,\n"  # file says Hoà, layer says Hòa
        ",Phường Đông Tiến,,đang chuyển hoá,5/1/2023,,,,,\n"  # kind as a prefix of the name
        "15187,,,relapsed,,,,,,\n"
    )
    result = run_import(store, csv_bytes(body, bom=True), "vn.csv", units)
    assert result.created == 4
    recs = {c: r.record for c, r in store.records("2025").items()}
    assert recs["16522"].status == "transformed"
    assert recs["16522"].get("designated_on") == dt.date(2022, 12, 15)
    xuan_hoa = next(u.code for u in units if u.name == "Xuân Hòa")
    assert recs[xuan_hoa].status == "hotspot"
    dong_tien = next(u.code for u in units if u.name == "Đông Tiến" and u.kind == "Phường")
    assert recs[dong_tien].status == "in_progress"
    assert recs[dong_tien].get("designated_on") == dt.date(2023, 1, 5)
    assert recs["15187"].status == "relapsed"


def test_vietnamese_headers_and_semicolons_are_accepted(store, units):
    data = (
        "Mã;Tên;Loại;Trạng thái;Ngày đưa vào diện;Ghi chú;STT\n"
        "16417;Đông Quang;Phường;Đã chuyển hóa;20/03/2023;xong;1\n"
    ).encode()
    result = run_import(store, data, "vi.csv", units)
    assert result.created == 1
    assert any("STT" in w for w in result.warnings)
    assert store.record("2025", "16417").record.get("notes") == "xong"


def test_xlsx_with_date_cells_and_numeric_codes(store, units, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["code", "status", "designated_on", "problems"])
    ws.append([16438, "transformed", dt.datetime(2022, 12, 15), "ma túy; cờ bạc"])
    ws.append([15187, "in_progress", "01/03/2023", None])
    path = tmp_path / "s.xlsx"
    wb.save(path)
    result = run_import(store, path.read_bytes(), path.name, units)
    assert result.created == 2
    rec = store.record("2025", "16438").record
    assert rec.get("designated_on") == dt.date(2022, 12, 15)
    assert rec.get("problems") == ["ma túy", "cờ bạc"]


# -- what must be refused, with nothing written --------------------------------------------
@pytest.mark.parametrize(
    "body, row, column, reason",
    [
        ("99999,,,hotspot,,,,,,\n", 3, "code", "no unit has this code"),
        ("16417,,,burning,,,,,,\n", 3, "status", "unknown status"),
        ("16417,,,hotspot,31/02/2023,,,,,\n", 3, "designated_on", "not a real date"),
        ("16417,,,hotspot,1 May 2023,,,,,\n", 3, "designated_on", "not a date"),
        ("16438,,,hotspot,,,,,,\n", 3, "code", "already given in row 2"),
        (",Đông Tiến,,hotspot,,,,,,\n", 3, "kind", "Phường Đông Tiến (15853)"),
        (",Quang Phu,Phường,hotspot,,,,,,\n", 3, "name", "no phường named"),
        ("16522,Đông Quang,,hotspot,,,,,,\n", 3, "name", "code 16522 is Phường Quảng Phú"),
        ("16417,,,,,,,,,\n", 3, "status", "the status is empty"),
    ],
    ids=[
        "unknown-code",
        "bad-status",
        "bad-date",
        "bad-date-form",
        "duplicate-row",
        "name-without-kind",
        "folded-name",
        "code-name-mismatch",
        "empty-status",
    ],
)
def test_bad_rows_are_reported_and_nothing_is_written(store, units, body, row, column, reason):
    run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    before = snapshot(store)
    data = csv_bytes("16438,,,hotspot,,,,,,\n" + body)  # a valid first row that would change
    with pytest.raises(ImportFailed) as info:
        run_import(store, data, "bad.csv", units)
    found = problems_of(info.value)
    assert any(r == row and c == column and reason in why for r, c, _, why in found), found
    assert "nothing was imported" in info.value.message
    assert snapshot(store) == before


def test_ambiguous_name_lists_the_candidates(store):
    units = [
        UnitRef("10001", "Tân Tiến", "Xã"),
        UnitRef("20002", "Tân Tiến", "Xã"),
        UnitRef("30003", "Tân Tiến", "Phường"),
    ]
    with pytest.raises(ImportFailed) as info:
        run_import(store, csv_bytes(",Tân Tiến,Xã,hotspot,,,,,,\n"), "amb.csv", units)
    (p,) = info.value.details
    assert p["row"] == 2 and p["column"] == "name"
    assert "ambiguous" in p["reason"]
    assert "Xã Tân Tiến (10001)" in p["reason"] and "Xã Tân Tiến (20002)" in p["reason"]
    assert "30003" not in p["reason"]
    assert store.count() == 0


def test_every_problem_is_reported_at_once(store, units):
    body = "99999,,,hotspot,,,,,,\n16417,,,nope,,,,,,\n16438,,,hotspot,1/13/2023,,,,,\n"
    with pytest.raises(ImportFailed) as info:
        run_import(store, csv_bytes(body), "many.csv", units)
    rows = sorted(p["row"] for p in info.value.details)
    assert rows == [2, 3, 4]
    assert store.count() == 0


@pytest.mark.parametrize(
    "data, filename, reason",
    [
        (b"", "empty.csv", "empty"),
        (b"\xff\xfe\x00\xd8", "utf16.csv", "UTF-16 text but has a bad byte"),
        (b"\x81\x8a,x\n", "bytes.csv", "not UTF-8"),
        (b"code,name\n16417,x\n", "nostatus.csv", "no status column"),
        (b"status\nhotspot\n", "nokey.csv", "code column or a name column"),
        (b"PK\x03\x04garbage", "broken.xlsx", "not a readable XLSX"),
        (b"code,status\n", "data.json", "unsupported file type"),
    ],
)
def test_bad_files_are_refused(sqlite_store, units, data, filename, reason):
    with pytest.raises(ImportFailed) as info:
        run_import(sqlite_store, data, filename, units)
    assert any(reason in p["reason"] for p in info.value.details)
    assert sqlite_store.count() == 0


def test_dry_run_never_writes(store, units):
    result = run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units, dry_run=True)
    assert result.created == 62 and result.dry_run
    assert store.count() == 0 and store.history_count() == 0


# -- export round trip ----------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_changes_nothing(store, units, tmp_path, suffix):
    run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    run_import(
        store,
        csv_bytes('16522,,,relapsed,,,,"Công an, phường",a; b,"dòng 1\ndòng 2"\n'),
        "edit.csv",
        units,
    )
    before = snapshot(store)
    out = tmp_path / f"export{suffix}"
    rows = records.export_rows(units, store.records("2025"))
    assert rows[0] == list(importer.HEADERS)
    assert len(rows) == 63
    records.write_export(rows, out)
    result = run_import(store, out.read_bytes(), out.name, units)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 62)
    assert snapshot(store) == before


# -- the command line -----------------------------------------------------------------------
@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GEO_APP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0  # idempotent
    return runner


def test_cli_import_dry_run_json_and_export(cli_env, tmp_path):
    r = cli_env.invoke(main, ["status", "import", str(SAMPLE), "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["created"] == 62
    r = cli_env.invoke(main, ["status", "import", str(SAMPLE)])
    assert r.exit_code == 0 and "62 records were created" in r.output and "sample" in r.output
    r = cli_env.invoke(main, ["status", "import", "--if-empty", str(SAMPLE)])
    assert r.exit_code == 0 and "already has records" in r.output
    out = tmp_path / "out.xlsx"
    r = cli_env.invoke(main, ["status", "export", "--out", str(out)])
    assert r.exit_code == 0 and out.exists()
    r = cli_env.invoke(main, ["status", "import", str(out), "--json"])
    assert json.loads(r.output)["unchanged"] == 62


def test_cli_import_error_exits_1_with_row_numbered_messages(cli_env, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes("16417,,,hotspot,,,,,,\n99999,,,hotspot,,,,,,\n"))
    r = cli_env.invoke(main, ["status", "import", str(bad)])
    assert r.exit_code == 1
    assert "row 3, column code, value '99999': no unit has this code" in r.output
    r = cli_env.invoke(main, ["status", "import", str(bad), "--json"])
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["ok"] is False and out["problems"][0]["row"] == 3
    r = cli_env.invoke(main, ["status", "export", "--out", str(tmp_path / "e.csv")])
    assert "0 records" in r.output
    r = cli_env.invoke(main, ["status", "import", str(tmp_path / "missing.csv")])
    assert r.exit_code == 1 and "cannot be read" in r.output
