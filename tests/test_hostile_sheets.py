"""Hostile spreadsheets (issue 12, item 1): read lazily, capped, parsed through defusedxml.

Every hostile file is generated here. The web import of a dimension bomb and of a nested-entity
("billion laughs") workbook leaves the worker alive, its memory under +100 MB, with a clear
refusal or a correct import.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tracemalloc
import zipfile

import openpyxl
import pytest

from geo_app.errors import ImportFailed
from geo_app.io import importer, sheets
from geo_app.io.importer import run_import
from tests.conftest import PASSWORD, ROOT

LAUGHS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    "<!DOCTYPE lolz [\n"
    ' <!ENTITY lol "lollollollollollollollollollol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
)


def workbook(rows: list[list]) -> bytes:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rewrite(data: bytes, part: str, change) -> bytes:
    """Return the workbook `data` with the XML text of `part` replaced by `change(text)`."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == part:
                body = change(body.decode("utf-8")).encode("utf-8")
            dst.writestr(info.filename, body)
    return out.getvalue()


def dimension_bomb() -> bytes:
    """A 5 KB workbook whose sheet declares A1:XFD1048576, with a real cell far to the right."""
    data = workbook([["code", "status"], [16522, "hotspot"], [16417, "transformed"]])

    def change(xml: str) -> str:
        xml = re.sub(r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1:XFD1048576"/>', xml)
        # one real cell in the last column, as formatting far to the right leaves
        return xml.replace("</row>", '<c r="XFD1" t="inlineStr"><is><t>x</t></is></c></row>', 1)

    return rewrite(data, "xl/worksheets/sheet1.xml", change)


def entity_bomb(part: str = "xl/worksheets/sheet1.xml") -> bytes:
    """A workbook whose `part` declares nested entities (billion laughs) and uses the last."""
    data = workbook([["code", "status"], [16522, "hotspot"]])

    def change(xml: str) -> str:
        xml = re.sub(r"^<\?xml[^>]*\?>\s*", "", xml)
        if part.endswith("sheet1.xml"):
            xml = xml.replace(
                "</row>", '<c r="C1" t="inlineStr"><is><t>&lol9;</t></is></c></row>', 1
            )
        return LAUGHS + xml  # a declaration alone is refused, used or not

    return rewrite(data, part, change)


def test_openpyxl_parses_through_defusedxml():
    import defusedxml.ElementTree
    import openpyxl.reader.excel
    import openpyxl.worksheet._reader
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML is True
    assert openpyxl.worksheet._reader.iterparse is defusedxml.ElementTree.iterparse
    if not openpyxl.xml.LXML:  # with lxml, openpyxl parses parts with resolve_entities=False
        assert openpyxl.reader.excel.fromstring is defusedxml.ElementTree.fromstring


def test_dimension_bomb_imports_its_real_rows_in_little_memory(sqlite_store, units):
    data = dimension_bomb()
    assert len(data) < 10_000
    tracemalloc.start()
    try:
        result = run_import(sqlite_store, data, "bomb.xlsx", units)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.created == 2
    assert peak < 30 * 1024 * 1024, peak


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/styles.xml"])
def test_nested_entities_are_refused_as_unsafe(sqlite_store, units, part):
    tracemalloc.start()
    try:
        with pytest.raises(ImportFailed) as info:
            run_import(sqlite_store, entity_bomb(part), "laughs.xlsx", units)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (p,) = info.value.details
    assert "declares XML entities" in p["reason"] and "refused" in p["reason"]
    assert peak < 30 * 1024 * 1024
    assert sqlite_store.count() == 0


def test_millions_of_empty_rows_without_a_dimension_are_refused_in_flat_memory(sqlite_store, units):
    data = workbook([["code", "status"], [16522, "hotspot"]])
    n = sheets.MAX_SHEET_ROWS + 10

    def change(xml: str) -> str:
        xml = re.sub(r'<dimension ref="[^"]*"\s*/>', "", xml)  # openpyxl then reads it all
        empty = "".join(f'<row r="{i}"/>' for i in range(3, n))
        return xml.replace("</sheetData>", empty + "</sheetData>")

    bomb = rewrite(data, "xl/worksheets/sheet1.xml", change)
    assert len(bomb) < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ImportFailed) as info:
            run_import(sqlite_store, bomb, "rows.xlsx", units)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "more than 200,000 rows (empty ones included)" in info.value.details[0]["reason"]
    assert peak < 30 * 1024 * 1024, peak


