"""The map service (geo_app.webmap.maps), tested by content and without Flask."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from types import SimpleNamespace

import folium
import pytest
from conftest import STATUSES

from geo_app.core.programme import NOT_LISTED
from geo_app.core.records import Record, Standing
from geo_app.errors import GeoAppError
from geo_app.readmodel import View
from geo_app.webmap import maps

ASSETS = maps.Assets("/vendor/leaflet/leaflet.js", "/vendor/leaflet/leaflet.css", "/vendor/jq.js")
DATA_URL = "/map/units-test.geojson"


@pytest.fixture(scope="module")
def geometry(display) -> maps.UnitGeometry:
    return maps.UnitGeometry(display.key, display.units)


def stored(code: str, status: str, sample: bool = False, day: int = 1):
    return SimpleNamespace(
        record=Record(code, status),
        sample=sample,
        updated_at=dt.datetime(2025, 7, day, 9, 30, tzinfo=dt.UTC),
    )


# -- geometry payloads ----------------------------------------------------------------------
def test_map_data_has_every_unit_with_code_name_kind_only(geometry, display):
    data = json.loads(geometry.map_data())
    assert data["type"] == "FeatureCollection"
    assert len(data["features"]) == len(display.units) == 166
    props = {f["properties"]["code"]: f["properties"] for f in data["features"]}
    assert props["16522"] == {"code": "16522", "name": "Quảng Phú", "kind": "Phường"}
    assert all(set(p) == {"code", "name", "kind"} for p in props.values())
    assert {f["geometry"]["type"] for f in data["features"]} <= {"Polygon", "MultiPolygon"}


def test_coordinates_are_rounded_and_the_payload_fits_the_budget(geometry):
    body = geometry.map_data()
    decimals = {len(m) for m in re.findall(rb"\d\.(\d+)", body)}
    assert max(decimals) <= maps.COORD_DECIMALS
    # the first load's budget is 150 KB for page and map data together
    assert len(gzip.compress(body)) < 120 * 1024
    assert geometry.vertices == pytest.approx(14758, rel=0.02)


def test_bounds_cover_the_province(geometry):
    (south, west), (north, east) = geometry.bounds
    assert 19.0 < south < north < 21.0
    assert 104.0 < west < east < 106.5


def test_communes_geojson_joins_status_and_label(geometry):
    data = json.loads(geometry.communes_geojson({"16522": "transformed"}, "en"))
    props = {f["properties"]["code"]: f["properties"] for f in data["features"]}
    assert len(props) == 166
    assert props["16522"]["status"] == "transformed"
    assert props["16522"]["status_label"] == "Transformed"
    assert props["14845"]["status"] == NOT_LISTED
    assert props["14845"]["status_label"] == "Not listed"
    assert set(props["14845"]) == {"code", "name", "kind", "status", "status_label"}
    vi = json.loads(geometry.communes_geojson({"16522": "transformed"}, "vi"))
    assert vi["features"][0]["properties"]["status_label"] in {s.label_vi for s in STATUSES}


def test_unit_lookup(geometry):
    assert geometry.unit("16522") == {"code": "16522", "name": "Quảng Phú", "kind": "Phường"}
    assert geometry.unit("99999") is None


# -- statuses and figures (the read model's view of the units of the set) --------------------
def current_statuses(geometry, standing: Standing) -> dict[str, str]:
    return View("2025", 0, None, geometry.codes, standing).listed


def figures(geometry, standing: Standing) -> dict:
    return View("2025", 0, None, geometry.codes, standing).figures


def test_current_statuses_ignore_codes_outside_the_set(geometry):
    records = {"16522": stored("16522", "transformed"), "00001": stored("00001", "hotspot")}
    assert current_statuses(geometry, Standing(records)) == {"16522": "transformed"}


def test_figures_count_listed_units_and_flag_sample_data(geometry):
    records = {
        "16522": stored("16522", "transformed", day=3),
        "16417": stored("16417", "transformed"),
        "14845": stored("14845", "hotspot"),
        "15187": stored("15187", "relapsed", sample=True),
    }
    figs = figures(geometry, Standing(records))
    assert figs["units"] == 166
    assert figs["listed"] == 4
    assert figs["counts"] == {
        "hotspot": 1,
        "in_progress": 0,
        "transformed": 2,
        "relapsed": 1,
        NOT_LISTED: 162,
    }
    assert figs["transformed_pct"] == 50.0
    assert figs["sample"] is True
    assert figs["updated_on"] == "2025-07-03"
    real = figures(geometry, Standing({"16522": stored("16522", "hotspot")}))
    assert real["sample"] is False
    assert figures(geometry, Standing({}))["updated_on"] is None


def test_figures_count_the_roll_up_of_former_units(geometry):
    """A unit with no record of its own is listed through a former unit's record; the graver
    former record wins over the unit's own; the sample flag and date come from them too."""
    own = {"16522": stored("16522", "transformed", day=3)}
    former = {
        ("2024", "16417"): stored("16417", "hotspot", day=9, sample=True),  # into 16417 (new)
        ("2024", "16528"): stored("16528", "relapsed"),  # into 16522
        ("2024", "99999"): stored("99999", "hotspot"),  # into no unit of the set
    }
    pairs = [
        {"old_division": "2024", "old_code": "16417", "new_code": "16417", "split": False},
        {"old_division": "2024", "old_code": "16528", "new_code": "16522", "split": False},
        {"old_division": "2024", "old_code": "99999", "new_code": "00000", "split": False},
    ]
    standing = Standing(own, former, pairs)
    assert current_statuses(geometry, standing) == {"16417": "hotspot", "16522": "relapsed"}
    figs = figures(geometry, standing)
    assert figs["listed"] == 2
    assert figs["counts"]["relapsed"] == 1 and figs["counts"]["hotspot"] == 1
    assert figs["sample"] is True and figs["updated_on"] == "2025-07-09"
    figs = figures(geometry, Standing(own, {("2024", "99999"): former[("2024", "99999")]}, pairs))
    assert figs["listed"] == 1 and figs["sample"] is False


