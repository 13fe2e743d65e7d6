"""Boundary files as third parties make them (issue 15, items 2 and 4).

Every broken file is generated here from the shared Thanh Hóa layer (used in place): legacy text
encodings without .cpg, a VN-2000 .prj without datum shift, the wrong central meridian, metres
behind a geographic .prj, swapped axes, GADM codes, a zip made on a Mac, upper-case names.
"""

from __future__ import annotations

import io
import json
import unicodedata
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner
from pyproj import CRS
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion

from geo_app.cli import main
from geo_app.core import vntext
from geo_app.errors import BoundaryError
from geo_app.geodata import boundaries, divisions
from geo_app.webmap import maps
from tests.conftest import THANH_HOA

# -- the tables --------------------------------------------------------------------------------
KNOWN = [
    # Unicode, TCVN3 bytes, VNI-Windows bytes
    ("Quảng Phú", b"Qu\xb6ng Ph\xf3", b"Qua\xfbng Phu\xf9"),
    ("Thanh Hóa", b"Thanh H\xe3a", b"Thanh Ho\xf9a"),
    ("Đông Sơn", b"\xa7\xabng S\xacn", b"\xd1o\xe2ng S\xf4n"),
    ("Phường", b"Ph\xad\xeang", b"Ph\xf6\xf4\xf8ng"),
    ("Xã", b"X\xb7", b"Xa\xf5"),
    ("Thị trấn", b"Th\xde tr\xcan", b"Th\xf2 tra\xe1n"),
]


@pytest.mark.parametrize("text, tcvn3, vni", KNOWN, ids=[k[0] for k in KNOWN])
def test_tcvn3_and_vni_tables_give_known_words(text, tcvn3, vni):
    assert vntext.decode_tcvn3(tcvn3) == text
    assert vntext.decode_vni(vni) == text
    assert vntext.encode_vni(text) == vni
    assert vntext.best_reading([tcvn3])[0] == "tcvn3"
    assert vntext.best_reading([vni])[0] == "vni"


def test_every_vietnamese_letter_round_trips_through_both_tables():
    letters = "".join(vntext.TCVN3.values()) + "".join(
        c for c in vntext.VNI.values() if c.islower()
    )
    for ch in sorted(set(letters)):
        assert vntext.decode_vni(vntext.encode_vni(ch)) == ch
        if ch.islower() or ch in "ĂÂĐÊÔƠƯ":
            assert vntext.decode_tcvn3(vntext.encode_tcvn3(ch)) == ch


def test_the_layer_names_read_as_vietnamese_in_every_encoding(layer):
    names = list(layer["name"])
    assert vntext.score(names) == 1.0
    for encode, name in ((vntext.encode_tcvn3, "tcvn3"), (vntext.encode_vni, "vni")):
        chosen, texts, _ = vntext.best_reading([encode(n) for n in names])
        assert chosen == name
        assert [vntext.name_case(t) for t in texts] == names


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def layer() -> gpd.GeoDataFrame:
    return boundaries.load(THANH_HOA).units


def cp1258(text: str) -> bytes:
    """Encode as Vietnamese Windows does: tone marks as combining characters."""
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


ENCODERS = {
    "tcvn3": vntext.encode_tcvn3,
    "vni": vntext.encode_vni,
    "utf-8": lambda t: t.encode("utf-8"),
    "cp1258": cp1258,
}


def legacy_shapefile(layer, folder: Path, encoding: str, stem: str = "xa") -> Path:
    """Write `layer` with its names and kinds in `encoding` bytes, with no .cpg (and LDID 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    g = layer.copy()
    for col in ("name", "kind"):
        g[col] = [ENCODERS[encoding](v).decode("latin-1") for v in g[col]]
    g.to_file(folder / f"{stem}.shp", engine="fiona", encoding="latin1")
    for cpg in folder.glob("*.cpg"):
        cpg.unlink()
    dbf = folder / f"{stem}.dbf"
    data = bytearray(dbf.read_bytes())
    data[29] = 0  # no language driver: nothing says what the bytes are
    dbf.write_bytes(bytes(data))
    return folder


def tm3(meridian: float, datum: CRS | None = None) -> CRS:
    return ProjectedCRS(
        conversion=TransverseMercatorConversion(
            latitude_natural_origin=0,
            longitude_natural_origin=meridian,
            false_easting=500000,
            false_northing=0,
            scale_factor_natural_origin=0.9999,
        ),
        geodetic_crs=datum or CRS.from_epsg(4756),  # VN-2000, with its shift to WGS 84
        name=f"VN-2000 / TM-3 {meridian}",
    )


#: A VN-2000 TM-3 .prj as some offices have it: a home-made datum, no TOWGS84.
NO_SHIFT_PRJ = (
    'PROJCS["VN_2000_TM3_105_30",GEOGCS["GCS_VN_2000",DATUM["D_Vietnam_2000_local",'
    'SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],'
    'PARAMETER["Central_Meridian",105.5],PARAMETER["Scale_Factor",0.9999],'
    'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
)
WGS84_PRJ = (THANH_HOA / "thanh_hoa_communes_2025.prj").read_text()


def projected(layer, folder: Path, crs: CRS, prj: str | None = None) -> Path:
    """Write `layer` in `crs` (UTF-8), then replace its .prj with `prj` if given."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "xa.shp"
    layer.to_crs(crs).to_file(path, engine="fiona", encoding="utf-8")
    if prj is not None:
        path.with_suffix(".prj").write_text(prj)
    return folder


