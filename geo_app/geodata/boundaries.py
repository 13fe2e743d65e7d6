"""Boundary sets: display geometry (made, cached, stored), the default set, what is active.

Reading a set is in `reading.py`, crosswalks and neighbours in `crosswalk.py`; this module
re-exports their public names, so callers keep using `boundaries.X`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_app import config
from geo_app.errors import BoundaryError, NotPrepared, StoreUnavailable
from geo_app.geodata.crosswalk import (  # noqa: F401  (re-exported: callers use boundaries.X)
    CROSSWALK_COLUMNS,
    neighbours,
    overlay_crosswalk,
    read_crosswalk,
)
from geo_app.geodata.reading import (  # noqa: F401  (re-exported: callers use boundaries.X)
    MIN_COVERAGE,
    OFFICIAL_CODE,
    VIETNAM_BOUNDS,
    WGS84,
    BoundarySet,
    FieldMap,
    TextReading,
    _crs_text,
    _metric_crs,
    coverage,
    fingerprint,
    install_copy,
    load,
    read,
)

LOGGER = logging.getLogger(__name__)
#: Bumped whenever the display algorithm changes, so old cache files are not reused.
ALGORITHM_VERSION = "1"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class Display:
    """Display geometry: a clean, simplified polygon coverage in EPSG:4326, one row per unit."""

    key: str
    units: gpd.GeoDataFrame
    source_crs: str
    repaired: list[str]
    stats: dict[str, Any]


def content_hash(path: str | Path, fields: FieldMap, encoding: str | None = None) -> str:
    """Return the hash that identifies a boundary set's content: its files' bytes, the field
    mapping and the encoding, i.e. everything its units are read from."""
    digest = hashlib.sha256()
    for part in (fingerprint(path), repr(fields), encoding or ""):
        digest.update(part.encode())
    return digest.hexdigest()


def params_hash(gap_width: float, tolerance: float) -> str:
    """Return the hash of the display settings (and of the algorithm's version)."""
    digest = hashlib.sha256()
    for part in (ALGORITHM_VERSION, repr(float(gap_width)), repr(float(tolerance))):
        digest.update(part.encode())
    return digest.hexdigest()[:32]


def display_key(set_hash: str, gap_width: float, tolerance: float) -> str:
    """Return the key of a set's display geometry: content hash and display settings."""
    digest = hashlib.sha256()
    for part in (set_hash, params_hash(gap_width, tolerance)):
        digest.update(part.encode())
    return digest.hexdigest()[:32]


def build_display(
    bset: BoundarySet,
    gap_width: float = 100.0,
    tolerance: float = 150.0,
    progress: Progress = _quiet,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Make display geometry: coverage_clean, then coverage_simplify, in a metric CRS.

    Parameters
    ----------
    gap_width:
        Gaps and slivers narrower than this many metres are closed.
    tolerance:
        Simplification tolerance in metres; neighbours keep sharing their edges.

    Returns
    -------
    tuple
        The units in EPSG:4326 and statistics (vertices before and after, seconds per step).
    """
    metric = _metric_crs(bset.units)
    source = bset.units.to_crs(metric)
    geoms = source.geometry.values
    stats: dict[str, Any] = {"metric_crs": _crs_text(metric), "units": len(geoms)}
    stats["vertices_source"] = int(shapely.get_num_coordinates(geoms).sum())
    progress(f"cleaning the coverage of {len(geoms)} units (gaps under {gap_width:g} m)")
    t0 = time.perf_counter()
    cleaned = shapely.coverage_clean(geoms, gap_width=gap_width)
    stats["seconds_clean"] = round(time.perf_counter() - t0, 3)
    progress(f"simplifying with tolerance {tolerance:g} m")
    t0 = time.perf_counter()
    simple = shapely.coverage_simplify(cleaned, tolerance)
    stats["seconds_simplify"] = round(time.perf_counter() - t0, 3)
    lost = np.flatnonzero(shapely.is_empty(simple))
    if len(lost):  # a unit narrower than the gap width must not vanish from the map
        simple[lost] = geoms[lost]
    stats["vertices_display"] = int(shapely.get_num_coordinates(simple).sum())
    out = gpd.GeoDataFrame(
        bset.units[["code", "name", "kind"]].copy(),
        geometry=gpd.GeoSeries(simple, crs=metric).to_crs(WGS84).values,
        crs=WGS84,
    )
    return out, stats


def _cache_file(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"display-{key}.json"


def _payload(key: str, source: str, source_crs: str, repaired, stats, units) -> dict[str, Any]:
    return {
        "key": key,
        "source": source,
        "source_crs": source_crs,
        "repaired": list(repaired),
        "stats": stats,
        "units": [
            {"code": c, "name": n, "kind": k, "wkb": shapely.to_wkb(g, hex=True)}
            for c, n, k, g in zip(
                units["code"], units["name"], units["kind"], units.geometry.values, strict=True
            )
        ],
    }


def _from_payload(payload: dict[str, Any], key: str) -> Display:
    rows = payload["units"]
    geoms = shapely.from_wkb([r["wkb"] for r in rows])
    units = gpd.GeoDataFrame(
        pd.DataFrame({k: [r[k] for r in rows] for k in ("code", "name", "kind")}),
        geometry=gpd.GeoSeries(geoms, crs=WGS84).values,
        crs=WGS84,
    )
    return Display(key, units, payload["source_crs"], payload["repaired"], payload["stats"])


def _write_cache(cache_dir: Path, key: str, payload: dict[str, Any]) -> None:
    config.make_dir(cache_dir)
    cached = _cache_file(cache_dir, key)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    tmp.replace(cached)  # atomic: another process never reads half a file


def _read_cache(cached: Path, key: str) -> Display:
    return _from_payload(json.loads(cached.read_text(encoding="utf-8")), key)


def _store_display(store, key: str, set_hash: str, gap: float, tol: float, payload) -> None:
    body = gzip.compress(json.dumps(payload).encode(), compresslevel=6, mtime=0)
    meta = {"source": payload["source"], "units": len(payload["units"])}
    meta["stats"] = payload["stats"]
    store.save_prepared(key, "display", set_hash, params_hash(gap, tol), meta, body)


#: Displays decoded in this process, by key (a few: one per boundary set in use).
_DECODED: dict[str, Display] = {}
_DECODED_MAX = 4


def _remember(display: Display) -> Display:
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.pop(next(iter(_DECODED)))
    _DECODED[display.key] = display
    return display


def stored_display(store, key: str, known: bool = False) -> Display | None:
    """Return the display geometry the store holds under `key` (decoded once per process).

    `known`: the key was just read from this store (`active_display_key`), so a copy decoded
    earlier is used without asking the store again.
    """
    if key in _DECODED and (known or store.has_prepared(key)):
        return _DECODED[key]
    found = store.prepared(key)
    if found is None:
        return None
    _meta, body = found
    return _remember(_from_payload(json.loads(gzip.decompress(body)), key))


def prepare(
    path: str | Path,
    cache_dir: str | Path | None,
    fields: FieldMap | None = None,
    encoding: str | None = None,
    gap_width: float = 100.0,
    tolerance: float = 150.0,
    progress: Progress = _quiet,
    cached_only: bool = False,
    store=None,
) -> Display:
    """Return display geometry for the boundary set at `path`, from the store or the disk
    cache if current, else made now (and kept in both).

    The key is the set's content hash (the source files' bytes, fields, encoding) and the
    settings, so a changed file is prepared again, and a set prepared by one server is read by
    every other from the store (`Store.prepared`).

    Parameters
    ----------
    cache_dir:
        Folder of the on-disk cache (None: the store only).
    cached_only:
        Raise `NotPrepared` instead of computing (web requests never compute).
    store:
        The store whose prepared geometry is read and written (optional).

    Raises
    ------
    BoundaryError
        When the set is not usable.
    NotPrepared
        When `cached_only` and nothing current is cached.
    """
    fields = fields or FieldMap()
    path = Path(path)
    set_hash = content_hash(path, fields, encoding)
    key = display_key(set_hash, gap_width, tolerance)
    if store is not None:
        found = stored_display(store, key)
        if found is not None:
            return found
    cached = _cache_file(Path(cache_dir), key) if cache_dir else None
    if cached is not None and cached.exists():
        payload = json.loads(cached.read_text(encoding="utf-8"))
        if store is not None:  # prepared on this disk before the store kept it: share it
            _store_display(store, key, set_hash, gap_width, tolerance, payload)
        return _from_payload(payload, key)
    if cached_only:
        raise NotPrepared(
            f"the boundary set {path.name} has not been prepared for display; "
            "run `geo-app boundaries prepare` (it is never done inside a web request)"
        )
    progress(f"reading {path}")
    t0 = time.perf_counter()
    bset = load(path, fields, encoding)
    seconds_read = time.perf_counter() - t0
    units, stats = build_display(bset, gap_width, tolerance, progress)
    stats["seconds_read"] = round(seconds_read, 3)
    payload = _payload(key, str(path), bset.source_crs, bset.repaired, stats, units)
    if cached is not None:
        _write_cache(Path(cache_dir), key, payload)
    if store is not None:
        _store_display(store, key, set_hash, gap_width, tolerance, payload)
    progress(f"prepared: {stats['vertices_source']} → {stats['vertices_display']} vertices")
    return Display(key, units, bset.source_crs, bset.repaired, stats)


# -- boundary sets in the store ----------------------------------------------------------------
def units_wkb(bset: BoundarySet) -> list[dict[str, Any]]:
    """Return the units of a set as the store keeps them: code, name, kind, wkb."""
    return [
        {"code": c, "name": n, "kind": k, "wkb": shapely.to_wkb(g)}
        for c, n, k, g in zip(
            bset.units["code"],
            bset.units["name"],
            bset.units["kind"],
            bset.units.geometry.values,
            strict=True,
        )
    ]


def stored_set(store, row: dict[str, Any]) -> BoundarySet:
    """Return a stored boundary set (`Store.boundary_set`'s row) as read from its file."""
    rows = store.boundary_units(row["id"])
    units = gpd.GeoDataFrame(
        pd.DataFrame({k: [r[k] for r in rows] for k in ("code", "name", "kind")}),
        geometry=gpd.GeoSeries(shapely.from_wkb([r["wkb"] for r in rows]), crs=WGS84).values,
        crs=WGS84,
    )
    return BoundarySet(
        Path(row["source"]), row["source_crs"], units, row["repaired"], row["warnings"], []
    )


def store_set(
    store,
    division: str,
    bset: BoundarySet,
    set_hash: str,
    fields: FieldMap,
    origin: str,
    actor: str,
    source: str = "",
) -> int:
    """Keep a validated boundary set in the store as `division`'s set in force; return its id."""
    return store.save_boundary_set(
        division,
        set_hash,
        units_wkb(bset),
        origin=origin,
        source=source or str(bset.path),
        source_crs=bset.source_crs,
        fields={"code": fields.code, "name": fields.name, "kind": fields.kind},
        repaired=bset.repaired,
        warnings=bset.warnings,
        actor=actor,
    )


def prepare_stored(
    store,
    row: dict[str, Any],
    gap_width: float,
    tolerance: float,
    progress: Progress = _quiet,
) -> Display:
    """Return the display geometry of a stored set, making and keeping it if need be."""
    key = display_key(row["content_hash"], gap_width, tolerance)
    found = stored_display(store, key)
    if found is not None:
        return found
    progress(f"reading the boundary set of division {row['division']} from the store")
    bset = stored_set(store, row)
    units, stats = build_display(bset, gap_width, tolerance, progress)
    payload = _payload(key, row["source"], bset.source_crs, bset.repaired, stats, units)
    _store_display(store, key, row["content_hash"], gap_width, tolerance, payload)
    progress(f"prepared: {stats['vertices_source']} → {stats['vertices_display']} vertices")
    return _remember(Display(key, units, bset.source_crs, bset.repaired, stats))


def import_default(store, settings: dict[str, Any], progress: Progress = _quiet) -> dict | None:
    """Import the configured boundary set (GEO_APP_BOUNDARIES) into the store when its content
    is new there: at the first start, and whenever the configured file changes.

    A set given to the current division later (an administrator's upload) stays in force
    while the configured file does not change. When the file is gone, the store's set serves.

    Returns
    -------
    dict or None
        The division's set in force (`Store.boundary_set`), None when there is none at all.

    Raises
    ------
    BoundaryError
        When the configured file is unusable, or missing while the store has no set either.
    """
    division = settings["DIVISION"]
    path = Path(settings["BOUNDARIES"])
    fields = FieldMap.from_settings(settings)
    encoding = settings["ENCODING"] or None
    if path.exists():
        set_hash = content_hash(path, fields, encoding)
        last = store.boundary_set(division, origin="settings")
        if last is None or last["content_hash"] != set_hash:
            progress(f"importing the boundary set {path} into the store")
            bset = _load_once(path, fields, encoding, set_hash)
            store_set(store, division, bset, set_hash, fields, "settings", "settings")
    try:
        current = store.boundary_set(division)
    except StoreUnavailable:
        if path.exists():
            raise
        current = None  # say what is missing first: the file
    if current is None:
        raise BoundaryError(
            f"{path}: no such file or folder, and the store holds no boundary set of division "
            f"{division}; set GEO_APP_BOUNDARIES to a boundary file"
        )
    return current


#: Sets read in this process, by content hash (tests make many stores of the same file).
_LOADED: dict[str, BoundarySet] = {}


def _load_once(path: Path, fields: FieldMap, encoding: str | None, set_hash: str) -> BoundarySet:
    if set_hash not in _LOADED:
        if len(_LOADED) >= 2:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[set_hash] = load(path, fields, encoding)
    return _LOADED[set_hash]


def active_display(
    store,
    settings: dict[str, Any],
    progress: Progress = _quiet,
    compute: bool = False,
    cache_dir: str | Path | None = None,
) -> Display:
    """Return the display geometry of the current division's set in force (the map's).

    The set in force is the newest the store holds for the division (`import_default` puts
    the configured one there). Its display geometry comes from the store, else from the disk
    cache of an older version (then kept in the store), else it is made now when `compute`
    (never in a web request). While a newer set waits to be prepared, the last prepared one
    serves.

    Raises
    ------
    NotPrepared
        When nothing is prepared and `compute` is false.
    """
    gap, tol = settings["GAP_WIDTH_M"], settings["SIMPLIFY_M"]
    current = import_default(store, settings, progress)
    key = display_key(current["content_hash"], gap, tol)
    found = stored_display(store, key)
    if found is not None:
        return found
    cache_dir = cache_dir if cache_dir is not None else settings.get("CACHE_DIR")
    cached = _cache_file(Path(cache_dir), key) if cache_dir else None
    if cached is not None and cached.exists():
        payload = json.loads(cached.read_text(encoding="utf-8"))
        _store_display(store, key, current["content_hash"], gap, tol, payload)
        return _remember(_from_payload(payload, key))
    if compute:
        return prepare_stored(store, current, gap, tol, progress)
    older = store.active_prepared(settings["DIVISION"], "display", params_hash(gap, tol))
    if older is not None:
        return stored_display(store, older)
    raise NotPrepared(
        f"the boundary set of division {settings['DIVISION']} has not been prepared for display; "
        "run `geo-app boundaries prepare` or start a preparation job (never inside a request)"
    )


def active_display_key(store, settings: dict[str, Any]) -> str | None:
    """Return the key of the display geometry the map shows now (one small query)."""
    return store.active_prepared(
        settings["DIVISION"],
        "display",
        params_hash(settings["GAP_WIDTH_M"], settings["SIMPLIFY_M"]),
    )


def prepare_from_settings(
    settings: dict[str, Any],
    progress: Progress = _quiet,
    cached_only: bool = False,
    store=None,
) -> Display:
    """Return display geometry of the configured boundary set (see `prepare`); with `store`,
    of the current division's set in force (see `active_display`)."""
    if store is not None:
        return active_display(store, settings, progress, compute=not cached_only)
    return prepare(
        settings["BOUNDARIES"],
        settings["CACHE_DIR"],
        FieldMap.from_settings(settings),
        settings["ENCODING"] or None,
        settings["GAP_WIDTH_M"],
        settings["SIMPLIFY_M"],
        progress,
        cached_only,
    )


def library_versions() -> dict[str, str]:
    """Return the versions of the geometry libraries boundary sets go through: GDAL (read by
    fiona), PROJ (pyproj) and GEOS (shapely)."""
    import fiona
    import pyproj

    return {
        "GDAL": f"{fiona.__gdal_version__} (fiona {fiona.__version__})",
        "PROJ": f"{pyproj.proj_version_str} (pyproj {pyproj.__version__})",
        "GEOS": f"{shapely.geos_version_string} (shapely {shapely.__version__})",
    }
