"""Boundary sets in the store: WKB on SQLite and PostgreSQL, PostGIS overlays and neighbours,
the configured set imported at the first start, and display geometry made once for every server.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from conftest import THANH_HOA

from geo_app import config
from geo_app.geodata import boundaries, divisions
from geo_app.store import Store


def _settings(store: Store, **extra) -> dict:
    return config.load(
        {
            "DATABASE_URL": store.url,
            "BOUNDARIES": str(THANH_HOA),
            "CACHE_DIR": "",
            "SECRET_KEY": "x",
            **extra,
        }
    )


def test_a_set_goes_into_the_store_and_comes_back_the_same(geo_store):
    source = boundaries.load(THANH_HOA)
    h = boundaries.content_hash(THANH_HOA, boundaries.FieldMap())
    set_id = boundaries.store_set(geo_store, "2025", source, h, boundaries.FieldMap(), "cli", "me")
    row = geo_store.boundary_set("2025")
    assert row["id"] == set_id and row["units"] == 166 and row["content_hash"] == h
    assert row["source_crs"] == "EPSG:4326" and len(row["repaired"]) == 1
    back = boundaries.stored_set(geo_store, row).units
    assert list(back["code"]) == list(source.units["code"])
    assert list(back["name"]) == list(source.units["name"])
    assert back.geometry.geom_equals_exact(source.units.geometry, tolerance=0).all()
    assert geo_store.audit_entries(action="boundaries.add")[0]["target"] == "2025"


def test_display_geometry_is_made_once_and_read_by_every_server(geo_store, monkeypatch):
    settings = _settings(geo_store)
    made = []
    real = boundaries.build_display

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(boundaries, "build_display", counting)
    monkeypatch.setattr(boundaries, "_DECODED", {})
    with pytest.raises(boundaries.NotPrepared):
        boundaries.active_display(geo_store, settings)  # never made unless asked
    first = boundaries.active_display(geo_store, settings, compute=True)
    assert made == [1] and len(first.units) == 166
    # another server (another process: nothing in memory) on the same database
    monkeypatch.setattr(boundaries, "_DECODED", {})
    other = Store(geo_store.url)
    try:
        again = boundaries.active_display(other, settings)
        assert made == [1] and again.key == first.key
        assert again.units.geometry.geom_equals_exact(first.units.geometry, 1e-12).all()
        assert boundaries.active_display_key(other, settings) == first.key
    finally:
        other.dispose()
    # the configured file is imported once, not at every start
    assert len(geo_store.boundary_sets("2025")) == 1


def test_a_restart_without_the_files_serves_the_stored_set(geo_store, tmp_path, monkeypatch):
    settings = _settings(geo_store)
    shown = boundaries.active_display(geo_store, settings, compute=True)
    monkeypatch.setattr(boundaries, "_DECODED", {})
    gone = _settings(geo_store, BOUNDARIES=str(tmp_path / "no-such-folder"))
    again = boundaries.active_display(geo_store, gone)
    assert again.key == shown.key and len(again.units) == 166


def test_an_uploaded_set_of_the_current_division_replaces_the_map_once_prepared(geo_store):
    settings = _settings(geo_store)
    old = boundaries.active_display(geo_store, settings, compute=True)
    done = divisions.register(
        geo_store,
        THANH_HOA,
        "2025",
        None,
        None,
        fields=boundaries.FieldMap(),
        encoding="utf-8",  # another content hash: a new set of the same units
        replace=True,
        current="2025",
        actor="admin",
        source_door="web",
    )
    assert done.current and geo_store.boundary_set("2025")["origin"] == "web"
    # not prepared yet: the map keeps the old set meanwhile
    assert boundaries.active_display_key(geo_store, settings) == old.key
    new = boundaries.active_display(geo_store, settings, compute=True)
    assert new.key != old.key and boundaries.active_display_key(geo_store, settings) == new.key
    # a restart with the same configured file keeps the administrator's set
    boundaries.import_default(geo_store, settings)
    assert geo_store.boundary_set("2025")["origin"] == "web"


def test_a_new_set_for_the_current_division_must_keep_the_units_with_records(
    geo_store, tmp_path, units
):
    from conftest import SAMPLE

    from geo_app.io import importer

    importer.run_import(geo_store, SAMPLE.read_bytes(), SAMPLE.name, units)
    smaller = boundaries.load(THANH_HOA).units
    smaller = smaller[smaller["code"] != "16522"]
    path = tmp_path / "smaller.gpkg"
    smaller.to_file(path, driver="GPKG", engine="fiona")
    with pytest.raises(divisions.MissingUnits) as info:
        divisions.register(
            geo_store, path, "2025", None, None, replace=True, current="2025", actor="admin"
        )
    assert "16522" in info.value.message and "nothing was registered" in info.value.message
    assert geo_store.boundary_sets("2025") == []


def _merged_set(tmp_path) -> tuple:
    """The province with Phường Quảng Phú and its first neighbour merged into one unit."""
    units = boundaries.load(THANH_HOA).units
    near = boundaries.neighbours(units, "16522")[0]
    merged = units[units["code"].isin(["16522", near])].geometry.union_all()
    rest = units[~units["code"].isin(["16522", near])]
    row = gpd.GeoDataFrame(
        {"code": ["99999"], "name": ["Hợp Nhất"], "kind": ["Phường"]},
        geometry=[merged],
        crs=units.crs,
    )
    out = gpd.GeoDataFrame(
        gpd.pd.concat([rest, row], ignore_index=True), geometry="geometry", crs=units.crs
    )
    path = tmp_path / "merged.gpkg"
    out.to_file(path, driver="GPKG", engine="fiona")
    return path, near


def test_overlay_and_neighbours_in_sql_with_postgis_or_with_shapely(geo_store, tmp_path):
    settings = _settings(geo_store)
    path, near = _merged_set(tmp_path)
    divisions.register(geo_store, path, "2026", shapely_day(), None, actor="test")
    pairs, how = divisions.overlay(geo_store, "2026", "2025", settings)
    expected = "postgis" if geo_store.has_postgis() else "shapely"
    assert how == expected
    by_old: dict[str, set] = {}
    for p in pairs:
        by_old.setdefault(p["old_code"], set()).add(p["new_code"])
    # the merged unit splits back into the two it was made of; every other unit is itself
    assert by_old["99999"] == {"16522", near}
    assert all(p["split"] for p in pairs if p["old_code"] == "99999")
    assert all(by_old[c] == {c} for c in by_old if c != "99999")
    assert len(by_old) == 165
    found, how = divisions.neighbours(geo_store, "16522", settings)
    assert how == expected and near in found and "16522" not in found
    # the same answer as shapely's on the file, whichever path ran
    assert found == boundaries.neighbours(boundaries.load(THANH_HOA).units, "16522")
    with pytest.raises(divisions.GeoAppError):
        divisions.neighbours(geo_store, "00000", settings)


def shapely_day():
    import datetime as dt

    return dt.date(2026, 1, 1)


def test_postgis_is_used_only_where_it_is(geo_store):
    assert geo_store.has_postgis() == (
        "search_path%3Dt_" in geo_store.url and ",public" in geo_store.url
    )


def test_backup_keeps_the_stored_sets(geo_store):
    source = boundaries.load(THANH_HOA)
    h = boundaries.content_hash(THANH_HOA, boundaries.FieldMap())
    boundaries.store_set(geo_store, "2025", source, h, boundaries.FieldMap(), "cli", "me")
    data = geo_store.backup()
    assert len(data["tables"]["boundary_units"]) == 166
    geo_store.restore(data)
    back = boundaries.stored_set(geo_store, geo_store.boundary_set("2025")).units
    assert shapely.equals_exact(back.geometry.values, source.units.geometry.values, 0).all()
