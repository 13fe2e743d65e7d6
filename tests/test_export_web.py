"""Briefing exports through the two doors: GET /export/... and `geo-app export ...`."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from click.testing import CliRunner
from PIL import Image
from pypdf import PdfReader

from geo_app.cli import main
from geo_app.store import Change


def test_map_png_is_an_attachment_of_the_asked_size(client):
    r = client.get("/export/map.png?dpi=50")
    assert r.status_code == 200
    assert r.mimetype == "image/png"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="ban-do-chuyen-hoa_')
    assert disposition.endswith('.png"')
    with Image.open(io.BytesIO(r.data)) as im:
        assert im.size == (585, 413)


def test_map_pdf_of_an_area_in_english(client):
    r = client.get("/export/map.pdf?area=16522&lang=en&paper=A3&orientation=portrait")
    assert r.status_code == 200
    assert r.mimetype == "application/pdf"
    assert 'filename="hotspot-map_16522_a3-portrait_' in r.headers["Content-Disposition"]
    page = PdfReader(io.BytesIO(r.data)).pages[0]
    assert "Area: Phường Quảng Phú and its neighbours" in page.extract_text()


def test_map_svg(client):
    r = client.get("/export/map.svg?paper=slide")
    assert r.status_code == 200
    assert r.mimetype == "image/svg+xml"
    assert r.data.lstrip().startswith(b"<?xml")


def test_pack_pdf(client):
    r = client.get("/export/pack.pdf?area=16522&area=16417")
    assert r.status_code == 200
    assert r.mimetype == "application/pdf"
    assert 'filename="ho-so-dia-ban_16522-16417_' in r.headers["Content-Disposition"]
    pages = PdfReader(io.BytesIO(r.data)).pages
    # The province, its tables (the list, the figures per unit), then one page per unit asked.
    assert len(pages) > 3
    assert "Phường Quảng Phú" in pages[-2].extract_text()
    assert pages[-1].extract_text().startswith("Đông Quang")


@pytest.mark.parametrize(
    "url, message",
    [
        ("/export/map.png?dpi=5000", "dpi: 5000 is out of range; use 50 to 600"),
        ("/export/map.png?paper=letter", "paper: &#39;letter&#39; is not a paper size"),
        ("/export/map.png?area=99999", "area: no unit has the code &#39;99999&#39;"),
        ("/export/map.jpg", "format: &#39;jpg&#39; is not an export format"),
        ("/export/map.png?colour=red", "unknown parameter &#39;colour&#39;"),
        ("/export/pack.pdf?lang=fr", "lang: &#39;fr&#39; is not a supported language"),
    ],
)
def test_a_bad_parameter_is_a_400_page_with_the_message(client, url, message):
    r = client.get(url)
    assert r.status_code == 400
    assert message in r.get_data(as_text=True)
    assert b"Traceback" not in r.data


def test_a_bad_parameter_is_json_when_json_is_asked(client):
    r = client.get("/export/map.png?orientation=up", headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert r.json["error"] == ("orientation: 'up' is not an orientation; use landscape or portrait")


def test_exports_are_cached_until_the_data_changes(app, client):
    first = client.get("/export/map.png?dpi=50")
    again = client.get("/export/map.png?dpi=50", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    store = app.extensions["geo_app"].store
    stored = store.record("2025", "16522")
    changed = stored.record.replace(status="relapsed")
    store.apply(
        [Change(changed, stored.record, dt.date(2025, 6, 1), expected_version=stored.version)],
        actor="test",
        source="test",
    )
    after = client.get("/export/map.png?dpi=50", headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != first.headers["ETag"]


# -- the CLI -----------------------------------------------------------------------------------
@pytest.fixture
def cli_env(sample_settings, monkeypatch):
    for key in ("DATABASE_URL", "BOUNDARIES", "CACHE_DIR"):
        monkeypatch.setenv(f"GEO_APP_{key}", str(sample_settings[key]))
    return sample_settings


def test_cli_export_map(cli_env, tmp_path):
    out = tmp_path / "map.png"
    result = CliRunner().invoke(main, ["export", "map", "--out", str(out), "--dpi", "60"])
    assert result.exit_code == 0, result.output
    assert "702×496 px" in result.output
    with Image.open(out) as im:
        assert im.size == (702, 496)


def test_cli_export_map_of_an_area_as_pdf(cli_env, tmp_path):
    out = tmp_path / "area.pdf"
    result = CliRunner().invoke(
        main,
        ["export", "map", "--out", str(out), "--area", "16522", "--title", "Hội nghị tháng 5"],
    )
    assert result.exit_code == 0, result.output
    text = PdfReader(out).pages[0].extract_text()
    assert "Hội nghị tháng 5" in text and "Phường Quảng Phú" in text


def test_cli_export_pack(cli_env, tmp_path):
    out = tmp_path / "pack.pdf"
    result = CliRunner().invoke(
        main, ["export", "pack", "--out", str(out), "--area", "16522,15187"]
    )
    assert result.exit_code == 0, result.output
    pages = PdfReader(out).pages
    assert f"{len(pages)} pages" in result.output
    assert len(pages) > 3  # the province and its tables come before the two units' pages
    assert "Phường Quảng Phú" in pages[-2].extract_text()


def test_cli_export_pack_since_adds_the_changes_page(cli_env, tmp_path):
    out = tmp_path / "pack.pdf"
    args = ["export", "pack", "--out", str(out), "--area", "16522"]
    plain = CliRunner().invoke(main, args)
    assert plain.exit_code == 0, plain.output
    plain_pages = len(PdfReader(out).pages)
    since = CliRunner().invoke(main, [*args, "--since", "2023-01-01"])
    assert since.exit_code == 0, since.output
    pages = PdfReader(out).pages
    assert len(pages) > plain_pages
    assert any("NHỮNG THAY ĐỔI TRONG KỲ" in p.extract_text() for p in pages)
    future = CliRunner().invoke(main, [*args, "--since", "2030-01-01"])
    assert future.exit_code == 1 and "in the future" in future.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["map", "--out", "x.png", "--paper", "A5"], "paper: 'A5' is not a paper size"),
        (["map", "--out", "x.gif"], "format: 'x.gif' does not end in .png, .pdf or .svg"),
        (["map", "--out", "x.png", "--dpi", "0"], "dpi: 0 is out of range"),
        (["map", "--out", "x.png", "--area", "123"], "area: no unit has the code '123'"),
        (["pack", "--out", "x.png"], "format: a briefing pack is a PDF"),
    ],
)
def test_cli_bad_option_exits_1_with_the_message(cli_env, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["export", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / args[2]).exists()
