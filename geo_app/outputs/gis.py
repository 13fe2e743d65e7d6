"""The joined layer for GIS staff: every unit with its status, as GeoJSON, GeoPackage or a
zipped Shapefile (UTF-8), in EPSG:4326."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd

from geo_app.core import programme as programmes
from geo_app.core.programme import NOT_LISTED, Field, Programme
from geo_app.core.records import Standing
from geo_app.errors import BadRequest

#: Layer formats by file suffix (a zipped Shapefile for .zip).
LAYER_FORMATS = {".geojson": "GeoJSON", ".gpkg": "GPKG", ".zip": "ESRI Shapefile"}
#: Attribute names of the joined layer: at most 10 characters, so a Shapefile keeps them.
#: The attributes every layer has around the programme's fields (10 characters at most, so a
#: Shapefile keeps them); the programme's fields come between ``own_status`` and ``former``,
#: named by their ``layer`` name.
BEFORE_FIELDS = ("code", "name", "kind", "status", "status_vi", "own_status")
AFTER_FIELDS = ("former",)


def layer_fields(prog: Programme) -> tuple[str, ...]:
    """Return the attribute names of a programme's joined layer, in order."""
    return BEFORE_FIELDS + tuple(f.layer for f in prog.fields) + AFTER_FIELDS


def _attribute(f: Field, value: Any) -> Any:
    if f.type == "number":
        return value
    return f.to_text(value)


def layer_frame(units, standing: Standing):
    """Return the boundary units joined to their records (one row per unit, EPSG:4326).

    ``status`` is what the map shows: the gravest of the unit's own record (``own_status``,
    whose fields fill the programme's attributes) and of the records of the former units that
    went into it, listed in ``former`` as ``division:code status`` ("split" when the former
    unit went into several).

    Parameters
    ----------
    units:
        GeoDataFrame with code, name, kind and geometry.
    standing:
        What the units show (`geo_app.readmodel.ReadModel.standing`), in one programme.
    """
    prog = programmes.get(standing.programme)
    shown = standing.statuses(list(units["code"]))
    rows = []
    for code, name, kind in zip(units["code"], units["name"], units["kind"], strict=True):
        stored = standing.records.get(code)
        rec = stored.record if stored else None
        former = []
        for p, old in standing.former_units(code):
            text = f"{p['old_division']}:{p['old_code']} {old.record.status if old else NOT_LISTED}"
            former.append(text + (" split" if p["split"] else ""))
        row = {
            "code": code,
            "name": name,
            "kind": kind,
            "status": shown[code],
            "status_vi": prog.label(shown[code], "vi"),
            "own_status": rec.status if rec else NOT_LISTED,
        }
        for f in prog.fields:
            row[f.layer] = _attribute(f, rec.get(f.name) if rec else None)
        row["former"] = ", ".join(former)
        rows.append(row)
    return gpd.GeoDataFrame(
        rows, columns=list(layer_fields(prog)), geometry=units.geometry.values, crs=units.crs
    ).to_crs("EPSG:4326")


def layer_bytes(frame, suffix: str) -> bytes:
    """Return the joined layer as a .geojson, .gpkg or .zip (Shapefile, UTF-8) file's bytes."""
    driver = LAYER_FORMATS.get(suffix)
    if driver is None:
        raise BadRequest(f"unknown layer format {suffix!r}; use .geojson, .gpkg or .zip")
    with tempfile.TemporaryDirectory() as tmp:
        if suffix == ".zip":
            folder = Path(tmp) / "layer"
            folder.mkdir()
            frame.to_file(folder / "communes.shp", engine="fiona", encoding="utf-8")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(folder.iterdir()):
                    zf.write(f, f.name)
            return buf.getvalue()
        out = Path(tmp) / f"communes{suffix}"
        frame.to_file(out, driver=driver, engine="fiona")
        return out.read_bytes()