def check_json(path: Path, *args: str) -> tuple[int, dict]:
    r = CliRunner().invoke(main, ["boundaries", "check", str(path), "--json", *args])
    assert "Traceback" not in r.output
    return r.exit_code, json.loads(r.output)


# -- legacy text -------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["tcvn3", "vni", "utf-8", "cp1258"])
def test_dbf_without_cpg_comes_out_as_correct_unicode(layer, tmp_path, encoding):
    folder = legacy_shapefile(layer, tmp_path / encoding, encoding)
    bset = boundaries.read(folder)
    assert bset.usable, bset.errors
    names = bset.units.set_index("code")["name"]
    assert names["16522"] == "Quảng Phú"
    assert list(bset.units["name"]) == list(layer["name"])
    assert set(bset.units["kind"]) == {"Xã", "Phường"}
    assert not [w for w in bset.warnings if "unknown kind" in w]
    assert bset.text["encoding"] == encoding
    if encoding != "utf-8":
        assert any("converted to Unicode: " in w for w in bset.warnings)


@pytest.mark.parametrize("encoding", ["cp1258", "tcvn3", "vni"])
def test_a_named_encoding_is_decoded_in_python_keeping_every_character(layer, tmp_path, encoding):
    folder = legacy_shapefile(layer, tmp_path / encoding, encoding)
    code, report = check_json(folder, "--encoding", encoding)
    assert code == 0, report["errors"]
    assert report["sample"][0]["name"] == layer["name"].iloc[0]  # "An Nông", not "An Nôn"
    bset = boundaries.read(folder, encoding=encoding)
    assert list(bset.units["name"]) == list(layer["name"])
    assert "code" in bset.units.columns


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_search_finds_quang_phu_in_a_legacy_set(layer, tmp_path, encoding):
    folder = legacy_shapefile(layer, tmp_path / encoding, encoding)
    display = boundaries.prepare(folder, tmp_path / "cache")
    hits = maps.search(maps.UnitGeometry(display.key, display.units), "quang phu")
    assert [h["code"] for h in hits if h["kind"] == "Phường"] == ["16522"]


def test_utf8_read_as_latin1_in_a_geopackage_is_repaired(layer, tmp_path):
    g = layer.copy()
    g["name"] = [n.encode("utf-8").decode("latin-1") for n in g["name"]]  # "Quáº£ng PhÃº"
    path = tmp_path / "mojibake.gpkg"
    g.to_file(path, driver="GPKG", engine="fiona")
    bset = boundaries.read(path)
    assert bset.units.set_index("code")["name"]["16522"] == "Quảng Phú"
    assert list(bset.units["name"]) == list(layer["name"])
    assert bset.text["encoding"] == "utf-8"
    assert bset.text["converted"] == sum(not n.isascii() for n in layer["name"])


# -- coordinates that lie ----------------------------------------------------------------------
def test_no_datum_shift_prj_is_warned_in_check_json_naming_the_datum(layer, tmp_path):
    folder = projected(layer, tmp_path / "noshift", tm3(105.5), NO_SHIFT_PRJ)
    code, report = check_json(folder)
    assert code == 0  # usable, but warned
    assert report["ballpark"] == "D_Vietnam_2000_local"
    assert any(
        "D_Vietnam_2000_local" in w and "ballpark" in w and "TOWGS84" in w
        for w in report["warnings"]
    )
    # the proper VN-2000 .prj is not warned
    code, report = check_json(projected(layer, tmp_path / "ok", tm3(105.5)))
    assert report["ballpark"] is None
    assert not [w for w in report["warnings"] if "ballpark" in w]


def test_wrong_central_meridian_is_warned_by_its_coverage(layer, tmp_path):
    folder = projected(layer, tmp_path / "meridian", tm3(105.5))
    (folder / "xa.prj").write_text(tm3(105.0).to_wkt("WKT1_ESRI"))
    code, report = check_json(folder)
    assert report["coverage"] < 0.9
    assert any("covers" in w and "central meridian" in w for w in report["warnings"])
    code, report = check_json(projected(layer, tmp_path / "right", tm3(105.5)))
    assert report["coverage"] > 0.99
    assert not [w for w in report["warnings"] if "covers" in w]