def test_rows_are_capped_with_a_clear_message(sqlite_store, units):
    codes = [u.code for u in units][:12]
    data = workbook([["code", "status"], *[[c, "hotspot"] for c in codes]])
    with pytest.raises(ImportFailed) as info:
        run_import(sqlite_store, data, "many.xlsx", units, max_rows=10)
    (p,) = info.value.details
    assert p["row"] == 12
    assert "more than 10 rows below its header (GEO_APP_IMPORT_MAX_ROWS)" in p["reason"]
    csv_data = ("code,status\n" + "".join(f"{c},hotspot\n" for c in codes)).encode()
    with pytest.raises(ImportFailed):
        run_import(sqlite_store, csv_data, "many.csv", units, max_rows=10)
    assert run_import(sqlite_store, csv_data, "many.csv", units, max_rows=12).created == 12


def test_rows_are_cut_to_the_header_width():
    data = workbook([["code", "status"], [16522, "hotspot", None, "ignored", 1, 2, 3]])
    book = sheets.open_book(data, "wide.xlsx")
    try:
        assert list(book.sheets[0].rows(2, 1)) == [(2, [16522, "hotspot"])]
    finally:
        book.close()


def test_a_part_that_unpacks_too_large_is_refused_before_parsing(sqlite_store, units, monkeypatch):
    monkeypatch.setattr(sheets, "SHEET_XML_MAX", 200)
    data = workbook([["code", "status"], [16522, "hotspot"]])
    with pytest.raises(ImportFailed) as info:
        run_import(sqlite_store, data, "big.xlsx", units)
    assert "unpacks to" in info.value.details[0]["reason"]


def test_file_size_is_capped(sqlite_store, units):
    with pytest.raises(ImportFailed) as info:
        run_import(sqlite_store, b"x" * (importer.MAX_BYTES + 1), "huge.csv", units)
    assert "larger than 20 MB" in info.value.details[0]["reason"]


#: Runs in its own process: the app, logged in, takes the hostile files through the web import.
WORKER = r"""
import io, json, re, resource, sys
from geo_app import create_app

settings = json.loads(sys.argv[1])
files = json.loads(sys.argv[2])
app = create_app({**settings, "TESTING": True})
c = app.test_client()
form = c.get("/login").get_data(as_text=True)
token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
r = c.post("/login", data={"username": "admin", "password": sys.argv[3], "csrf_token": token})
assert r.status_code == 302, r.status_code
csrf = c.get("/api/me").get_json()["csrf_token"]

def send(path, name, data):
    if path == "/import":
        return c.post(path, data={"file": (io.BytesIO(data), name), "csrf_token": csrf})
    return c.post(path, data={"file": (io.BytesIO(data), name)}, headers={"X-CSRFToken": csrf})

# warm up: one ordinary workbook through both doors, so what is measured is the files' cost
ordinary = bytes.fromhex(files.pop("ordinary"))
for path in ("/api/status/import", "/import"):
    send(path, "ok.xlsx", ordinary)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {}
for name, hexdata in files.items():
    data = bytes.fromhex(hexdata)
    for path in ("/api/status/import", "/import"):
        r = send(path, name, data)
        body = r.get_json() if path.startswith("/api") else r.get_data(as_text=True)
        out[f"{path} {name}"] = [r.status_code, body]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out["healthz"] = c.get("/healthz").status_code
out["rss_kb"] = [before, after]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_web_import_of_bombs_keeps_the_worker_alive_and_small(app, sample_settings):
    settings = {k: v for k, v in sample_settings.items() if isinstance(v, str | int | float)}
    files = {
        "ordinary": workbook([["code", "status"], [16522, "hotspot"]]).hex(),
        "dimension.xlsx": dimension_bomb().hex(),
        "laughs.xlsx": entity_bomb().hex(),
    }
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(settings), json.dumps(files), PASSWORD],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]  # no SIGSEGV, no traceback
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    status, body = out["/api/status/import dimension.xlsx"]
    assert status == 200 and body["rows"] == 2, body
    status, body = out["/api/status/import laughs.xlsx"]
    assert status == 422
    assert any("declares XML entities" in p["reason"] for p in body["details"])
    status, page = out["/import laughs.xlsx"]
    assert status == 422 and "declares XML entities" in page
    assert out["/import dimension.xlsx"][0] == 200
    assert out["healthz"] == 200
    before, after = out["rss_kb"]
    print(f"worker max RSS {before / 1024:.0f} MB → {after / 1024:.0f} MB")
    assert after - before < 100 * 1024, out["rss_kb"]
