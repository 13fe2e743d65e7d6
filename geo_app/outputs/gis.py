"""The joined layer for GIS staff: every unit with its status, as GeoJSON, GeoPackage or a
zipped Shapefile (UTF-8), in EPSG:4326."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd

from geo_app.core.records import NOT_LISTED, Standing, label
from geo_app.errors import BadRequest

#: Layer formats by file suffix (a zipped Shapefile for .zip).
LAYER_FORMATS = {".geojson": "GeoJSON", ".gpkg": "GPKG", ".zip": "ESRI Shapefile"}
#: Attribute names of the joined layer: at most 10 characters, so a Shapefile keeps them.
LAYER_FIELDS = (
    "code",
    "name",
    "kind",
    "status",
    "status_vi",
    "own_status",
    "designated",
    "target_on",
    "transf_on",
    "unit",
    "problems",
    "notes",
    "former",
)


def layer_frame(units, standing: Standing):
    """Return the boundary units joined to their records (one row per unit, EPSG:4326).

    ``status`` is what the map shows: the gravest of the unit's own record (``own_status``,
    whose dates and text fill the other fields) and of the records of the former units that
    went into it, listed in ``former`` as ``division:code status`` ("split" when the former
    unit went into several).

    Parameters
    ----------
    units:
        GeoDataFrame with code, name, kind and geometry.
    standing:
        What the units show (`geo_app.readmodel.ReadModel.standing`).
    """
    shown = standing.statuses(list(units["code"]))
    rows = []
    for code, name, kind in zip(units["code"], units["name"], units["kind"], strict=True):
        stored = standing.records.get(code)
        rec = stored.record if stored else None
        former = []
        for p, old in standing.former_units(code):
            text = f"{p['old_division']}:{p['old_code']} {old.record.status if old else NOT_LISTED}"
            former.append(text + (" split" if p["split"] else ""))
        rows.append(
            {
                "code": code,
                "name": name,
                "kind": kind,
                "status": shown[code],
                "status_vi": label(shown[code]),
                "own_status": rec.status if rec else NOT_LISTED,
                "designated": rec.designated_on.isoformat() if rec and rec.designated_on else "",
                "target_on": rec.target_on.isoformat() if rec and rec.target_on else "",
                "transf_on": rec.transformed_on.isoformat() if rec and rec.transformed_on else "",
                "unit": rec.unit if rec else "",
                "problems": "; ".join(rec.problems) if rec else "",
                "notes": rec.notes if rec else "",
                "former": ", ".join(former),
            }
        )
    return gpd.GeoDataFrame(
        rows, columns=list(LAYER_FIELDS), geometry=units.geometry.values, crs=units.crs
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
    for col in LAYER_FIELDS:
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
                text = io.StringIO()
                writer = csv.writer(text)
                writer.writerow(["code", "field", "bytes", "text"])
                writer.writerows(long_rows)
                (folder / LONG_TEXT_FILE).write_text("\ufeff" + text.getvalue(), "utf-8")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(folder.iterdir()):
                    zf.write(f, f.name)
            return buf.getvalue()
        out = Path(tmp) / f"communes{suffix}"
        frame.to_file(out, driver=driver, engine="fiona")
        return out.read_bytes()
