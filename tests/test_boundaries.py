"""Boundary sets: reading, CRS, repairs, errors, display coverage and its cache."""

import json
import shutil
import zipfile

import fiona
import geopandas as gpd
import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from pyproj import CRS
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion

from geo_app.cli import main
from geo_app.errors import BoundaryError, NotPrepared
from geo_app.geodata import boundaries


def _vn2000_tm3(meridian: float) -> CRS:
    """VN-2000 / TM-3 with a provincial central meridian (k = 0.9999, x0 = 500 km)."""
    return ProjectedCRS(
        conversion=TransverseMercatorConversion(
            latitude_natural_origin=0,
            longitude_natural_origin=meridian,
            false_easting=500000,
            false_northing=0,
            scale_factor_natural_origin=0.9999,
        ),
        geodetic_crs=CRS.from_epsg(4756),
        name=f"VN-2000 / TM-3 {meridian}",
    )


@pytest.fixture(scope="module")
def layer(thanh_hoa):
    return boundaries.load(thanh_hoa)


@pytest.fixture
def copy_of_layer(tmp_path, thanh_hoa):
    dest = tmp_path / "layer"
    shutil.copytree(thanh_hoa, dest)
    for f in dest.iterdir():
        f.chmod(0o644)
    return dest


def test_shared_layer_loads_166_units_with_hai_binh_repaired(layer):
    assert len(layer.units) == 166
    assert layer.units["code"].is_unique
    assert layer.repaired == ["16645"]
    assert layer.units.geometry.is_valid.all()
    assert set(layer.units.geometry.geom_type) <= {"Polygon", "MultiPolygon"}
    hai_binh = layer.units.set_index("code").loc["16645"]
    assert hai_binh["name"] == "Hải Bình"
    assert layer.source_crs == "EPSG:4326"
    assert set(layer.units["kind"]) == {"Xã", "Phường"}
    assert (layer.units["kind"] == "Phường").sum() == 19


