"""The map page, its JSON twin and the app's own assets, through the Flask test client."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner
from conftest import SAMPLE_EVENTS, STATUSES, add_users, client_as

from geo_app import clock, create_app
from geo_app.cache import LRUCache
from geo_app.cli import main as cli_main
from geo_app.core.records import Record
from geo_app.store import Change, Store
from geo_app.web import pages
from geo_app.web.common import Payload

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "geo_app" / "translations"
GZIP = {"Accept-Encoding": "gzip"}
#: The sample data's figures (geo_app/sample_data/status_sample_2025.csv).
SAMPLE_COUNTS = {"hotspot": 24, "in_progress": 22, "transformed": 12, "relapsed": 4}


def text(html: str) -> str:
    """Return the visible text of a page: tags, scripts and styles removed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def fetch(client, url: str, **kwargs) -> tuple[int, bytes]:
    """Return the status and body of a GET, closing the response (static files are streamed)."""
    with client.get(url, **kwargs) as r:
        return r.status_code, r.get_data()


def page(client, url: str = "/", **kwargs) -> str:
    r = client.get(url, **kwargs)
    assert r.status_code == 200, r.data[:300]
    return r.get_data(as_text=True)


def admin_client(app):
    """Return a client of `app` logged in as the administrator (made when missing)."""
    store = app.extensions["geo_app"].store
    if store.user("admin") is None:
        add_users(store)
    return client_as(app, "admin")


def change_status(app, code: str, status: str) -> None:
    svc = app.extensions["geo_app"]
    old = svc.store.record(svc.division, code)
    new = Record(code, status, designated_on=dt.date(2025, 7, 1))
    svc.store.apply(
        [Change(new, old.record if old else None, dt.date(2025, 7, 2), note="test")],
        actor="test",
        source="test",
    )


# -- the map page -----------------------------------------------------------------------------
def test_map_page_is_vietnamese_by_default_with_figures_legend_and_banner(client):
    html = page(client)
    assert '<html lang="vi">' in html
    visible = text(html)
    assert "Bản đồ chuyển hóa địa bàn" in visible
    assert "Đơn vị trong diện 62" in visible
    assert "Đã chuyển hóa 12 19,4 % số đơn vị trong diện" in visible
    for code, count in SAMPLE_COUNTS.items():
        assert re.search(rf'data-figure="{code}".*?figure-value">{count}<', html, re.S), code
    legend = re.findall(r'legend-label">([^<]+)</span>\s*<span class="legend-count">(\d+)<', html)
    counts = {**SAMPLE_COUNTS, "not_listed": 104}
    assert legend == [(s.label_vi, str(counts[s.code])) for s in STATUSES]
    assert 'id="sample-banner"' in html and "Dữ liệu mẫu" in visible
    assert 'id="search-input"' in html and 'id="status-filter"' in html
    for s in STATUSES:
        assert f'<option value="{s.code}">' in html
    assert "Units listed" not in visible and "Transformed" not in visible


def script_url(html: str) -> str:
    return re.search(r'<script src="(/map/script-[^"]+)"', html).group(1).replace("&amp;", "&")


def test_map_page_holds_the_folium_map_and_only_the_statuses(client, display):
    html = page(client)
    assert re.search(r'<div class="folium-map" id="map_\w+"', html)
    statuses = json.loads(
        re.search(
            r'<script id="geoapp-statuses" type="application/json">(.*?)</script>', html
        ).group(1)
    )
    assert len(statuses) == 62 and statuses["16522"] == "transformed"
    assert '"coordinates"' not in html  # never the polygons
    data_url = f"/map/units-{display.key}.topojson"
    assert f'<link rel="preload" href="{data_url}"' in html
    assert "<iframe" not in html
    script = client.get(script_url(html))
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    js = script.get_data(as_text=True)
    assert "L.map(" in js and f'fetch("{data_url}"' in js
    assert 'document.getElementById("geoapp-statuses")' in js
    assert "immutable" in script.headers["Cache-Control"]


