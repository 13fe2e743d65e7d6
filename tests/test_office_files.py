"""Status files as provincial offices make them (issue 15, item 1): every file is generated here.

Title blocks above the header, the list on a second sheet, totals and group rows, merged cells,
every date spelling, formulas without saved values, cp1258 and UTF-16 CSV, old codes without
--division, status variants and name abbreviations. Each is imported right, or refused with a
row-numbered message and nothing written.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pytest
from click.testing import CliRunner

from geo_app.cli import main
from geo_app.errors import ImportFailed
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.io.importer import run_import
from tests.conftest import THANH_HOA

CROSSWALK = THANH_HOA / "crosswalk_2024units_to_2025_vietnamadminunits.csv"
HEADER = ["STT", "Mã ĐVHC", "Tên đơn vị", "Loại", "Trạng thái", "Ngày đưa vào diện"]


def xlsx(build) -> bytes:
    """Return the bytes of a workbook made by `build(workbook)`."""
    wb = openpyxl.Workbook()
    build(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def state(store):
    return store.count(), store.history_count(), store.revision()


def recs(store, division="2025"):
    return {c: r.record for c, r in store.records(division).items()}


def title_block(ws) -> None:
    """Write the title block every official list has: header then on row 4."""
    ws["A1"] = "CÔNG AN TỈNH THANH HÓA"
    ws.merge_cells("A1:F1")
    ws["A2"] = "DANH SÁCH ĐỊA BÀN TRỌNG ĐIỂM, PHỨC TẠP VỀ AN NINH, TRẬT TỰ"
    ws.merge_cells("A2:F2")
    for col, text in enumerate(HEADER, start=1):
        ws.cell(row=4, column=col, value=text)


def test_title_block_header_on_row_4_is_found_and_named(store, units):
    def build(wb):
        ws = wb.active
        ws.title = "Danh sách"
        title_block(ws)
        ws.append([1, 16522, "Quảng Phú", "Phường", "Đã chuyển hóa", "15/12/2022"])
        ws.append([2, 16417, "Đông Quang", "Phường", "Trọng điểm", "19-05-2023"])

    result = run_import(store, xlsx(build), "ds.xlsx", units)
    assert result.created == 2
    assert any("'Danh sách'" in n and "header on row 4" in n for n in result.notices)
    assert recs(store)["16417"].get("designated_on") == dt.date(2023, 5, 19)


def test_no_header_in_the_first_20_rows_is_refused_with_a_hint(store, units):
    def build(wb):
        ws = wb.active
        ws["A1"] = "CÔNG AN TỈNH THANH HÓA"
        for r in range(2, 25):
            ws.cell(row=r, column=1, value=f"dòng {r}")
        ws.cell(row=22, column=2, value="Trạng thái")

    with pytest.raises(ImportFailed) as info:
        run_import(store, xlsx(build), "x.xlsx", units)
    reasons = [p["reason"] for p in info.value.details]
    assert any("no header found in the first 20 rows of sheet 'Sheet'" in r for r in reasons)
    assert store.count() == 0


def test_list_on_sheet_2_behind_a_summary_is_read_and_named(store, units):
    def build(wb):
        summary = wb.active
        summary.title = "Tổng hợp"
        summary.append(["Tổng số địa bàn", 2])
        summary.append(["Đã chuyển hóa", 1])
        ws = wb.create_sheet("Chi tiết")
        ws.append(["code", "status"])
        ws.append([16522, "transformed"])
        ws.append([16417, "hotspot"])

    data = xlsx(build)
    result = run_import(store, data, "two.xlsx", units, dry_run=True)
    assert result.created == 2
    assert any("'Chi tiết' (of 2 sheets), header on row 1" in n for n in result.notices)
    with pytest.raises(ImportFailed) as info:
        run_import(store, data, "two.xlsx", units, sheet="Tổng hợp")
    assert any("sheet 'Tổng hợp'" in p["reason"] for p in info.value.details)
    with pytest.raises(ImportFailed) as info:
        run_import(store, data, "two.xlsx", units, sheet="Nope")
    assert "'Tổng hợp', 'Chi tiết'" in info.value.details[0]["reason"]
    assert state(store) == (0, 0, 0)


def test_totals_group_and_column_number_rows_are_skipped_as_notices(store, units):
    def build(wb):
        ws = wb.active
        title_block(ws)
        ws.append(["(1)", "(2)", "(3)", "(4)", "(5)", "(6)"])
        ws.append(["Thị xã Bỉm Sơn cũ"])
        ws.merge_cells(start_row=6, start_column=1, end_row=6, end_column=6)
        ws.append([1, 14812, "Bỉm Sơn", "Phường", "Đang chuyển hóa", "01/02/2023"])
        ws.append(["II", "Thành phố Thanh Hóa cũ"])
        ws.append([2, 16522, "Quảng Phú", "Phường", "Đã chuyển hóa", "01/02/2023"])
        ws.append(["Tổng cộng", None, "2 xã, phường"])
        ws.append([None, None, "4 xã, phường"])

    result = run_import(store, xlsx(build), "groups.xlsx", units)
    assert result.created == 2
    text = "\n".join(result.notices)
    assert "row 5 numbers the columns" in text
    assert "row 6 is a group row ('Thị xã Bỉm Sơn cũ')" in text
    assert "row 8 is a group row ('II Thành phố Thanh Hóa cũ')" in text
    assert "row 10 is a totals row" in text and "row 11 is a totals row" in text


def test_a_row_naming_a_unit_is_never_skipped_as_totals_or_group(store, units):
    data = (
        "code,name,status,Đơn vị phụ trách\n"
        "16522,,,Công an phường\n"  # no status, but a unit's code and "Công an...": a record
        ",Đông Quang,,\n"  # one cell naming a unit: a record without status
    ).encode()
    with pytest.raises(ImportFailed) as info:
        run_import(store, data, "x.csv", units)
    found = [(p["row"], p["reason"]) for p in info.value.details]
    assert (2, "the status is empty") in found and (3, "the status is empty") in found


def test_a_data_row_without_status_is_still_an_error_not_a_group_row(store, units):
    data = b"code,name,status\n,Ph\xc6\xb0\xe1\xbb\x9dng Qu\xe1\xba\xa3ng Ph\xc3\xba,\n"
    with pytest.raises(ImportFailed) as info:
        run_import(store, data, "x.csv", units)
    assert info.value.details[0]["reason"] == "the status is empty"


def test_vertically_merged_unit_cell_fills_every_row_it_covers(store, units):
    def build(wb):
        ws = wb.active
        ws.append(["code", "status", "Đơn vị phụ trách"])
        ws.append([16522, "hotspot", "Công an huyện cũ"])
        ws.append([16417, "hotspot", None])
        ws.append([15187, "hotspot", None])
        ws.merge_cells("C2:C4")
        ws.append([16438, "hotspot", "Đội 2"])

    run_import(store, xlsx(build), "merged.xlsx", units)
    got = {c: r.get("unit") for c, r in recs(store).items()}
    assert got == {
        "16522": "Công an huyện cũ",
        "16417": "Công an huyện cũ",
        "15187": "Công an huyện cũ",
        "16438": "Đội 2",
    }


@pytest.mark.parametrize(
    "written",
    [
        "19-05-2023",
        "19.05.2023",
        "19/5/23",
        "2023/05/19",
        "ngày 19 tháng 5 năm 2023",
        "Ngày 19 tháng 05 năm 2023",
        "45065",
        45065,
        45065.0,
        dt.datetime(2023, 5, 19),
    ],
)
def test_date_spellings_and_excel_serials_are_read_day_first(store, units, written):
    def build(wb):
        ws = wb.active
        ws.append(["code", "status", "designated_on"])
        ws.append([16522, "hotspot", written])

    run_import(store, xlsx(build), "d.xlsx", units)
    assert recs(store)["16522"].get("designated_on") == dt.date(2023, 5, 19)


def test_formula_cells_read_their_saved_values(store, units):
    def build(wb):
        ws = wb.active
        ws.append(["code", "status"])
        ws.append([None, "hotspot"])
        ws["A2"] = "=16000+522"

    data = xlsx(build)
    # openpyxl writes formulas without values; give the cell the value Excel would have saved
    data = _set_cached_value(data, "A2", "16522")
    run_import(store, data, "f.xlsx", units)
    assert "16522" in recs(store)


def test_formula_without_saved_value_is_named_not_blamed_on_the_kind(store, units):
    def build(wb):
        ws = wb.active
        ws.append(["code", "name", "kind", "status"])
        ws.append(["=16000+522", None, None, "hotspot"])  # written by a script: no value

    with pytest.raises(ImportFailed) as info:
        run_import(store, xlsx(build), "script.xlsx", units)
    (p,) = info.value.details
    assert (p["row"], p["column"]) == (2, "code")
    assert "formula with no saved value" in p["reason"]
    assert store.count() == 0


def _set_cached_value(data: bytes, ref: str, value: str) -> bytes:
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = body.decode()
                start = text.index(f'<c r="{ref}"')
                end = text.index("</c>", start)
                cell = text[start:end]
                text = (
                    text[:start]
                    + cell.replace("<v></v>", "").replace("</f>", f"</f><v>{value}</v>")
                    + text[end:]
                )
                body = text.encode()
            dst.writestr(info, body)
    return out.getvalue()


def to_cp1258(text: str) -> bytes:
    """Encode `text` as Excel does on Vietnamese Windows: tone marks as combining characters."""
    import unicodedata

    tones = "\u0300\u0301\u0303\u0309\u0323"
    out = b""
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
            out += (base + "".join(c for c in parts if c in tones)).encode("cp1258")
    return out


def test_cp1258_csv_from_vietnamese_windows_is_read_and_reported(store, units):
    text = "Mã,Tên,Trạng thái,Ghi chú\r\n16522,Quảng Phú,Đã chuyển hóa,Xã Quảng Phú cũ\r\n"
    data = to_cp1258(text)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = run_import(store, data, "win.csv", units)
    assert result.created == 1
    assert any("Windows-1258" in n for n in result.notices)
    assert recs(store)["16522"].get("notes") == "Xã Quảng Phú cũ"


def test_utf16_unicode_text_tab_separated_is_read(store, units):
    text = "Mã\tTrạng thái\tĐơn vị phụ trách\r\n16522\tĐang chuyển hóa\tCông an phường\r\n"
    data = text.encode("utf-16")  # with its BOM, as Excel's "Unicode Text"
    result = run_import(store, data, "unicode.txt", units)
    assert result.created == 1
    assert any("UTF-16" in n for n in result.notices)
    assert recs(store)["16522"].get("unit") == "Công an phường"


def test_status_variants_and_name_abbreviations_match(store, units):
    data = (
        "Tên,Trạng thái\n"
        "P. Quảng Phú,Trọng điểm\n"
        'X. An Nông,"Địa bàn trọng điểm, phức tạp"\n'
        "P.Đông Quang,Chưa chuyển hóa\n"
    ).encode()
    result = run_import(store, data, "abbr.csv", units)
    assert result.created == 3
    assert {c: r.status for c, r in recs(store).items()} == {
        "16522": "hotspot",
        "15766": "hotspot",
        "16417": "hotspot",
    }


def _register_2024(store):
    new_units = [{"code": u.code, "name": u.name, "kind": u.kind} for u in _units()]
    old_units, pairs = boundaries.read_crosswalk(CROSSWALK, new_units)
    store.save_division(
        "2024", old_units, valid_from=None, valid_to=None, source="test", actor="test"
    )
    store.save_crosswalk("2024", "2025", pairs, actor="test", source="test")
    return {u["code"] for u in old_units}


def _units():
    return importer.unit_refs(boundaries.load(THANH_HOA).units)


def test_old_codes_without_division_hint_at_the_old_division(store, units):
    old = _register_2024(store)
    new = {u.code for u in units}
    only_old = sorted(old - new)[:3]
    body = "".join(f"{c},hotspot\n" for c in only_old)
    data = ("code,status\n" + body).encode()
    before = state(store)
    with pytest.raises(ImportFailed) as info:
        run_import(
            store,
            data,
            "old.csv",
            units,
            other_divisions=lambda: importer.other_division_codes(store, "2025"),
        )
    reasons = [p["reason"] for p in info.value.details]
    assert reasons.count("no unit has this code") == 3
    assert any("--division 2024" in r and "3 of the 3" in r for r in reasons)
    assert state(store) == before
    # with --division 2024 the same file imports; so does an old thị trấn written "TT"
    result = run_import(store, data, "old.csv", _old_refs(store), "2024")
    assert result.created == 3
    tt = "Tên,Trạng thái\nTT Cành Nàng,Đã chuyển hóa\n".encode()
    result = run_import(store, tt, "tt.csv", _old_refs(store), "2024")
    assert result.created == 1 and recs(store, "2024")["14923"].status == "transformed"


def _old_refs(store):
    return [importer.UnitRef(u["code"], u["name"], u["kind"]) for u in store.division_units("2024")]


def test_cli_shows_notices_the_sheet_option_and_the_division_hint(tmp_path, settings):
    from geo_app.store import Store

    env = {"GEO_APP_DATABASE_URL": settings["DATABASE_URL"], "GEO_APP_CACHE_DIR": str(tmp_path)}
    store = Store(settings["DATABASE_URL"])
    old = _register_2024(store)
    store.dispose()

    def build(wb):
        wb.active.title = "Bìa"
        ws = wb.create_sheet("DS")
        title_block(ws)
        ws.append([1, 16522, "Quảng Phú", "P.", "Trọng điểm", "ngày 1 tháng 2 năm 2023"])

    path = tmp_path / "ds.xlsx"
    path.write_bytes(xlsx(build))
    runner = CliRunner()
    r = runner.invoke(main, ["status", "import", str(path), "--dry-run"], env=env)
    assert r.exit_code == 0, r.output
    assert "notice: read sheet 'DS' (of 2 sheets), header on row 4" in r.output
    r = runner.invoke(main, ["status", "import", str(path), "--sheet", "DS", "--json"], env=env)
    assert json.loads(r.output)["notices"]
    only_old = sorted(old - {u.code for u in _units()})[0]
    bad = tmp_path / "old.csv"
    bad.write_text(f"code,status\n{only_old},hotspot\n")
    r = runner.invoke(main, ["status", "import", str(bad)], env=env)
    assert r.exit_code == 1
    assert "import it with --division 2024" in r.output


def test_web_import_shows_notices_in_json_and_on_the_page(client):
    from tests.conftest import csrf_token

    def build(wb):
        ws = wb.active
        ws.title = "Danh sách"
        title_block(ws)
        ws.append([1, 16522, "Quảng Phú", "Phường", "Trọng điểm", "19.05.2023"])

    data = xlsx(build)
    token = csrf_token(client)
    r = client.post(
        "/api/status/import",
        data={"file": (io.BytesIO(data), "ds.xlsx"), "dry_run": "1"},
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert any("header on row 4" in n for n in r.get_json()["notices"])
    r = client.post(
        "/import",
        data={"file": (io.BytesIO(data), "ds.xlsx"), "dry_run": "1", "csrf_token": token},
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'id="import-notices"' in page and "header on row 4" in page
