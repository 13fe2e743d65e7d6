"""Crosswalks from old units to new: read a crosswalk file, or make one by overlay; neighbours."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo_app.core.names import nfc, split_kind
from geo_app.errors import BoundaryError
from geo_app.geodata.reading import _metric_crs

LOGGER = logging.getLogger(__name__)


# -- crosswalks: old units → new units -------------------------------------------------------
CROSSWALK_COLUMNS = ("old_code", "old_name", "new_code", "split")


def read_crosswalk(
    path: str | Path, new_units: list[dict[str, str]]
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Read an old → new crosswalk CSV (the shared one derived from `vietnamadminunits`).

    Columns: ``old_code, old_name`` (with its kind: "Thị trấn Kim Tân"), ``old_district``
    (optional), ``new_code``, ``new_name`` (optional, checked), ``split`` (True/False).

    Parameters
    ----------
    new_units:
        The units of the new division (code, name, kind): every ``new_code`` must be one.

    Returns
    -------
    tuple
        The old units (code, name, kind, parent) and the pairs (old_code, new_code, split,
        share, method).

    Raises
    ------
    BoundaryError
        Naming each bad row (the header is row 1).
    """
    import csv

    from geo_app.core.names import match_key

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoundaryError(f"{path.name}: cannot be read as UTF-8 text ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CROSSWALK_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BoundaryError(f"{path.name}: no column {', '.join(missing)}")
    by_code = {u["code"]: u for u in new_units}
    errors: list[str] = []
    old_units: dict[str, dict[str, str]] = {}
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for n, row in enumerate(reader, start=2):
        old_code = (row.get("old_code") or "").strip()
        new_code = (row.get("new_code") or "").strip()
        kind, name = split_kind(row.get("old_name") or "")
        split_text = (row.get("split") or "").strip().lower()
        if not old_code or not name:
            errors.append(f"row {n}: old_code and old_name are required")
            continue
        new = by_code.get(new_code)
        if new is None:
            errors.append(f"row {n}: new_code {new_code!r} is not a unit of the new division")
            continue
        new_name = (row.get("new_name") or "").strip()
        if new_name:
            new_kind, bare = split_kind(new_name)
            if match_key(bare) != match_key(new["name"]) or (new_kind and new_kind != new["kind"]):
                errors.append(
                    f"row {n}: new_code {new_code} is {new['kind']} {new['name']}, not {new_name}"
                )
                continue
        if split_text not in ("true", "false", "1", "0", "yes", "no", ""):
            errors.append(f"row {n}: split must be True or False (got {row.get('split')!r})")
            continue
        old_units[old_code] = {
            "code": old_code,
            "name": name,
            "kind": kind or "",
            "parent": nfc(row.get("old_district") or ""),
        }
        pairs[(old_code, new_code)] = {
            "old_code": old_code,
            "new_code": new_code,
            "split": split_text in ("true", "1", "yes"),
            "share": None,
            "method": "crosswalk",
        }
    if errors:
        raise BoundaryError(
            f"{path.name}: "
            + "; ".join(errors[:20])
            + (f"; and {len(errors) - 20} more" if len(errors) > 20 else ""),
            details=errors,
        )
    if not pairs:
        raise BoundaryError(f"{path.name}: the crosswalk has no rows")
    return list(old_units.values()), list(pairs.values())


def overlay_crosswalk(
    old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, min_share: float = 0.05
) -> list[dict[str, Any]]:
    """Derive old → new pairs from polygons, when both divisions have them.

    An old unit goes into every new unit that covers at least `min_share` of its area
    (measured in a metric CRS); it is split when that is more than one.

    Returns
    -------
    list
        Pairs (old_code, new_code, split, share, method="overlay").
    """
    metric = _metric_crs(new)
    a = old[["code", "geometry"]].to_crs(metric)
    b = new[["code", "geometry"]].to_crs(metric)
    areas = dict(zip(a["code"], a.geometry.area, strict=True))
    parts = gpd.overlay(
        a.rename(columns={"code": "old_code"}),
        b.rename(columns={"code": "new_code"}),
        how="intersection",
        keep_geom_type=True,
    )
    parts["share"] = parts.geometry.area / parts["old_code"].map(areas)
    kept = parts[parts["share"] >= min_share]
    counts = kept.groupby("old_code")["new_code"].nunique()
    return [
        {
            "old_code": r.old_code,
            "new_code": r.new_code,
            "split": bool(counts[r.old_code] > 1),
            "share": round(float(r.share), 4),
            "method": "overlay",
        }
        for r in kept.sort_values(["old_code", "share"], ascending=[True, False]).itertuples()
    ]


def neighbours(units: gpd.GeoDataFrame, code: str, within_m: float = 100.0) -> list[str]:
    """Return the codes of the units within `within_m` metres of unit `code` (sorted).

    Raises
    ------
    NotFound
        When there is no such unit.
    """
    from geo_app.errors import NotFound

    hit = np.flatnonzero(units["code"].to_numpy() == code)
    if not len(hit):
        raise NotFound(f"no unit {code} in the boundary set")
    metric = units.to_crs(_metric_crs(units))
    geoms = shapely.make_valid(metric.geometry.values)
    near = shapely.dwithin(geoms, geoms[hit[0]], within_m)
    near[hit[0]] = False
    return sorted(str(c) for c in units["code"].to_numpy()[near])