def test_map_page_has_no_inline_script(client):
    """The page works under a Content-Security-Policy that forbids inline scripts."""
    html = page(client)
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert " src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def test_map_script_is_the_same_for_every_revision_and_worker(client, app, sample_settings):
    before = script_url(page(client))
    change_status(app, "14845", "transformed")
    assert script_url(page(client)) == before
    other = create_app({**sample_settings, "TESTING": True})
    assert script_url(page(admin_client(other))) == before  # another worker renders the same
    other.extensions["geo_app"].store.dispose()
    assert script_url(page(client, "/?lang=en")) != before


@pytest.mark.parametrize(
    "url", ["/map/script-0123abcd-vi.js", "/map/script-{key}-fr.js", "/map/script-{key}.js"]
)
def test_map_script_of_another_set_or_language_is_404(client, display, url):
    assert client.get(url.format(key=display.key)).status_code == 404


def test_every_asset_the_page_names_is_served_by_the_app(client):
    html = page(client)
    urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'url\("([^"]+)"\)', html)
    assert not [u for u in urls if re.match(r"^(https?:)?//", u)], "outside URL in the page"
    # downloads (the Export menu) are tested in test_the_export_menu_links_work
    assets = [u for u in urls if u.startswith("/") and not u.startswith("/export/")]
    assert any("leaflet.js" in u for u in assets) and any("BeVietnamPro" in u for u in assets)
    for url in assets:
        assert fetch(client, url)[0] == 200, url
    for css in ("/static/map.css", "/vendor/leaflet/leaflet.css"):
        body = fetch(client, css)[1].decode()
        assert not re.search(r"url\((['\"]?)(https?:)?//", body), css
    assert b"https://" not in fetch(client, "/static/map.js")[1]


def test_english_is_switchable_and_remembered(client):
    r = client.get("/?lang=en")
    html = r.get_data(as_text=True)
    assert '<html lang="en">' in html
    visible = text(html)
    assert "Area transformation map" in visible
    assert "Units listed 62" in visible and "19.4 % of listed" in visible
    for s in STATUSES:
        assert s.label_en in visible
    assert "Bản đồ chuyển hóa" not in visible and "Đơn vị trong diện" not in visible
    assert "lang=en" in r.headers["Set-Cookie"]
    assert '<html lang="en">' in page(client, "/")  # the cookie keeps the choice
    assert '<html lang="vi">' in page(client, "/?lang=vi")
    assert '<html lang="vi">' in page(client, "/?lang=xx")  # unknown: the remembered language


def test_updated_date_is_dd_mm_yyyy_in_vietnamese(client, app):
    stamp = app.extensions["geo_app"].store.records("2025")["16522"].updated_at
    today = clock.local_date(stamp)
    assert f"Cập nhật {today:%d/%m/%Y}" in text(page(client))
    assert f"Updated {today.isoformat()}" in text(page(client, "/?lang=en"))


