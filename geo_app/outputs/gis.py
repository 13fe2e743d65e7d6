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
from geo_app.outputs import records

#: Layer formats by file suffix (a zipped Shapefile for .zip).
LAYER_FORMATS = {".geojson": "GeoJSON", ".gpkg": "GPKG", ".zip": "ESRI Shapefile"}
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


#: The most bytes a Shapefile (dBase) text field holds.
SHAPEFILE_TEXT_BYTES = 254
#: The side table of a zipped Shapefile: every text too long for the .dbf, whole.
LONG_TEXT_FILE = "communes_long_text.csv"
_CUT_MARK = "…"


def _cut(text: str, limit: int) -> str:
    """Return `text` cut on a character boundary to at most `limit` UTF-8 bytes, marked "…"."""
    room = limit - len(_CUT_MARK.encode())
    data = text.encode("utf-8")[:room]
    return data.decode("utf-8", "ignore") + _CUT_MARK


def shapefile_frame(frame):
    """Return `frame` with texts too long for a .dbf cut (marked "…"), and the side table.

    Returns
    -------
    tuple
        The frame to write and the rows (code, field, bytes, text) of every cut text, whole.
    """
    out = frame.copy()
    long_rows: list[tuple[str, str, int, str]] = []
    for col in [c for c in out.columns if c != out.geometry.name]:
        values = list(out[col])
        changed = False
        for i, value in enumerate(values):
            if isinstance(value, str) and len(value.encode("utf-8")) > SHAPEFILE_TEXT_BYTES:
                long_rows.append((out["code"].iloc[i], col, len(value.encode("utf-8")), value))
                values[i] = _cut(value, SHAPEFILE_TEXT_BYTES)
                changed = True
        if changed:
            out[col] = values
    return out, long_rows


def layer_bytes(frame, suffix: str) -> bytes:
    """Return the joined layer as a .geojson, .gpkg or .zip (Shapefile, UTF-8) file's bytes.

    A Shapefile's .dbf holds at most 254 bytes per text: a longer text is cut there (on a
    character, marked "…") and kept whole in the zip's `LONG_TEXT_FILE` (code, field, bytes,
    text), so nothing is lost silently.
    """
    driver = LAYER_FORMATS.get(suffix)
    if driver is None:
        raise BadRequest(f"unknown layer format {suffix!r}; use .geojson, .gpkg or .zip")
    with tempfile.TemporaryDirectory() as tmp:
        if suffix == ".zip":
            folder = Path(tmp) / "layer"
            folder.mkdir()
            shp_frame, long_rows = shapefile_frame(frame)
            shp_frame.to_file(folder / "communes.shp", engine="fiona", encoding="utf-8")
            if long_rows:
                table = [["code", "field", "bytes", "text"], *long_rows]
                (folder / LONG_TEXT_FILE).write_bytes(records.spreadsheet_bytes(table, "csv"))
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(folder.iterdir()):
                    zf.write(f, f.name)
            return buf.getvalue()
        out = Path(tmp) / f"communes{suffix}"
        frame.to_file(out, driver=driver, engine="fiona")
        return out.read_bytes()
