"""Staff exports: the export dialog (its choices checked by the server, the pack made by a job it
follows and joins), the data downloads linked from the dialog and the list, and the import
template and guide of each programme. The browser tests share `test_browser`'s live server, its
real job worker and its browser."""

# ruff: noqa: F811  (the fixtures imported from test_browser are parameters by the same names)
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import openpyxl
import pytest
from conftest import csrf_token
from test_browser import (  # noqa: F401  (fixtures used by name)
    CHROMIUM,
    desktop,
    interior,
    live,
    open_map,
    page,
    phone,
    phone_page,
    playwright,
    requests_made,
    screen_point,
)

from geo_app.core import programme as programmes
from geo_app.core.names import match_key
from geo_app.io import importer
from geo_app.store import Store

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOWNLOAD_TYPES = {
    "csv": "text/csv",
    "xlsx": XLSX,
    "gpkg": "application/geopackage+sqlite3",
    "zip": "application/zip",
    "geojson": "application/geo+json",
}
PROGRAMMES = [p.code for p in programmes.all_programmes()]
DOCS = Path(__file__).resolve().parent.parent / "docs"


def screenshot(page, name: str, **options) -> None:
    """Write docs/NAME when GEO_APP_SCREENSHOTS=1."""
    if os.environ.get("GEO_APP_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / name), **options)


# -- the import template and guide ------------------------------------------------------------
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("code", PROGRAMMES)
def test_the_import_template_imports_with_no_problem(client, units, tmp_path, code, lang):
    r = client.get(f"/import/template.xlsx?programme={code}&lang={lang}")
    assert r.status_code == 200 and r.mimetype == XLSX
    assert r.headers["Content-Disposition"].startswith("attachment")
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    header, example = [[c.value for c in row] for row in sheet.iter_rows(max_row=2)]
    prog = programmes.get(code)
    keys = importer.header_keys(prog)
    read = {keys[match_key(h)] for h in header}
    assert read == {*importer.headers(prog), "status_since"}  # every column the importer reads
    assert all(example), dict(zip(header, example, strict=True))  # the example row is filled
    store = Store(f"sqlite:///{tmp_path / 'template.sqlite3'}")
    store.upgrade()
    try:
        result = importer.run_import(store, r.data, "template.xlsx", units, programme=code)
        assert result.created == 1 and not result.warnings, result.to_dict()
        (change,) = result.changes
        assert change["new_status"] == programmes.get(code).headline_status
    finally:
        store.dispose()


@pytest.mark.parametrize("code", PROGRAMMES)
def test_the_guide_lists_every_importable_column(client, code):
    r = client.get(f"/import/guide?programme={code}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    prog = programmes.get(code)
    columns = re.findall(r'<tr data-column="([a-z_]+)">', html)
    assert columns == [*importer.BASE_HEADERS, "status_since", *(f.name for f in prog.fields)]
    for f in prog.fields:
        for header in f.headers:
            assert f"<code>{header}</code>" in html, header
    for s in prog.statuses:
        if s.code == programmes.NOT_LISTED:
            continue
        assert s.label_vi in html and s.label_en in html
        for alias in s.aliases:
            assert alias in html, alias
    assert "dd/mm/yyyy" in html


def test_the_import_page_links_the_guide_and_template_of_each_programme(client):
    html = client.get("/import").get_data(as_text=True)
    for code in PROGRAMMES:
        query = "" if code == programmes.DEFAULT else f"?programme={code}"
        assert f'href="/import/guide{query}"' in html
        assert f'href="/import/template.xlsx{query}"' in html
    assert client.get("/import/guide?programme=nope").status_code == 400


# -- downloads linked ------------------------------------------------------------------------
def _download_links(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="(/download/[^"]+)"', html)]


@pytest.mark.parametrize("path", ["/", "/list", "/?programme=drugs", "/list?programme=drugs"])
def test_the_download_links_answer_with_the_right_type(client, path):
    links = _download_links(client.get(path).get_data(as_text=True))
    assert len(links) == len(DOWNLOAD_TYPES)
    for href in links:
        fmt = href.split("?")[0].rsplit(".", 1)[1]
        r = client.get(href)
        assert r.status_code == 200, (href, r.get_data(as_text=True)[:200])
        assert r.mimetype == DOWNLOAD_TYPES[fmt], href
        assert ("programme=drugs" in path) == ("drugs" in r.headers["Content-Disposition"])


def test_an_officer_sees_no_download_links(app):
    from conftest import client_as

    officer = client_as(app, "officer")
    assert _download_links(officer.get("/list").get_data(as_text=True)) == []
    assert 'id="export-dialog"' not in officer.get("/").get_data(as_text=True)


# -- the dialog's checks ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "query, field, words",
    [
        ("what=map_png&dpi=5000", "dpi", "50"),
        ("what=map_png&dpi=abc", "dpi", "600"),
        ("what=map_pdf&paper=letter", "paper", "A3"),
        ("what=pack&orientation=up", "orientation", ""),
        ("what=map_pdf&paper=slide&orientation=portrait", "orientation", "16:9"),
        ("what=pack&since=31/12/2025", "since", "dd/mm/yyyy"),
        ("what=pack&since=2099-01-01", "since", "30/11/2026"),  # today (the clock is frozen)
        ("what=pack&lang=fr", "lang", ""),
        ("what=nothing", "what", ""),
        ("what=map_png&area=99999", "area", "99999"),
    ],
)
def test_a_bad_choice_is_a_400_naming_the_field(client, query, field, words):
    r = client.get(f"/api/export/check?{query}")
    assert r.status_code == 400
    body = r.get_json()
    assert body["ok"] is False and body["field"] == field and words in body["error"]