def test_legend_rows_follow_the_palette(geometry):
    rows = maps.status_legend({s.code: i for i, s in enumerate(STATUSES)}, "en")
    assert [r["code"] for r in rows] == [s.code for s in STATUSES]
    assert [r["color"] for r in rows] == [s.color for s in STATUSES]
    assert rows[0]["label"] == "Hotspot" and rows[1]["count"] == 1


# -- search ---------------------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["quang phu", "Quảng Phú", "QUANG PHU", "phuong quang phu"])
def test_search_finds_a_unit_typed_with_or_without_diacritics(geometry, typed):
    hits = maps.search(geometry, typed)
    assert hits[0] == {"code": "16522", "kind": "Phường", "name": "Quảng Phú", "exact": True}
    assert len(hits) == 1


def test_search_lists_every_unit_a_folded_name_matches(geometry):
    hits = maps.search(geometry, "dong tien")
    assert {(h["kind"], h["name"]) for h in hits} == {("Phường", "Đông Tiến"), ("Xã", "Đồng Tiến")}
    assert all(h["exact"] for h in hits)


def test_search_ranks_prefixes_first_and_respects_the_limit(geometry):
    hits = maps.search(geometry, "hoang", limit=3)
    assert len(hits) == 3
    assert all(h["name"].startswith("Hoằng") for h in hits)
    assert not any(h["exact"] for h in hits)
    assert maps.search(geometry, "16522")[0]["code"] == "16522"
    assert maps.search(geometry, "   ") == []
    assert maps.search(geometry, "zzzz") == []


# -- the folium map -------------------------------------------------------------------------
def _map(geometry, statuses=None, lang="vi", tiles="none") -> folium.Map:
    statuses = statuses if statuses is not None else {"16522": "transformed"}
    return maps.build_map(geometry, DATA_URL, statuses, lang, ASSETS, tiles=tiles)


def test_map_holds_a_status_layer_that_loads_geometry_from_the_app(geometry):
    m = _map(geometry)
    layers = [c for c in m._children.values() if isinstance(c, maps.StatusLayer)]
    assert len(layers) == 1
    as_dict = layers[0].to_dict()
    assert as_dict["data_url"] == DATA_URL
    assert as_dict["statuses"] == {"16522": "transformed"}
    assert as_dict["labels"]["transformed"] == "Đã chuyển hóa"
    names = [c["name"] for c in m.to_dict()["children"].values()]
    assert "StatusLayer" in names and "FitBounds" in names
    assert "TileLayer" not in names  # GEO_APP_TILES=none