def _max_offset_m(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> float:
    a = a.set_index("code").to_crs(32648)
    b = b.set_index("code").loc[a.index].to_crs(32648)
    return max(
        shapely.hausdorff_distance(ga, gb)
        for ga, gb in zip(a.geometry.values, b.geometry.values, strict=True)
    )


@pytest.mark.parametrize(
    "crs",
    [CRS.from_epsg(5897), _vn2000_tm3(105.5)],
    ids=["EPSG5897-TM3-105", "TM3-105.5-custom"],
)
def test_vn2000_tm3_copy_loads_to_the_same_positions(tmp_path, layer, crs):
    path = tmp_path / "vn2000.shp"
    layer.units.to_crs(crs).to_file(path, engine="fiona", encoding="utf-8")
    assert "Vietnam_2000" in path.with_suffix(".prj").read_text()
    loaded = boundaries.load(path)
    assert loaded.units.crs.to_epsg() == 4326
    assert "4326" not in loaded.source_crs
    assert len(loaded.units) == 166
    assert _max_offset_m(layer.units, loaded.units) < 1.0


def test_zipped_shapefile_loads(tmp_path, thanh_hoa):
    zpath = tmp_path / "thanh-hoa.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in thanh_hoa.glob("thanh_hoa_communes_2025.*"):
            zf.write(f, f"data/{f.name}")
    loaded = boundaries.load(zpath)
    assert len(loaded.units) == 166
    assert loaded.repaired == ["16645"]


def test_geopackage_with_other_field_names_loads_through_the_mapping(tmp_path, layer):
    path = tmp_path / "units.gpkg"
    renamed = layer.units.rename(columns={"code": "ma_xa", "name": "ten_xa", "kind": "loai"})
    renamed.to_file(path, driver="GPKG", engine="fiona")
    with pytest.raises(BoundaryError, match="no field code"):
        boundaries.load(path)
    loaded = boundaries.load(path, boundaries.FieldMap("ma_xa", "ten_xa", "loai"))
    assert sorted(loaded.units["code"]) == sorted(layer.units["code"])


def test_shapefile_without_prj_is_an_error_naming_the_file(copy_of_layer):
    (copy_of_layer / "thanh_hoa_communes_2025.prj").unlink()
    with pytest.raises(BoundaryError, match=r"thanh_hoa_communes_2025\.shp: no \.prj"):
        boundaries.read(copy_of_layer)
    result = CliRunner().invoke(main, ["boundaries", "check", str(copy_of_layer), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["features"] == 0
    assert "thanh_hoa_communes_2025.shp" in report["errors"][0]


def test_zip_without_prj_is_an_error(tmp_path, thanh_hoa):
    zpath = tmp_path / "noprj.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in thanh_hoa.glob("thanh_hoa_communes_2025.*"):
            if f.suffix != ".prj":
                zf.write(f, f.name)
    with pytest.raises(BoundaryError, match=r"noprj\.zip: .*no \.prj"):
        boundaries.read(zpath)


def _rewrite_codes(src, dest, change):
    with fiona.open(src) as inp:
        meta = inp.meta
        feats = list(inp)
    with fiona.open(dest, "w", **meta) as out:
        for i, f in enumerate(feats):
            props = dict(f.properties)
            props["code"] = change(i, props["code"])
            out.write(fiona.Feature(geometry=f.geometry, properties=props))


def test_duplicate_and_empty_codes_fail_naming_them(tmp_path, thanh_hoa):
    dest = tmp_path / "dupes.shp"
    codes = {0: "16522", 5: "16522", 7: ""}
    _rewrite_codes(thanh_hoa / "thanh_hoa_communes_2025.shp", dest, lambda i, c: codes.get(i, c))
    report = boundaries.read(dest)
    assert not report.usable
    assert any("duplicate code(s): 16522" in e for e in report.errors)
    assert any("empty code in feature(s) 8" in e for e in report.errors)
    with pytest.raises(BoundaryError, match="16522"):
        boundaries.load(dest)
    result = CliRunner().invoke(main, ["boundaries", "check", str(dest), "--json"])
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out["features"] == 166 and out["repaired"] == ["16645"]
    assert any("16522" in e for e in out["errors"])


def test_check_cli_accepts_the_shared_layer(thanh_hoa):
    result = CliRunner().invoke(main, ["boundaries", "check", str(thanh_hoa), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["features"] == 166
    assert out["crs"] == "EPSG:4326"
    assert out["repaired"] == ["16645"]
    assert out["errors"] == []
    assert any("16645" in w for w in out["warnings"])


def test_unreadable_file_is_an_error(tmp_path):
    bad = tmp_path / "broken.shp"
    bad.write_bytes(b"not a shapefile at all")
    bad.with_suffix(".prj").write_text("GEOGCS[]")
    with pytest.raises(BoundaryError, match="broken.shp"):
        boundaries.read(bad)
    with pytest.raises(BoundaryError, match="no such file"):
        boundaries.read(tmp_path / "missing.shp")


def test_display_geometry_is_a_clean_simplified_coverage(display, layer):
    geoms = display.units.geometry.values
    assert len(geoms) == 166
    assert list(display.units["code"]) == list(layer.units["code"])
    assert bool(shapely.coverage_is_valid(geoms))
    assert shapely.is_valid(geoms).all()
    union = shapely.union_all(geoms)
    holes = sum(len(p.interiors) for p in shapely.get_parts(union))
    assert holes == 0
    # the source is not a coverage: that is why cleaning is needed
    assert not bool(shapely.coverage_is_valid(layer.units.geometry.values))
    before = shapely.get_num_coordinates(layer.units.geometry.values).sum()
    after = shapely.get_num_coordinates(geoms).sum()
    assert after < before
    assert display.stats["vertices_display"] == after


def test_display_cache_is_reused_and_invalidated_by_a_changed_file(tmp_path, copy_of_layer):
    cache = tmp_path / "cache"
    with pytest.raises(NotPrepared, match="geo-app boundaries prepare"):
        boundaries.prepare(copy_of_layer, cache, cached_only=True)
    first = boundaries.prepare(copy_of_layer, cache)
    again = boundaries.prepare(copy_of_layer, cache, cached_only=True)
    assert again.key == first.key
    assert np.array_equal(
        shapely.to_wkb(again.units.geometry.values), shapely.to_wkb(first.units.geometry.values)
    )
    shp = copy_of_layer / "thanh_hoa_communes_2025.shp"
    _rewrite_codes(shp, tmp_path / "changed.shp", lambda i, c: "99999" if i == 0 else c)
    for ext in (".shp", ".shx", ".dbf"):
        shutil.copy(tmp_path / f"changed{ext}", shp.with_suffix(ext))
    with pytest.raises(NotPrepared):
        boundaries.prepare(copy_of_layer, cache, cached_only=True)
    changed = boundaries.prepare(copy_of_layer, cache)
    assert changed.key != first.key
    assert "99999" in set(changed.units["code"])


def test_prepare_cli_shows_progress(tmp_path, thanh_hoa, monkeypatch):
    monkeypatch.setenv("GEO_APP_CACHE_DIR", str(tmp_path / "c"))
    # a store of its own: one in instance/ (after `make run`) may hold the set prepared already
    monkeypatch.setenv("GEO_APP_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    result = CliRunner().invoke(main, ["boundaries", "prepare", str(thanh_hoa)])
    assert result.exit_code == 0, result.output
    assert "cleaning the coverage of 166 units" in result.output
    assert "166 units ready for display" in result.output
