"""The map's TopoJSON: each shared border once, quantised; decoded back it is the same map."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, shape

from geo_app.webmap import topology


def _features(geoms, codes):
    topo = topology.encode(geoms, ({"code": c} for c in codes))
    return topo, topology.decode(json.loads(topology.dumps(topo)))


def test_two_squares_share_their_border_once():
    a = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    b = Polygon([(1, 0), (2, 0), (2, 1), (1, 1)])
    topo, features = _features([a, b], ["A", "B"])
    # the shared edge (1,0)-(1,1) is one arc, used forwards by one unit and backwards by the other
    used = [i for g in topo["objects"]["units"]["geometries"] for r in g["arcs"] for i in r]
    shared = [
        i for i in used if (~i if i < 0 else i) in {(~j if j < 0 else j) for j in used if j != i}
    ]
    assert any(i < 0 for i in used) and shared
    assert len(topo["arcs"]) == 3  # the shared border and each square's other three sides
    for f, g in zip(features, [a, b], strict=True):
        assert shape(f["geometry"]).equals(g)


def test_a_hole_filled_by_another_unit_and_a_multipolygon():
    outer = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (3, 1), (3, 3), (1, 3)]])
    inner = Polygon([(1, 1), (3, 1), (3, 3), (1, 3)])
    islands = shapely.MultiPolygon(
        [Polygon([(5, 0), (6, 0), (6, 1), (5, 1)]), Polygon([(7, 0), (8, 0), (8, 1), (7, 1)])]
    )
    topo, features = _features([outer, inner, islands], ["O", "I", "M"])
    assert len(topo["arcs"]) == 4  # outer ring, the ring both share, two islands
    for f, g in zip(features, [outer, inner, islands], strict=True):
        assert shape(f["geometry"]).equals(g), f["properties"]
    assert features[2]["geometry"]["type"] == "MultiPolygon"


def test_the_province_decodes_to_its_display_geometry(display):
    geoms = display.units.geometry.values
    codes = list(display.units["code"])
    topo, features = _features(geoms, codes)
    assert [f["properties"]["code"] for f in features] == codes
    # quantised to 1e-4 degrees (11 m) on geometry simplified at 150 m: areas within 1 %
    for f, g in zip(features, geoms, strict=True):
        got = shapely.make_valid(shape(f["geometry"]))
        assert abs(got.area - g.area) / g.area < 0.01
        assert got.representative_point().within(g.buffer(0.001))
    # every interior border is sent once: far fewer points than the GeoJSON's
    points = sum(len(a) for a in topo["arcs"])
    assert points < 0.6 * shapely.get_num_coordinates(geoms).sum()
    deltas = np.abs(np.concatenate([np.asarray(a[1:]) for a in topo["arcs"] if len(a) > 1]))
    assert deltas.max() < 10_000  # small integers: that is what compresses


@pytest.mark.parametrize("quantum", [1e-5, 1e-4])
def test_no_unit_vanishes_whatever_the_grid(quantum):
    tiny = Polygon([(0, 0), (0.00002, 0), (0.00002, 0.00002), (0, 0.00002)])
    big = Polygon([(1, 1), (2, 1), (2, 2), (1, 2)])
    topo = topology.encode([tiny, big], ({"code": c} for c in "TB"), quantum=quantum)
    features = topology.decode(topo)
    assert [f["properties"]["code"] for f in features] == ["T", "B"]
    assert all(f["geometry"]["coordinates"] for f in features)