def test_metres_behind_a_geographic_prj_are_refused_everywhere(cli, layer, tmp_path):
    folder = projected(layer, tmp_path / "metres", tm3(105.5), WGS84_PRJ)
    code, report = check_json(folder)
    assert code == 1 and not report["usable"]
    assert any("not valid degrees" in e and "metres" in e for e in report["errors"])
    r = cli("boundaries", "import", str(folder), "--name", "2026", "--valid-from", "2026-01-01")
    assert r.exit_code == 1 and "not valid degrees" in r.output
    assert "2026" not in cli("divisions", "list").output


def test_swapped_longitude_and_latitude_are_refused(layer, tmp_path):
    swapped = layer.copy()
    swapped["geometry"] = shapely.transform(layer.geometry.values, lambda xy: xy[:, ::-1])
    folder = tmp_path / "swapped"
    folder.mkdir()
    swapped.to_file(folder / "xa.shp", engine="fiona", encoding="utf-8")
    bset = boundaries.read(folder)
    assert not bset.usable
    assert any("swapped" in e for e in bset.errors)
    with pytest.raises(BoundaryError, match="not valid degrees"):
        boundaries.load(folder)


def test_a_set_outside_vietnam_is_warned(layer, tmp_path):
    moved = layer.copy()
    moved["geometry"] = shapely.transform(layer.geometry.values, lambda xy: xy + [8.0, 0.0])
    path = tmp_path / "moved.gpkg"
    moved.to_file(path, driver="GPKG", engine="fiona")
    bset = boundaries.read(path)
    assert bset.usable
    assert any("outside Vietnam" in w for w in bset.warnings)
    assert not any("outside Vietnam" in w for w in boundaries.read(THANH_HOA).warnings)


# -- codes and zips ----------------------------------------------------------------------------
def test_gadm_codes_are_refused_naming_the_field_options(layer, tmp_path):
    g = layer.copy()
    g["ma_xa"] = g["code"]
    g["code"] = [f"VNM.57.{i}.1_1" for i in range(len(g))]
    path = tmp_path / "gadm.gpkg"
    g.to_file(path, driver="GPKG", engine="fiona")
    code, report = check_json(path)
    assert code == 1
    (error,) = report["errors"]
    assert "not official 5-digit codes" in error and "'VNM.57.0.1_1'" in error
    assert "--code-field" in error and "ma_xa" in error
    code, report = check_json(path, "--code-field", "ma_xa")
    assert code == 0


def test_numeric_codes_keep_their_leading_zeros(layer, tmp_path):
    g = layer.copy()
    g["code"] = [int(c) for c in g["code"]]
    path = tmp_path / "numeric.gpkg"
    g.to_file(path, driver="GPKG", engine="fiona")
    assert boundaries.read(path).units["code"].str.len().eq(5).all()


def test_a_zip_made_on_a_mac_loads(tmp_path):
    zpath = tmp_path / "mac.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in THANH_HOA.glob("thanh_hoa_communes_2025.*"):
            zf.write(f, f"ranh_gioi/{f.name}")
            zf.writestr(f"__MACOSX/ranh_gioi/._{f.name}", b"\x00\x05\x16\x07junk")
        zf.writestr("ranh_gioi/.DS_Store", b"junk")
    bset = boundaries.load(zpath)
    assert len(bset.units) == 166
    assert boundaries.fingerprint(zpath)


def test_upper_case_names_in_a_folder_are_found(tmp_path):
    folder = tmp_path / "upper"
    folder.mkdir()
    for f in THANH_HOA.glob("thanh_hoa_communes_2025.*"):
        (folder / ("XA" + f.suffix.upper())).write_bytes(f.read_bytes())
    bset = boundaries.load(folder)
    assert len(bset.units) == 166
    installed = boundaries.install_copy(folder, tmp_path / "installed")
    assert len(boundaries.load(installed).units) == 166


# -- registering and overlay ------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path, monkeypatch):
    from geo_app import config

    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    env = {
        "GEO_APP_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "GEO_APP_CACHE_DIR": str(tmp_path / "cache"),
        "GEO_APP_BOUNDARY_DIR": str(tmp_path / "instance" / "boundaries"),
    }
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0

    def invoke(*args):
        r = runner.invoke(main, list(args), env=env)
        assert "Traceback" not in r.output
        return r

    return invoke