def test_a_good_choice_answers_the_file_url(client):
    r = client.get(
        "/api/export/check?what=pack&paper=A3&orientation=portrait&title=Giao+ban&dpi=100"
        "&marking=MẬT&lang=en&area=16522&since=2026-01-01&as_of=2026-11-01"
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["kind"] == "pack" and body["url"].startswith("/export/pack.pdf?")
    assert body["params"] == {
        "paper": "A3",
        "orientation": "portrait",
        "title": "Giao ban",
        "dpi": "100",
        "marking": "MẬT",
        "lang": "en",
        "area": ["16522"],
        "since": "2026-01-01",
        "as_of": "2026-11-01",
    }
    r = client.get("/api/export/check?what=map_png&dpi=50&lang=en")
    assert r.get_json()["job"] is False  # quick: downloaded at once
    png = client.get(r.get_json()["url"])
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert client.get("/api/export/check?what=map_pdf&dpi=600").get_json()["job"] is False
    r = client.get("/api/export/check?what=map_png&dpi=300&area=16522")
    assert r.get_json()["job"] is True  # seconds: a background job
    assert r.get_json()["params"] == {"dpi": "300", "area": ["16522"], "format": "png"}


def test_a_map_job_makes_the_map_file(client):
    r = client.post(
        "/api/jobs",
        json={"kind": "map", "params": {"area": ["16522"], "dpi": "60", "format": "png"}},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    job = r.get_json()
    assert r.status_code == 200 and job["state"] == "done", job  # the test app runs jobs at once
    assert job["result_name"].startswith("ban-do-chuyen-hoa_16522_")
    png = client.get(job["result_url"])
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    bad = client.post(
        "/api/jobs",
        json={"kind": "map", "params": {"format": "jpg"}},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert bad.status_code == 400 and "format" in bad.get_json()["error"]


def test_asking_again_for_the_same_pack_joins_its_job(client):
    def post():
        return client.post(
            "/api/jobs",
            json={"kind": "pack", "params": {"area": ["16522"], "paper": "A3"}},
            headers={"X-CSRFToken": csrf_token(client)},
        ).get_json()

    first, second = post(), post()
    assert first["joined"] is False and second["joined"] is True
    assert first["id"] == second["id"]


# -- in the browser --------------------------------------------------------------------------
def test_the_dialog_makes_a_pack_with_progress_and_a_second_start_joins_it(page, live, interior):
    open_map(page, live)
    x, y = screen_point(page, interior("15187"))
    page.mouse.click(x, y)
    page.locator("#panel").wait_for(state="visible")
    page.click("#export-open")
    page.select_option("#export-what", "pack")
    page.select_option("#export-paper", "A3")
    page.check('input[name="orientation"][value="portrait"]')
    page.fill("#export-title-input", "Giao ban tháng 11")
    page.fill("#export-dpi", "100")
    page.check("#export-area")
    screenshot(page, "export-dialog.png")
    bar = page.locator("#export-bar")
    progress = page.locator("#export-progress")
    with page.expect_download(timeout=120_000) as info:
        page.click("#export-start")
        progress.wait_for(state="visible")
        page.wait_for_function(
            "() => ['queued', 'running', 'done'].includes("
            "document.getElementById('export-progress').dataset.state)"
        )
        seen = {bar.get_attribute("aria-valuenow")}
        page.click("#export-start")  # a second start: the same job
        page.wait_for_function(
            "() => /joined|đang được tạo|đã được tạo/i.test("
            "document.getElementById('export-progress-text').textContent)"
        )
        page.wait_for_function(
            "() => document.getElementById('export-progress').dataset.state === 'done'",
            timeout=120_000,
        )
        seen.add(bar.get_attribute("aria-valuenow"))
        screenshot(page, "export-dialog-done.png")
    assert bar.get_attribute("role") == "progressbar" and "100" in seen
    assert info.value.suggested_filename.startswith("ho-so-dia-ban_15187_")
    with open(info.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    store = live.app.extensions["geo_app"].store
    made = [
        j
        for j in store.jobs(limit=20)
        if j["params"].get("title") == "Giao ban tháng 11" and j["kind"] == "pack"
    ]
    assert len(made) == 1, made  # the second start joined the first job
    params = made[0]["params"]
    assert params["paper"] == "A3" and params["orientation"] == "portrait"
    assert params["dpi"] == "100" and params["area"] == ["15187"]


def test_the_guide_import_page_and_list_downloads_in_the_browser(page, live):
    page.goto(live.base + "/import/guide")
    rows = page.locator("#guide-columns tbody tr")
    assert rows.count() == len(importer.BASE_HEADERS) + 1 + len(programmes.get().fields)
    screenshot(page, "import-guide.png", full_page=True)
    page.goto(live.base + "/import")
    assert page.locator("#import-guides a.import-guide").first.is_visible()
    screenshot(page, "import-page.png")
    page.goto(live.base + "/list")
    links = page.locator("#list-downloads a[data-download]")
    assert links.count() == len(DOWNLOAD_TYPES) and links.first.is_visible()
    screenshot(page, "list-downloads.png")


def test_a_bad_dpi_is_said_in_the_dialog_and_escape_returns_to_the_button(page, live):
    open_map(page, live)
    page.focus("#export-open")
    page.keyboard.press("Enter")
    dialog = page.locator("#export-dialog")
    assert dialog.is_visible()
    page.fill("#export-dpi", "5000")
    page.click("#export-start")
    error = page.locator("#export-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "Độ phân giải phải là số nguyên từ 50 đến 600 dpi."
    assert page.locator("#export-dpi").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "export-dpi"
    screenshot(page, "export-dialog-error.png")
    assert dialog.is_visible()  # nothing was made; the dialog stays open
    page.geoapp_problems.remove(  # the check's answer, expected
        "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"
    )
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    assert page.evaluate("document.activeElement.id") == "export-open"


def test_on_a_phone_the_dialog_fits_and_its_targets_are_44_px(phone_page, live):
    open_map(phone_page, live)
    phone_page.click("#export-open")
    dialog = phone_page.locator("#export-dialog")
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] <= 844
    small = phone_page.evaluate(
        """() => [...document.querySelectorAll(
            '#export-open, #export-dialog button, #export-dialog select, #export-dialog input,'
            + ' #export-dialog label.export-choice, #export-dialog a')]
            .map(el => el.matches('input[type=radio]') ? el.closest('label') : el)
            .filter(el => el.getBoundingClientRect().height < 44)
            .map(el => el.id || el.textContent.trim())"""
    )
    assert small == []
    screenshot(phone_page, "export-dialog-phone.png")