def test_rendered_map_colours_units_from_the_fixed_palette(geometry):
    parts = maps.render_parts(_map(geometry, lang="en"), ASSETS)
    for s in STATUSES:
        assert s.color in parts.script
        assert json.dumps(s.label_en) in parts.script
    assert '"16522": "transformed"' in parts.script
    assert json.dumps(DATA_URL) in parts.script
    assert "bindTooltip" in parts.script and "geoapp:select" in parts.script
    assert f'id="{parts.map_name}"' in parts.html
    fit = parts.script[parts.script.index(".fitBounds(") :]
    for value in (*geometry.bounds[0], *geometry.bounds[1]):
        assert str(value) in fit[:200]


def test_rendered_map_loads_nothing_from_outside(geometry):
    parts = maps.render_parts(_map(geometry), ASSETS)
    assert "http://" not in parts.header + parts.script
    assert "https://" not in parts.header + parts.script
    for asset in re.findall(r'(?:src|href)="([^"]+)"', parts.header):
        assert asset in (ASSETS.leaflet_js, ASSETS.leaflet_css)
    for dropped in ("bootstrap", "awesome", "font-awesome", "glyphicons", "jquery"):
        assert dropped not in parts.header.lower()


def test_rendered_map_does_not_grow_with_statuses(geometry):
    few = maps.render_parts(_map(geometry, {}), ASSETS).script
    every = {code: "hotspot" for code in geometry.codes}
    many = maps.render_parts(_map(geometry, every), ASSETS).script
    assert len(many) - len(few) < 30 * len(geometry.codes)  # a status, not a polygon, per unit
    assert len(many) < 20_000  # no geometry embedded
    assert '"coordinates"' not in many


def test_jquery_is_added_only_when_the_script_uses_it(geometry):
    m = _map(geometry)
    assert "jq.js" not in maps.render_parts(m, ASSETS).header
    m2 = _map(geometry)
    m2.get_root().script.add_child(folium.Element("$(document).ready(function () {});"))
    assert ASSETS.jquery_js in maps.render_parts(m2, ASSETS).header


def test_canvas_is_used_for_large_sets(geometry, display):
    assert '"preferCanvas": false' in maps.render_parts(_map(geometry), ASSETS).script
    assert len(display.units) <= maps.CANVAS_ABOVE


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("osm", "tile.openstreetmap.org"),
        ("https://tiles.intranet.local/{z}/{x}/{y}.png", "tiles.intranet.local/{z}/{x}/{y}.png"),
    ],
)
def test_tiles_follow_the_setting(geometry, setting, expected):
    m = _map(geometry, tiles=setting)
    assert any(isinstance(c, folium.TileLayer) for c in m._children.values())
    assert expected in maps.render_parts(m, ASSETS).script


@pytest.mark.parametrize("bad", ["google", "http://tiles.local/tile.png"])
def test_a_bad_tiles_setting_is_a_clear_error(bad):
    with pytest.raises(GeoAppError, match="GEO_APP_TILES") as info:
        maps.tile_layer(bad)
    assert info.value.status == 500
    assert maps.tile_layer("none") is None
    assert maps.tile_layer("") is None


def test_statuses_can_come_from_the_page_and_renders_are_identical(geometry):
    def script() -> str:
        m = maps.build_map(geometry, DATA_URL, None, "vi", ASSETS, statuses_element="st")
        return maps.render_parts(m, ASSETS).script

    first = script()
    assert 'JSON.parse(\n                    document.getElementById("st").textContent' in first
    assert first == script()  # deterministic names: every worker renders the same file
    assert "L_NO_TOUCH" in first  # folium's inline header script moved into the script
    assert "<script>" not in maps.render_parts(_map(geometry), ASSETS).header
    with pytest.raises(ValueError):
        maps.StatusLayer(DATA_URL, None, {}, statuses_element=None)
    with pytest.raises(ValueError):
        maps.StatusLayer(DATA_URL, {}, {}, statuses_element="st")