def test_overlay_prints_shares_lists_doubtful_pairs_and_keeps_an_official_crosswalk(
    cli, layer, tmp_path
):
    # another maker's lines: every unit shifted 600 m east, so neighbours share slivers
    moved = layer.to_crs(32648)
    moved["geometry"] = shapely.transform(moved.geometry.values, lambda xy: xy + [600.0, 0.0])
    path = tmp_path / "other-maker.gpkg"
    moved.to_crs(4326).to_file(path, driver="GPKG", engine="fiona")
    r = cli("boundaries", "import", str(path), "--name", "2026", "--valid-from", "2026-01-01")
    assert r.exit_code == 0, r.output
    r = cli("divisions", "overlay", "2026", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert all(0.05 <= p["share"] <= 1 for p in out["pairs"])
    assert out["review"] and all(p["share"] < 0.25 for p in out["review"])
    assert out["coverage"] > 0.95
    r = cli("divisions", "overlay", "2026")
    assert "review:" in r.output and "%" in r.output
    # an official (CSV) crosswalk is not replaced without --replace
    crosswalk = THANH_HOA / "crosswalk_2024units_to_2025_vietnamadminunits.csv"
    assert cli("divisions", "crosswalk", str(crosswalk), "--old", "2024").exit_code == 0
    r = cli("divisions", "overlay", "2024")
    assert r.exit_code == 1 and "--replace" in r.output and "CSV" in r.output


def test_overlay_of_sets_that_do_not_overlap_is_a_clear_error(cli, layer, tmp_path):
    moved = layer.copy()
    moved["geometry"] = shapely.transform(layer.geometry.values, lambda xy: xy + [3.0, 0.0])
    path = tmp_path / "sea.gpkg"
    moved.to_file(path, driver="GPKG", engine="fiona")
    r = cli("boundaries", "import", str(path), "--name", "2026", "--valid-from", "2026-01-01")
    assert r.exit_code == 0 and "covers 0%" in r.output
    r = cli("divisions", "overlay", "2026")
    assert r.exit_code == 1 and "do not overlap" in r.output


def test_register_asks_confirmation_for_a_ballpark_datum(sqlite_store, layer, tmp_path):
    folder = projected(layer, tmp_path / "noshift", tm3(105.5), NO_SHIFT_PRJ)
    kwargs = {"dest_root": tmp_path / "inst", "valid_from": None, "valid_to": None}
    import datetime as dt

    kwargs["valid_from"] = dt.date(2026, 1, 1)
    with pytest.raises(divisions.Unconfirmed, match="D_Vietnam_2000_local"):
        divisions.register(sqlite_store, folder, "2026", confirm_ballpark=False, **kwargs)
    assert sqlite_store.divisions() == []
    done = divisions.register(sqlite_store, folder, "2026", confirm_ballpark=True, **kwargs)
    assert done.units == 166


def test_admin_upload_of_a_ballpark_set_needs_the_confirmation(client, tmp_path, layer, app):
    import html
    import re

    from tests.conftest import csrf_token

    folder = projected(layer, tmp_path / "noshift", tm3(105.5), NO_SHIFT_PRJ)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f.name)
    token = csrf_token(client)
    form = {"name": "2026", "valid_from": "2026-01-01", "csrf_token": token}
    r = client.post(
        "/admin/boundaries",
        data={**form, "file": (io.BytesIO(buf.getvalue()), "noshift.zip")},
        query_string={"lang": "en"},
    )
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 200, page[:2000]
    assert 'id="report-ballpark"' in page and 'name="confirm_ballpark"' in page
    accept_form = re.search(r'<form[^>]*id="accept-form".*?</form>', page, re.S).group(0)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', accept_form))
    r = client.post("/admin/boundaries/accept", data=fields, query_string={"lang": "en"})
    assert r.status_code == 400
    assert "ballpark" in html.unescape(r.get_data(as_text=True))
    store = app.extensions["geo_app"].store
    assert not any(d["name"] == "2026" for d in store.divisions())
    r = client.post(
        "/admin/boundaries/accept",
        data={**fields, "confirm_ballpark": "1"},
        query_string={"lang": "en"},
    )
    assert r.status_code == 303
    assert any(d["name"] == "2026" for d in store.divisions())


def test_admin_upload_of_metres_behind_a_geographic_prj_is_refused(client, tmp_path, layer, app):
    from tests.conftest import csrf_token

    folder = projected(layer, tmp_path / "metres", tm3(105.5), WGS84_PRJ)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f.name)
    form = {"name": "2026", "valid_from": "2026-01-01", "csrf_token": csrf_token(client)}
    r = client.post(
        "/admin/boundaries",
        data={**form, "file": (io.BytesIO(buf.getvalue()), "metres.zip")},
        query_string={"lang": "en"},
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "not valid degrees" in page
    assert 'id="accept-form"' not in page
    assert not any(d["name"] == "2026" for d in app.extensions["geo_app"].store.divisions())