def test_page_is_cached_per_revision_and_a_change_shows_on_the_next_load(client, app):
    first = client.get("/")
    cache = app.extensions["geo_app"].cache
    misses = cache.misses
    again = client.get("/")
    assert cache.misses == misses  # served from memory
    assert again.headers["ETag"] == first.headers["ETag"]
    assert client.get("/", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert first.headers["Cache-Control"] == "private, no-store"
    change_status(app, "14845", "transformed")  # hotspot → transformed
    after = client.get("/")
    assert after.headers["ETag"] != first.headers["ETag"]
    html = after.get_data(as_text=True)
    assert re.search(r'data-figure="transformed".*?figure-value">13<', html, re.S)
    assert '"14845": "transformed"' in html
    assert client.get("/", headers={"If-None-Match": first.headers["ETag"]}).status_code == 200


def test_languages_are_cached_apart(client, app):
    vi, en = client.get("/?lang=vi"), client.get("/?lang=en")
    assert vi.headers["ETag"] != en.headers["ETag"]
    assert "Cookie" in en.headers["Vary"]


def test_page_and_map_data_are_sent_gzip(client, display):
    plain = client.get("/?lang=vi")
    packed = client.get("/?lang=vi", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    url = f"/map/units-{display.key}.geojson"
    data = client.get(url, headers=GZIP)
    assert data.status_code == 200
    assert data.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in data.headers["Vary"]
    assert "immutable" in data.headers["Cache-Control"]
    geojson = json.loads(gzip.decompress(data.data))
    assert len(geojson["features"]) == 166
    script = client.get(script_url(plain.get_data(as_text=True)), headers=GZIP)
    assert script.headers["Content-Encoding"] == "gzip"
    # the first-load budget: HTML, map script and map data, gzip, under 150 KB
    assert len(packed.data) + len(script.data) + len(data.data) < 150 * 1024
    again = client.get(url, headers={**GZIP, "If-None-Match": data.headers["ETag"]})
    assert again.status_code == 304 and not again.data


def test_the_map_loads_topojson_a_third_of_the_geojson_and_kept_for_every_server(
    client, app, display
):
    from geo_app.webmap import topology

    url = f"/map/units-{display.key}.topojson"
    data = client.get(url, headers=GZIP)
    assert data.status_code == 200 and data.headers["Content-Encoding"] == "gzip"
    assert "immutable" in data.headers["Cache-Control"]
    topo = json.loads(gzip.decompress(data.data))
    assert topo["type"] == "Topology"
    features = topology.decode(topo)
    assert sorted(f["properties"]["code"] for f in features) == sorted(display.units["code"])
    geojson = client.get(f"/map/units-{display.key}.geojson", headers=GZIP)
    assert len(data.data) * 2.5 < len(geojson.data)  # 30 KB against 89 KB
    # encoded once, kept in the store: another server (a new app on the same database) reads it
    store = app.extensions["geo_app"].store
    kept = store.prepared(f"topology-{topology.VERSION}-{display.key}")
    assert kept is not None and kept[1] == gzip.decompress(data.data)
    assert client.get("/map/units-0123456789abcdef.topojson").status_code == 404


def test_map_data_of_a_set_the_store_holds_is_sent_even_when_not_this_workers_current(
    client, app, display
):
    """A page made on a worker that already saw a new boundary set names that set's map data;
    another worker, still on the old set for a moment, sends it too (from the store), never
    the old set's under the new key."""
    from geo_app.geodata import boundaries
    from geo_app.webmap import topology

    store = app.extensions["geo_app"].store
    other = "f" * 32  # a second set in the store: the same units under another key
    units = display.units
    payload = boundaries._payload(other, "another set", "EPSG:4326", [], {}, units)
    boundaries._store_display(store, other, "another-set", 100, 150, payload)
    r = client.get(f"/map/units-{other}.topojson")
    assert r.status_code == 200
    codes = sorted(f["properties"]["code"] for f in topology.decode(json.loads(r.data)))
    assert codes == sorted(display.units["code"])
    # what is not a display key, or no set the store holds, is a 404, never a traceback
    for key in (f"topology-{topology.VERSION}-{display.key}", "e" * 32, "../x"):
        r = client.get(f"/map/units-{key}.topojson")
        assert r.status_code == 404 and b"Traceback" not in r.data, key


def test_map_data_of_another_boundary_set_is_404(client):
    r = client.get("/map/units-0123456789abcdef.geojson")
    assert r.status_code == 404
    assert b"Traceback" not in r.data


def test_map_page_without_prepared_geometry_is_a_503_page(settings, tmp_path):
    app = create_app({**settings, "CACHE_DIR": str(tmp_path / "empty"), "TESTING": True})
    client = admin_client(app)
    r = client.get("/")
    assert r.status_code == 503
    assert "boundaries prepare" in r.get_data(as_text=True)
    api = client.get("/api/summary")
    assert api.status_code == 503 and "boundaries prepare" in api.json["error"]
    app.extensions["geo_app"].store.dispose()


@pytest.mark.parametrize(
    ("tiles", "expected"),
    [("none", None), ("osm", "tile.openstreetmap.org"), ("http://t.lan/{z}/{x}/{y}.png", "t.lan")],
)
def test_tiles_setting_reaches_the_page(sample_settings, tiles, expected):
    app = create_app({**sample_settings, "TILES": tiles, "TESTING": True})
    client = admin_client(app)
    js = page(client, script_url(page(client)))
    if expected is None:
        assert "L.tileLayer" not in js
    else:
        assert "L.tileLayer" in js and expected in js
    app.extensions["geo_app"].store.dispose()


def test_bad_tiles_setting_is_an_error_page_not_a_traceback(sample_settings):
    app = create_app({**sample_settings, "TILES": "google", "TESTING": True})
    r = admin_client(app).get("/")
    assert r.status_code == 500
    assert "GEO_APP_TILES" in r.get_data(as_text=True) and b"Traceback" not in r.data
    app.extensions["geo_app"].store.dispose()


def test_no_sample_banner_without_sample_records(settings, units):
    store = Store(settings["DATABASE_URL"])
    store.apply([Change(Record("16522", "hotspot"), None, dt.date(2025, 7, 1))], "t", "t")
    store.dispose()
    app = create_app({**settings, "TESTING": True})
    html = page(admin_client(app))
    assert 'id="sample-banner"' not in html
    assert re.search(r'data-figure="listed".*?figure-value">1<', html, re.S)
    app.extensions["geo_app"].store.dispose()


# -- assets -----------------------------------------------------------------------------------
def test_vendor_files_are_served_with_long_caching(client):
    r = client.get("/vendor/leaflet/leaflet.js?v=1.9.3", headers=GZIP)
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert "immutable" in r.headers["Cache-Control"]
    assert b"Leaflet" in gzip.decompress(r.data)[:2000]
    assert client.get("/vendor/leaflet/images/layers.png").mimetype == "image/png"
    assert client.get("/vendor/jquery/jquery.min.js").status_code == 200
    font = client.get("/vendor/fonts/BeVietnamPro-Regular.ttf")
    assert font.status_code == 200 and font.mimetype == "font/ttf"
    assert "immutable" not in client.get("/vendor/leaflet/leaflet.js").headers["Cache-Control"]


@pytest.mark.parametrize(
    "url",
    [
        "/vendor/nothing/leaflet.js",
        "/vendor/leaflet/missing.js",
        "/vendor/leaflet/../__init__.py",
        "/vendor/leaflet/%2e%2e/__init__.py",
        "/vendor/fonts/..%2f..%2fLICENSE",
    ],
)
def test_vendor_route_serves_nothing_else(client, url):
    assert client.get(url).status_code == 404


# -- the API ----------------------------------------------------------------------------------
def test_communes_geojson_lists_every_unit_with_its_status(client):
    r = client.get("/api/communes.geojson")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    features = json.loads(r.data)["features"]
    assert len(features) == 166
    props = {f["properties"]["code"]: f["properties"] for f in features}
    assert all(set(p) == {"code", "name", "kind", "status", "status_label"} for p in props.values())
    assert props["16522"]["status"] == "transformed"
    assert props["16522"]["status_label"] == "Đã chuyển hóa"
    counts = {s: sum(p["status"] == s for p in props.values()) for s in SAMPLE_COUNTS}
    assert counts == SAMPLE_COUNTS
    en = json.loads(client.get("/api/communes.geojson?lang=en").data)["features"]
    assert {f["properties"]["status_label"] for f in en} == {s.label_en for s in STATUSES}
    etag = r.headers["ETag"]
    assert client.get("/api/communes.geojson", headers={"If-None-Match": etag}).status_code == 304


def test_commune_details_hold_the_record_and_history(client):
    r = client.get("/api/communes/16522")
    assert r.status_code == 200
    d = r.json
    assert (d["code"], d["kind"], d["name"]) == ("16522", "Phường", "Quảng Phú")
    assert (d["status"], d["status_label"]) == ("transformed", "Đã chuyển hóa")
    assert d["sample"] is True
    rec = d["record"]
    assert rec["designated_on"] == "2022-12-15"
    assert rec["display"] == {
        "designated_on": "15/12/2022",
        "target_on": "30/06/2023",
        "transformed_on": "16/03/2023",
    }
    assert rec["unit"] == "Công an phường Quảng Phú"
    assert rec["problems"] == ["trộm cắp tài sản", "đánh nhau, gây rối trật tự công cộng"]
    listed, h = d["history"]  # listed when designated, then transformed: both from the row
    assert (listed["new_status"], listed["effective_on"]) == ("hotspot", "2022-12-15")
    assert (h["new_status"], h["new_status_label"], h["old_status_label"]) == (
        "transformed",
        "Đã chuyển hóa",
        "Trọng điểm, phức tạp",
    )
    assert h["effective_on_display"] == "16/03/2023"
    assert {listed["dated_by"], h["dated_by"]} == {"row"}
    assert h["changed_at_display"] == "30/11/2026 10:00"  # recorded at FROZEN, Vietnam time
    en = client.get("/api/communes/16522?lang=en").json
    assert en["status_label"] == "Transformed"
    assert en["record"]["display"]["designated_on"] == "2022-12-15"


def test_commune_details_follow_a_change_at_once(client, app):
    change_status(app, "16522", "relapsed")
    d = client.get("/api/communes/16522").json
    assert d["status"] == "relapsed"
    assert [h["new_status"] for h in d["history"]] == ["hotspot", "transformed", "relapsed"]
    assert d["history"][2]["old_status_label"] == "Đã chuyển hóa"


def test_commune_without_a_record_is_not_listed(client):
    d = client.get("/api/communes/14848").json
    assert d["status"] == "not_listed"
    assert d["status_label"] == "Không thuộc diện"
    assert d["record"] is None and d["history"] == [] and d["sample"] is False


@pytest.mark.parametrize(
    ("url", "status", "needle"),
    [
        ("/api/communes/99999", 404, "99999"),
        ("/api/communes/no%20such", 400, "not a unit code"),
        ("/api/communes/%3Cscript%3E", 400, "not a unit code"),
        ("/api/communes/" + "1" * 17, 400, "not a unit code"),
        ("/api/communes/16522?lang=fr", 400, "lang"),
        ("/api/communes.geojson?lang=", 400, "lang"),
        ("/api/summary?lang=de", 400, "lang"),
        ("/api/search", 400, "q is required"),
        ("/api/search?q=%20%20", 400, "q is required"),
        ("/api/search?q=" + "a" * 101, 400, "too long"),
        ("/api/search?q=quang&limit=abc", 400, "whole number"),
        ("/api/search?q=quang&limit=0", 400, "between"),
        ("/api/search?q=quang&limit=51", 400, "between"),
        ("/api/nothing", 404, ""),
    ],
)
def test_bad_api_requests_are_json_errors(client, url, status, needle):
    r = client.get(url)
    assert r.status_code == status
    assert r.mimetype == "application/json"
    assert r.json["status"] == status and needle in r.json["error"]
    assert b"Traceback" not in r.data


def test_summary_gives_the_figures(client):
    d = client.get("/api/summary").json
    assert d["units"] == 166 and d["listed"] == 62
    assert d["counts"] == {**SAMPLE_COUNTS, "not_listed": 104}
    assert d["transformed_pct"] == 19.4
    assert d["sample"] is True and d["revision"] == SAMPLE_EVENTS
    assert [row["code"] for row in d["legend"]] == [s.code for s in STATUSES]
    en = client.get("/api/summary?lang=en").json
    assert en["labels"]["hotspot"] == "Hotspot" and en["legend"][0]["label"] == "Hotspot"


def test_search_finds_units_with_or_without_diacritics(client):
    d = client.get("/api/search?q=quang phu").json
    assert d["matches"] == [{"code": "16522", "kind": "Phường", "name": "Quảng Phú", "exact": True}]
    assert client.get("/api/search?q=Quảng Phú").json["matches"][0]["code"] == "16522"
    several = client.get("/api/search?q=dong tien").json["matches"]
    assert {m["code"] for m in several} == {"15724", "15853"}
    assert len(client.get("/api/search?q=hoang&limit=2").json["matches"]) == 2
    assert client.get("/api/search?q=xyzxyz").json["matches"] == []


def test_healthz(client):
    assert client.get("/healthz").json == {"ok": True, "revision": SAMPLE_EVENTS}


# -- error pages ------------------------------------------------------------------------------
def test_unknown_page_is_a_translated_page(client, app):
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "Trang này không tồn tại" in r.get_data(as_text=True)
    r = app.test_client().get("/no-such-page?lang=en")
    assert "This page does not exist" in r.get_data(as_text=True)
    assert b"Traceback" not in r.data


# -- catalogues -------------------------------------------------------------------------------
def _catalogue(lang: str):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_committed_mo_is_the_compiled_po(lang):
    po = _catalogue(lang)
    compiled = io.BytesIO()
    write_mo(compiled, po)
    compiled.seek(0)
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
        committed = read_mo(f)
    fresh = read_mo(compiled)
    as_dict = lambda cat: {m.id: m.string for m in cat if m.id}  # noqa: E731
    assert as_dict(committed) == as_dict(fresh), "run: pybabel compile -d geo_app/translations"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_string_of_the_code_is_translated(lang):
    method_map = [("geo_app/**.py", "python"), ("templates/**.html", "jinja2")]
    found = {
        msg[2] if isinstance(msg[2], str) else msg[2][0]
        for msg in extract_from_dir(
            str(ROOT),
            method_map,
            keywords={"_": None, "gettext": None, "lazy_gettext": None, "N_": None},
        )
    }
    catalogue = {m.id: m.string for m in _catalogue(lang) if m.id}
    missing = sorted(m for m in found if not catalogue.get(m))
    assert not missing, f"untranslated in {lang}: {missing}; see README 'Map and API'"
    assert len(found) >= 40


# -- serve ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_gunicorn_on_the_configured_data(sample_settings):
    port = _free_port()
    env = {
        **os.environ,
        "GEO_APP_DATABASE_URL": sample_settings["DATABASE_URL"],
        "GEO_APP_BOUNDARIES": sample_settings["BOUNDARIES"],
        "GEO_APP_CACHE_DIR": sample_settings["CACHE_DIR"],
        "GEO_APP_SECRET_KEY": "test",
    }
    cmd = [sys.executable, "-m", "geo_app.cli", "serve", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    server, body = r.headers["Server"], json.loads(r.read())
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert "gunicorn" in server.lower()
        assert body == {"ok": True, "revision": SAMPLE_EVENTS}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert "Bản đồ chuyển hóa địa bàn" in r.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()


def test_serve_stops_with_a_message_when_the_boundaries_cannot_be_read(tmp_path, monkeypatch):
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(tmp_path / "missing"))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", str(tmp_path / "cache"))
    # a store of its own: one in instance/ (after `make run`) holds a boundary set, and the
    # server would start from it
    monkeypatch.setenv("GEO_APP_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    result = CliRunner().invoke(cli_main, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


# -- the in-memory cache ----------------------------------------------------------------------
def test_cache_drops_the_least_recently_used_by_count_and_by_bytes():
    cache = LRUCache(size=3, max_bytes=10_000)
    for i in range(4):
        cache.get(("k", i), lambda i=i: i)
    assert len(cache) == 3 and cache.misses == 4
    assert cache.get(("k", 1), lambda: "new") == 1  # kept, and now the most recent
    big = Payload.of(os.urandom(6000), "application/octet-stream")
    cache.get(("big",), lambda: big)
    assert cache.get(("big",), lambda: None) is big
    assert cache.get(("k", 2), lambda: "made again") == "made again"  # evicted for the bytes
    huge = Payload.of(os.urandom(20_000), "application/octet-stream")
    assert cache.get(("huge",), lambda: huge) is huge  # larger than the bound: kept alone
    assert len(cache) == 1


def test_warm_renders_the_page_before_the_first_request(app):
    pages.warm(app)
    cache = app.extensions["geo_app"].cache
    client = admin_client(app)
    misses = cache.misses
    assert client.get("/").status_code == 200
    assert client.get("/?lang=en").status_code == 200
    assert cache.misses == misses


def test_the_export_dialog_links_the_data_downloads_and_checks_its_choices(client):
    import re

    html = client.get("/").get_data(as_text=True)
    assert 'id="export-dialog"' in html and 'id="export-open"' in html
    hrefs = re.findall(r'href="(/download/communes\.[a-z]+)"', html)
    assert sorted(h.rsplit(".", 1)[1] for h in hrefs) == ["csv", "geojson", "gpkg", "xlsx", "zip"]
    r = client.get("/api/export/check?what=map_pdf&paper=A3&orientation=portrait&title=T")
    assert r.status_code == 200 and r.json["kind"] == "map"
    r = client.get(r.json["url"])
    assert r.status_code == 200 and r.mimetype == "application/pdf"
