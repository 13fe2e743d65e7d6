"""Programmes as data: the definitions, the drug-situation programme end to end, and a third
programme added from a definition file alone, with no code change."""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import fiona
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import HOTSPOT, THANH_HOA, add_users, client_as, csrf_token
from PIL import Image
from pypdf import PdfReader

from geo_app import create_app
from geo_app.cli import main
from geo_app.config import SAMPLE_DIR
from geo_app.core import programme as programmes
from geo_app.core.programme import NOT_LISTED, ProgrammeError, parse
from geo_app.store import Store

DRUGS_SAMPLE = SAMPLE_DIR / "drugs_sample_2025.csv"
HOTSPOT_FILE = programmes.PACKAGE_DIR / "hotspot.toml"


# -- the definitions --------------------------------------------------------------------------
def test_hotspot_keeps_todays_statuses_palette_and_gravity():
    expected = [
        ("hotspot", "Trọng điểm, phức tạp", "Hotspot", "#D55E00", "//", 3),
        ("in_progress", "Đang chuyển hóa", "Being transformed", "#E69F00", "", 2),
        ("transformed", "Đã chuyển hóa", "Transformed", "#009E73", "", 1),
        ("relapsed", "Phức tạp trở lại", "Relapsed", "#CC79A7", "xx", 4),
        (NOT_LISTED, "Không thuộc diện", "Not listed", "#E8E8E8", "", 0),
    ]
    got = [(s.code, s.label_vi, s.label_en, s.color, s.hatch, s.gravity) for s in HOTSPOT.statuses]
    assert got == expected
    assert [f.name for f in HOTSPOT.fields] == [
        "designated_on",
        "target_on",
        "transformed_on",
        "unit",
        "problems",
        "notes",
    ]
    assert HOTSPOT.relapse("transformed", "in_progress") == "relapsed"
    assert HOTSPOT.text("print_target", "vi") == "Mục tiêu: 100 % địa bàn được chuyển hóa"


