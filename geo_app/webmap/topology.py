"""TopoJSON for the map: each border between two units is sent once, quantised, delta-encoded.

The display geometry is a clean polygon coverage (`geodata.boundaries.build_display`:
``coverage_clean`` then ``coverage_simplify``), so neighbours share their border vertex for
vertex. Here every ring is cut where three or more units meet (the junctions), the pieces
(arcs) are kept once whichever way round they run, and every coordinate becomes an integer on
a grid of `QUANTUM` degrees, written as the difference from the previous point. That is the
TopoJSON format (https://github.com/topojson/topojson-specification): the map's script decodes
it back to GeoJSON (`static/topology.js`) before Leaflet draws it.

Why not the `topojson` package: it takes minutes on the 3,321 units of the country and gains
nothing on a coverage whose borders already match; this encoder is vectorised with numpy and
takes about a second (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely

#: Grid step in degrees (1e-4 ≈ 11 m at the equator): finer than the 150 m simplification of
#: display geometry, so nothing visible moves; a unit's shape never depends on it.
QUANTUM = 1e-4
#: Bumped whenever the encoding changes (part of the cache key of what is kept in the store).
VERSION = "1"


def _rings(geom) -> list[list[np.ndarray]]:
    """Return the polygons of `geom` as lists of rings (exterior first), each an (n, 2) array
    without its closing point."""
    parts = shapely.get_parts(geom)
    out = []
    for poly in parts:
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        rings = [poly.exterior, *poly.interiors]
        out.append([np.asarray(r.coords)[:-1] for r in rings])
    return out


def _clean(ring: np.ndarray) -> np.ndarray:
    """Drop consecutive duplicate points (also across the closing point)."""
    if len(ring) == 0:
        return ring
    keep = np.any(ring != np.roll(ring, 1, axis=0), axis=1)
    if not keep.any():
        return ring[:1]
    return ring[keep]


def encode(
    geoms: Iterable[Any],
    properties: Iterable[Mapping[str, Any]],
    object_name: str = "units",
    quantum: float = QUANTUM,
) -> dict[str, Any]:
    """Return the TopoJSON topology of polygons `geoms` with their `properties`.

    Parameters
    ----------
    geoms:
        Polygons or MultiPolygons in EPSG:4326, ideally a clean coverage.
    properties:
        One mapping per geometry (code, name, kind...).
    quantum:
        Grid step in degrees.

    Returns
    -------
    dict
        ``{"type": "Topology", "transform", "bbox", "objects": {object_name: ...}, "arcs"}``.
    """
    geoms = list(geoms)
    properties = list(properties)
    bounds = shapely.total_bounds(np.asarray(geoms, dtype=object))
    x0, y0 = float(bounds[0]), float(bounds[1])

    # 1. every ring quantised, as integer points
    units: list[list[list[np.ndarray]]] = []
    for g in geoms:
        polys = []
        for rings in _rings(g):
            q = [_clean(np.round((r - (x0, y0)) / quantum).astype(np.int64)) for r in rings]
            q = [r for r in q if len(r) >= 3]
            if q and len(q[0]) >= 3:
                polys.append(q)
        if not polys:  # never let a unit vanish: keep its largest ring, however small
            ring = max((rs[0] for rs in _rings(g)), key=len)
            polys.append([np.round((ring - (x0, y0)) / quantum).astype(np.int64)])
        units.append(polys)

    all_rings = [r for polys in units for rings in polys for r in rings]
    # 2. junctions: points whose neighbours (previous, next) differ between their visits
    pts = np.concatenate(all_rings)
    key = (pts[:, 0] << 32) + pts[:, 1]
    prev_parts, next_parts = [], []
    for r in all_rings:
        k = (r[:, 0] << 32) + r[:, 1]
        prev_parts.append(np.roll(k, 1))
        next_parts.append(np.roll(k, -1))
    prev_k, next_k = np.concatenate(prev_parts), np.concatenate(next_parts)
    frame = pd.DataFrame(
        {"p": key, "lo": np.minimum(prev_k, next_k), "hi": np.maximum(prev_k, next_k)}
    ).drop_duplicates()
    counts = frame.groupby("p").size()
    junctions = set(counts.index[counts.to_numpy() > 1].tolist())

    # 3. cut rings at junctions, 4. keep each arc once
    arcs: list[np.ndarray] = []
    index: dict[bytes, int] = {}

    def arc_id(arc: np.ndarray) -> int:
        fwd = arc.tobytes()
        found = index.get(fwd)
        if found is not None:
            return found
        rev = arc[::-1].tobytes()
        found = index.get(rev)
        if found is not None:
            return ~found
        index[fwd] = len(arcs)
        arcs.append(arc)
        return len(arcs) - 1

    def ring_arcs(ring: np.ndarray) -> list[int]:
        k = (ring[:, 0] << 32) + ring[:, 1]
        cuts = [i for i, v in enumerate(k.tolist()) if v in junctions]
        if not cuts:  # a ring no other touches at 3+: one closed arc, from a canonical start
            start = int(np.argmin(k))
            rolled = np.roll(ring, -start, axis=0)
            fwd = np.vstack([rolled, rolled[:1]])
            rk = k[::-1]
            rstart = int(np.argmin(rk))
            rev = np.roll(ring[::-1], -rstart, axis=0)
            rev = np.vstack([rev, rev[:1]])
            hit = index.get(rev.tobytes())
            if hit is not None:
                return [~hit]
            return [arc_id(fwd)]
        rolled = np.roll(ring, -cuts[0], axis=0)
        closed = np.vstack([rolled, rolled[:1]])
        offsets = [c - cuts[0] for c in cuts] + [len(ring)]
        return [arc_id(closed[a : b + 1]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    geometries = []
    for polys, props in zip(units, properties, strict=True):
        coded = [[ring_arcs(r) for r in rings] for rings in polys]
        if len(coded) == 1:
            geometries.append({"type": "Polygon", "arcs": coded[0], "properties": dict(props)})
        else:
            geometries.append({"type": "MultiPolygon", "arcs": coded, "properties": dict(props)})

    # 5. delta-encode the arcs
    encoded = []
    for arc in arcs:
        d = np.diff(arc, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
        encoded.append(d.tolist())
    return {
        "type": "Topology",
        "bbox": [round(float(b), 6) for b in bounds],
        "transform": {"scale": [quantum, quantum], "translate": [x0, y0]},
        "objects": {object_name: {"type": "GeometryCollection", "geometries": geometries}},
        "arcs": encoded,
    }


def dumps(topology: Mapping[str, Any]) -> bytes:
    """Return the topology as compact JSON (UTF-8, names unescaped)."""
    return json.dumps(topology, ensure_ascii=False, separators=(",", ":")).encode()


def decode(topology: Mapping[str, Any], object_name: str = "units") -> list[dict[str, Any]]:
    """Return the GeoJSON features of a topology (what the map's script does, for tests).

    Returns
    -------
    list
        Features with ``properties`` and a Polygon or MultiPolygon ``geometry``.
    """
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        a = np.cumsum(np.asarray(arc, dtype=np.int64).reshape(-1, 2), axis=0)
        arcs.append(a * (sx, sy) + (tx, ty))

    def ring(ids: list[int]) -> list[list[float]]:
        pts: list[np.ndarray] = []
        for n, i in enumerate(ids):
            a = arcs[i] if i >= 0 else arcs[~i][::-1]
            pts.append(a if n == 0 else a[1:])
        return np.concatenate(pts).tolist()

    out = []
    for g in topology["objects"][object_name]["geometries"]:
        if g["type"] == "Polygon":
            coords: Any = [ring(r) for r in g["arcs"]]
        else:
            coords = [[ring(r) for r in p] for p in g["arcs"]]
        out.append(
            {
                "type": "Feature",
                "properties": g.get("properties", {}),
                "geometry": {"type": g["type"], "coordinates": coords},
            }
        )
    return out