def test_the_drug_programme_has_its_own_statuses_palette_and_headline():
    drugs = programmes.get("drugs")
    assert drugs.record_statuses == ("type_1", "type_2", "type_3", "drug_free")
    assert drugs.rollup(["type_3", "type_1", "drug_free"]) == "type_1"  # type I is the gravest
    colours = {s.color for s in drugs.statuses if s.code != NOT_LISTED}
    assert not colours & {s.color for s in HOTSPOT.statuses}  # a palette of its own
    assert (drugs.headline_status, drugs.headline_of, drugs.target_pct) == (
        "drug_free",
        "units",
        50,
    )
    assert drugs.label(NOT_LISTED, "en") == "Not classified"
    assert drugs.parse_status("Loại II") == "type_2"
    assert drugs.relapse("drug_free", "type_1") == "type_1"  # no relapse rule
    assert len(drugs.criteria) >= 10
    assert all(c["clause"] for c in drugs.criteria)  # each cites its clause, or says it cannot
    assert sum(c["clause"].startswith("Khoản") for c in drugs.criteria) >= 10


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["statuses"][0].update(color="red"), "color 'red' is not #RRGGBB"),
        (lambda d: d["statuses"][1].update(gravity=3), "two statuses have the same gravity"),
        (lambda d: d["statuses"][0].update(dated_by="nowhere"), "dated_by 'nowhere'"),
        (lambda d: d["fields"][0].update(type="colour"), "type 'colour' is not one of"),
        (lambda d: d["fields"][0].update(name="status"), "'status' cannot be a field name"),
        (lambda d: d["fields"][1].update(layer="designated"), "a layer name is given twice"),
        (lambda d: d["headline"].update(status="nope"), "[headline]"),
        (lambda d: d["texts"]["en"].pop("map_title"), "[texts.en]: missing map_title"),
        (lambda d: d.pop("not_listed"), "'not_listed' is missing"),
        (lambda d: d["statuses"][2].update(print_color="pale"), "print_color 'pale' is not"),
        (lambda d: d["statuses"][0].update(hatch="oo"), "hatch 'oo' may only use"),
    ],
)
def test_a_broken_definition_is_refused_naming_the_file_and_key(change, message):
    data = tomllib.loads(HOTSPOT_FILE.read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(ProgrammeError) as refused:
        parse(data, "hotspot.toml")
    assert refused.value.message.startswith("hotspot.toml")
    assert message in refused.value.message


def test_an_unknown_programme_is_a_400_naming_the_known_ones(client):
    for url in ("/api/summary?programme=nope", "/api/communes/16522?programme=nope"):
        r = client.get(url)
        assert r.status_code == 400
        assert r.get_json()["error"] == "unknown programme 'nope'; use one of: hotspot, drugs"
    assert client.get("/?programme=nope").status_code == 400


# -- the drug-situation programme end to end ------------------------------------------------
def import_file(client, path: Path, programme: str | None = None):
    data = {"file": (io.BytesIO(path.read_bytes()), path.name)}
    if programme:
        data["programme"] = programme
    return client.post(
        "/api/status/import",
        data=data,
        headers={"X-CSRFToken": csrf_token(client)},
        content_type="multipart/form-data",
    )


def test_the_drug_programme_end_to_end(app, tmp_path):
    client = client_as(app, "admin")
    hotspot_before = client.get("/api/summary").get_json()
    r = import_file(client, DRUGS_SAMPLE, "drugs")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["created"], r.get_json()["sample"]) == (78, True)
    # the hotspot programme is untouched
    assert client.get("/api/summary").get_json()["counts"] == hotspot_before["counts"]

    summary = client.get("/api/summary?programme=drugs").get_json()
    assert summary["programme"] == "drugs"
    assert summary["counts"] == {
        "type_1": 3,
        "type_2": 10,
        "type_3": 33,
        "drug_free": 32,
        NOT_LISTED: 88,
    }
    assert summary["listed"] == 46 and summary["drug_free_pct"] == 19.3
    assert summary["headline"] == {
        "status": "drug_free",
        "n": 32,
        "of": "units",
        "total": 166,
        "pct": 19.3,
        "target_pct": 50,
    }

    # the map page: its title, figures, legend, colours, switcher
    html = client.get("/?programme=drugs").get_data(as_text=True)
    assert "<h1>Bản đồ phân loại địa bàn về ma túy</h1>" in html
    figures = re.findall(r'data-figure="([a-z_0-9]+)"', html)
    assert figures == ["listed", "drug_free", "type_3", "type_2", "type_1"]
    assert "19,3 % tổng số xã, phường" in html
    drugs = programmes.get("drugs")
    for s in drugs.statuses:
        assert f"background: {s.color}" in html
    assert 'data-programme="hotspot"' in html and 'aria-current="page">Ma túy' in html
    config = json_config(html)
    assert config["programme"] == "drugs"
    assert [f["name"] for f in config["fields"]][:3] == ["classified_on", "decision", "unit"]
    assert 'id="edit-classified_on"' in html and 'id="edit-designated_on"' not in html
    script = client.get(
        re.search(r'src="(/map/script-[^"]+)"', html).group(1).replace("&amp;", "&")
    )
    assert drugs.by_code["type_1"].color in script.get_data(as_text=True)

    # the panel's record and an edit, with its audit entry
    unit = client.get("/api/communes/15607?programme=drugs").get_json()
    assert (unit["status"], unit["record"]["decision"]) == ("type_3", "3615/QĐ-UBND")
    assert unit["record"]["display"]["classified_on"] == "26/12/2025"
    r = client.post(
        "/api/communes/15607/status?programme=drugs",
        json={
            "status": "type_2",
            "effective_on": "2026-11-30",
            "note": "Rà soát theo tiêu chí loại II",
            "version": unit["record"]["version"],
            "users": 12,
        },
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert r.status_code == 200, r.get_json()
    after = r.get_json()
    assert (after["status"], after["record"]["users"]) == ("type_2", 12.0)
    assert after["record"]["classified_on"] == "2025-12-26"  # kept: not emptied by the edit
    hotspot = client.get("/api/communes/15607").get_json()  # the other programme's record
    assert hotspot["status"] == "hotspot" and hotspot["record"]["version"] == 1
    store = app.extensions["geo_app"].store
    (entry,) = store.audit_entries(action="status.update", target="drugs:2025:15607")
    assert entry["action"] == "status.update" and entry["details"]["programme"] == "drugs"
    bad = client.post(
        "/api/communes/15607/status?programme=drugs",
        json={"status": "transformed", "effective_on": "2026-11-30", "note": "x", "version": 2},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert bad.status_code == 400 and "type_1, type_2, type_3, drug_free" in bad.get_json()["error"]

    # exports and the pack
    png = client.get("/export/map.png?programme=drugs&dpi=50")
    assert png.status_code == 200 and png.headers["Content-Disposition"].startswith(
        'attachment; filename="ban-do-dia-ban-ma-tuy_'
    )
    with Image.open(io.BytesIO(png.data)) as im:
        assert im.size == (585, 413)
    pdf = client.get("/export/map.pdf?programme=drugs&lang=en")
    text = PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert "Drug-free: 32/166 communes, wards (19.3%)" in text
    assert "Key complex drug area, type I" in text and "Not classified" in text
    pack = client.get("/export/pack.pdf?programme=drugs&area=15607")
    page = PdfReader(io.BytesIO(pack.data)).pages[-1].extract_text()
    assert "HỒ SƠ PHÂN LOẠI ĐỊA BÀN" in page and "Số quyết định phân loại" in page
    # a programme without deadlines or targets shows no deadline columns, filters or tiles
    listing = PdfReader(io.BytesIO(pack.data)).pages[1].extract_text()
    assert "DANH SÁCH ĐỊA BÀN" in listing and "Thời hạn" not in listing
    list_page = client.get("/list?programme=drugs").get_data(as_text=True)
    assert 'id="list-deadline"' not in list_page and 'data-sort="deadline"' not in list_page
    assert 'id="list-deadline"' in client.get("/list").get_data(as_text=True)

    # the GeoPackage download carries the programme's fields
    gpkg = client.get("/download/communes.gpkg?programme=drugs")
    assert gpkg.status_code == 200
    path = tmp_path / "drugs.gpkg"
    path.write_bytes(gpkg.data)
    with fiona.open(path) as layer:
        props = list(layer.schema["properties"])
        rows = {f["properties"]["code"]: f["properties"] for f in layer}
    assert props[:6] == ["code", "name", "kind", "status", "status_vi", "own_status"]
    assert {"class_on", "decision", "users_pct", "former"} <= set(props)
    assert rows["15607"]["status"] == "type_2" and rows["15607"]["users"] == 12.0
    assert rows["15607"]["status_vi"] == "Trọng điểm phức tạp về ma túy loại II"


def json_config(html: str) -> dict:
    found = re.search(r'id="geoapp-config" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_an_officer_may_edit_an_assigned_unit_in_every_programme(app):
    officer = client_as(app, "officer")  # assigned 14845 and 16522
    for programme, status in (("hotspot", "transformed"), ("drugs", "drug_free")):
        record = officer.get(f"/api/communes/14845?programme={programme}").get_json()["record"]
        r = officer.post(
            f"/api/communes/14845/status?programme={programme}",
            json={
                "status": status,
                "effective_on": "2026-11-30",
                "note": "x",
                "version": record["version"] if record else None,
            },
            headers={"X-CSRFToken": csrf_token(officer)},
        )
        assert r.status_code == 200, (programme, r.get_json())
    r = officer.post(
        "/api/communes/14848/status?programme=drugs",
        json={"status": "type_1", "effective_on": "2026-11-30", "note": "x", "version": None},
        headers={"X-CSRFToken": csrf_token(officer)},
    )
    assert r.status_code == 403


def test_the_command_line_takes_the_programme(sample_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("GEO_APP_DATABASE_URL", sample_settings["DATABASE_URL"])
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", sample_settings["CACHE_DIR"])
    run = CliRunner().invoke
    r = run(main, ["status", "import", "--programme", "drugs", str(DRUGS_SAMPLE)])
    assert r.exit_code == 0 and "78 records were created" in r.output
    r = run(main, ["status", "show", "15607", "--programme", "drugs", "--json"])
    assert r.exit_code == 0
    assert '"status": "type_3"' in r.output
    r = run(main, ["status", "show", "15607", "--programme", "drugs"])
    assert "Trọng điểm phức tạp về ma túy loại III (type_3)" in r.output
    assert "Số người phạm tội về ma túy bị bắt giữ trên địa bàn: 3" in r.output
    out = tmp_path / "drugs.csv"
    r = run(main, ["status", "export", "--programme", "drugs", "--out", str(out)])
    assert r.exit_code == 0 and "78 records written" in r.output
    assert (
        out.read_text(encoding="utf-8-sig")
        .splitlines()[0]
        .startswith("code,name,kind,status,classified_on,decision,unit,")
    )
    r = run(main, ["export", "map", "--programme", "drugs", "--out", str(tmp_path / "d.pdf")])
    assert r.exit_code == 0, r.output
    r = run(main, ["status", "export", "--programme", "nope", "--out", str(out)])
    assert r.exit_code == 1 and "unknown programme 'nope'" in r.output
    r = run(main, ["status", "programmes"])
    assert "drugs" in r.output and "hotspot" in r.output


# -- a third programme, from a definition file alone -------------------------------------------
THIRD = """
code = "fire"
order = 3

[name]
vi = "Phòng cháy, chữa cháy"
en = "Fire safety"

[texts.vi]
{texts_vi}

[texts.en]
{texts_en}

[[statuses]]
code = "risk"
vi = "Nguy cơ cao"
en = "High risk"
color = "#0072B2"
hatch = "//"
gravity = 2
dated_by = "checked_on"

[[statuses]]
code = "safe"
vi = "An toàn"
en = "Safe"
color = "#56B4E9"
gravity = 1
dated_by = "checked_on"
stamps = "checked_on"

[not_listed]
vi = "Chưa kiểm tra"
en = "Not checked"

[headline]
status = "safe"
of = "listed"
target_pct = 90

[[fields]]
name = "checked_on"
type = "date"
vi = "Ngày kiểm tra"
en = "Checked on"
headers = ["Ngày kiểm tra"]
layer = "checked"

[[fields]]
name = "hydrants"
type = "number"
vi = "Số trụ nước"
en = "Hydrants"
headers = ["Số trụ nước"]
"""


@pytest.fixture
def third_programme(tmp_path):
    texts = {}
    for lang in ("vi", "en"):
        texts[f"texts_{lang}"] = "\n".join(
            f'{key} = "{key} ({lang}) {{pct}}"'
            if key == "headline_note"
            else f'{key} = "fire {key}"'
            for key in programmes.TEXT_KEYS
        )
    folder = tmp_path / "programmes"
    folder.mkdir()
    (folder / "fire.toml").write_text(THIRD.format(**texts), encoding="utf-8")
    yield folder
    programmes.configure()  # back to the app's own programmes


def test_a_third_programme_from_a_definition_file_alone(sample_settings, third_programme, tmp_path):
    store = Store(sample_settings["DATABASE_URL"])
    add_users(store)
    store.dispose()
    app = create_app({**sample_settings, "PROGRAMMES_DIR": str(third_programme), "TESTING": True})
    client = client_as(app, "admin")
    csv = tmp_path / "fire.csv"
    csv.write_text(
        "Mã,Trạng thái,Ngày kiểm tra,Số trụ nước\n16522,Nguy cơ cao,01/10/2026,3\n"
        "16417,safe,2026-09-15,12\n",
        encoding="utf-8",
    )
    r = import_file(client, csv, "fire")
    assert r.status_code == 200 and r.get_json()["created"] == 2, r.get_json()
    summary = client.get("/api/summary?programme=fire").get_json()
    assert summary["counts"] == {"risk": 1, "safe": 1, NOT_LISTED: 164}
    assert summary["safe_pct"] == 50.0
    html = client.get("/?programme=fire").get_data(as_text=True)
    assert "fire map_title" in html and "background: #0072B2" in html
    assert 'id="edit-hydrants"' in html and 'type="number"' in html
    unit = client.get("/api/communes/16522?programme=fire").get_json()
    assert (
        unit["record"]["hydrants"] == 3.0
        and unit["record"]["display"]["checked_on"] == "01/10/2026"
    )
    r = client.post(
        "/api/communes/16522/status?programme=fire",
        json={
            "status": "safe",
            "effective_on": "2026-11-30",
            "note": "kiểm tra lại",
            "version": unit["record"]["version"],
        },
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert r.status_code == 200 and r.get_json()["status"] == "safe"
    assert r.get_json()["record"]["checked_on"] == "2026-10-01"  # kept, not stamped again
    png = client.get("/export/map.png?programme=fire&dpi=50")
    assert png.status_code == 200 and "fire file_map" in png.headers["Content-Disposition"]
    with Image.open(io.BytesIO(png.data)) as im:
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    assert (pixels == (0x56, 0xB4, 0xE9)).all(axis=1).any()  # the definition's "safe" colour
    pdf = client.get("/export/pack.pdf?programme=fire&area=16522")
    assert "Số trụ nước" in PdfReader(io.BytesIO(pdf.data)).pages[-1].extract_text()
    geojson = client.get("/download/communes.geojson?programme=fire").get_json()
    props = next(f["properties"] for f in geojson["features"] if f["properties"]["code"] == "16417")
    assert props["checked"] == "2026-09-15" and props["hydrants"] == 12.0
    # the hotspot programme is as it was
    assert client.get("/api/summary").get_json()["listed"] == 62
    assert client.get("/api/summary?programme=drugs").get_json()["listed"] == 0
