"""Boundary sets: read (fiona), validate, reproject, make display geometry, cache it on disk."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo_app import config
from geo_app.core import vntext
from geo_app.core.names import canonical_kind, nfc, split_kind
from geo_app.errors import BoundaryError, NotPrepared, StoreUnavailable

LOGGER = logging.getLogger(__name__)
#: Bumped whenever the display algorithm changes, so old cache files are not reused.
ALGORITHM_VERSION = "1"
WGS84 = "EPSG:4326"
_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class FieldMap:
    """Which attributes of a boundary file hold the unit code, name and kind."""

    code: str = "code"
    name: str = "name"
    kind: str = "kind"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> FieldMap:
        return cls(settings["FIELD_CODE"], settings["FIELD_NAME"], settings["FIELD_KIND"])


@dataclass
class BoundarySet:
    """A validated boundary file: one row per unit, code/name/kind/geometry in EPSG:4326."""

    path: Path
    source_crs: str
    units: gpd.GeoDataFrame
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: how the text was read (`TextReading.to_dict`), None when as declared
    text: dict[str, Any] | None = None
    #: the datum's name when PROJ only has a ballpark transformation for it
    ballpark: str | None = None
    #: the share of the current division's area the set covers, when one was given
    coverage: float | None = None

    @property
    def usable(self) -> bool:
        return not self.errors

    def report(self) -> dict[str, Any]:
        """Return the validation report (the `boundaries check --json` object)."""
        return {
            "path": str(self.path),
            "features": int(len(self.units)),
            "crs": self.source_crs,
            "repaired": list(self.repaired),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "usable": self.usable,
            "text": self.text,
            "ballpark": self.ballpark,
            "coverage": None if self.coverage is None else round(self.coverage, 4),
        }


def _mac_junk(name: str) -> bool:
    """Tell whether a zip member or file is macOS's (``__MACOSX/``, ``._x.shp``): never data."""
    parts = name.replace("\\", "/").split("/")
    return "__MACOSX" in parts or parts[-1].startswith("._") or parts[-1] == ".DS_Store"


def _sibling(path: Path, suffix: str) -> Path | None:
    """Return the file beside `path` with its stem and `suffix`, in any case; None if none."""
    exact = path.with_suffix(suffix)
    if exact.exists():
        return exact
    for candidate in (path.with_suffix(suffix.upper()), path.with_suffix(suffix.lower())):
        if candidate.exists():
            return candidate
    for f in path.parent.iterdir():
        if f.stem == path.stem and f.suffix.lower() == suffix.lower() and not _mac_junk(f.name):
            return f
    return None


def _locate(path: Path) -> tuple[str, Path, list[Path]]:
    """Return (what fiona opens, the file named in messages, the files whose bytes matter).

    Extensions match in any case (``XA.SHP``); macOS's ``__MACOSX/`` and ``._*`` files are
    left out.
    """
    if not path.exists():
        raise BoundaryError(f"{path}: no such file or folder")
    if path.is_dir():
        candidates = sorted(
            f
            for f in path.iterdir()
            if f.is_file() and f.suffix.lower() in (".shp", ".gpkg") and not _mac_junk(f.name)
        )
        if not candidates:
            raise BoundaryError(f"{path}: the folder holds no .shp or .gpkg file")
        if len(candidates) > 1:
            names = ", ".join(c.name for c in candidates)
            raise BoundaryError(f"{path}: the folder holds several boundary files ({names})")
        path = candidates[0]
    suffix = path.suffix.lower()
    if suffix == ".shp":
        if _sibling(path, ".prj") is None:
            raise BoundaryError(
                f"{path.name}: no .prj file beside it, so its coordinate system is unknown; "
                "supply the .prj (the CRS is never guessed)"
            )
        parts = [p for ext in _SHP_PARTS if (p := _sibling(path, ext)) is not None]
        return str(path), path, parts
    if suffix == ".gpkg":
        return str(path), path, [path]
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/") and not _mac_junk(n)]
        except (zipfile.BadZipFile, OSError) as exc:
            raise BoundaryError(f"{path.name}: not a readable zip file ({exc})") from None
        shps = [n for n in names if n.lower().endswith(".shp")]
        gpkgs = [n for n in names if n.lower().endswith(".gpkg")]
        if len(shps) + len(gpkgs) != 1:
            raise BoundaryError(
                f"{path.name}: the zip must hold exactly one shapefile or GeoPackage "
                f"(found {len(shps)} .shp and {len(gpkgs)} .gpkg)"
            )
        if shps:
            prj = shps[0][:-4] + ".prj"
            if not any(n.lower() == prj.lower() for n in names):
                raise BoundaryError(
                    f"{path.name}: {shps[0]} has no .prj beside it in the zip, so its "
                    "coordinate system is unknown; add the .prj (the CRS is never guessed)"
                )
        inner = (shps or gpkgs)[0]
        return f"zip://{path}!{inner}", path, [path]
    raise BoundaryError(f"{path.name}: not a boundary file (use a folder, .shp, .zip or .gpkg)")


def _dbf_without_cpg(path: Path) -> bool:
    """Tell whether the boundary set at `path` is a shapefile whose .dbf has no .cpg."""
    target, shown, _ = _locate(path)
    if shown.suffix.lower() == ".shp":
        return _sibling(shown, ".cpg") is None
    if shown.suffix.lower() == ".zip":
        inner = target.split("!", 1)[1]
        if not inner.lower().endswith(".shp"):
            return False
        with zipfile.ZipFile(shown) as zf:
            names = {n.lower() for n in zf.namelist() if not _mac_junk(n)}
        return (inner[:-4] + ".cpg").lower() not in names
    return False


def install_copy(path: str | Path, dest: str | Path) -> Path:
    """Copy the files of the boundary set at `path` into the folder `dest` (replacing it).

    The copy is made beside `dest` and renamed into place, so `dest` never holds half a set.

    Returns
    -------
    Path
        What to read the installed set from: `dest` itself, or the .zip/.gpkg inside it.
    """
    import shutil

    _, shown, files = _locate(Path(path))
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    config.make_dir(tmp.parent)
    tmp.mkdir()
    for f in files:
        shutil.copy2(f, tmp / f.name)
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest if shown.suffix.lower() == ".shp" else dest / shown.name


def fingerprint(path: str | Path) -> str:
    """Return a hash of the bytes of every file that makes up the boundary set at `path`."""
    _, _, files = _locate(Path(path))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _crs_text(crs: CRS) -> str:
    auth = crs.to_authority(min_confidence=90)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


#: Where Vietnam lies (longitude, latitude), roughly: a set outside it is warned about.
VIETNAM_BOUNDS = (102.0, 8.0, 110.0, 24.0)
#: The share of the current division's area a new set should cover; below it, a warning.
MIN_COVERAGE = 0.9
#: An official unit code (mã đơn vị hành chính).
OFFICIAL_CODE = re.compile(r"^\d{5}$")


@dataclass
class TextReading:
    """How the text of a boundary file was read: the encoding and what was converted."""

    encoding: str
    converted: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "label": vntext.LABELS.get(self.encoding, self.encoding),
            "converted": self.converted,
            "examples": [list(e) for e in self.examples],
        }


def _read_frame(
    target: str, shown: Path, path: Path, encoding: str | None, name_field: str
) -> tuple[gpd.GeoDataFrame, TextReading | None]:
    """Read the file, decoding its text in Python whenever GDAL could get it wrong.

    A shapefile whose .dbf has no .cpg, or read with a named encoding, is read as Latin-1 (the
    bytes as they are) and decoded here: with the named encoding, or the one its names read as
    Vietnamese in (UTF-8, Windows-1258, TCVN3, VNI). Any other file is read as declared and its
    names checked for text read with the wrong encoding (UTF-8 or TCVN3 read as Latin-1).
    """
    raw_mode = encoding is not None or _dbf_without_cpg(path)
    kwargs: dict[str, Any] = {"engine": "fiona"}
    if raw_mode:
        kwargs["encoding"] = "latin1"
    try:
        gdf = gpd.read_file(target, **kwargs)
    except Exception as exc:  # fiona raises many types; all mean "unreadable"
        raise BoundaryError(f"{shown.name}: cannot be read as a boundary file ({exc})") from None
    text_columns = [
        c
        for c in gdf.columns
        if c != gdf.geometry.name and any(isinstance(v, str) for v in gdf[c].head(50))
    ]
    if raw_mode:
        names_raw = (
            [
                v.encode("latin-1")
                for v in gdf.get(name_field, pd.Series(dtype=object))
                if isinstance(v, str)
            ]
            if name_field in gdf.columns
            else []
        )
        if encoding is not None:
            chosen = encoding.strip().lower()
            decode = vntext.decoder(encoding)
        else:
            chosen, _, _ = vntext.best_reading(
                names_raw + [c.encode("latin-1") for c in gdf.columns]
            )
            decode = _decoder_of(chosen)
        return _decoded(gdf, text_columns, decode, chosen, name_field, latin1=True)
    if name_field in gdf.columns:
        names = [v for v in gdf[name_field] if isinstance(v, str)]
        if names and vntext.score(names) < 0.9:
            raws = [vntext.raw_bytes(n) for n in names]
            if all(r is not None for r in raws):
                chosen, _, best = vntext.best_reading(raws)  # type: ignore[arg-type]
                if chosen != "latin-1" and best > vntext.score(names) + 0.2:
                    return _decoded(
                        gdf, text_columns, _decoder_of(chosen), chosen, name_field, latin1=False
                    )
    return gdf, None


def _decoder_of(name: str):
    if name == "utf-8":
        return lambda raw: unicodedata.normalize("NFC", raw.decode("utf-8"))
    if name == "latin-1":
        return lambda raw: raw.decode("latin-1")
    return vntext.LEGACY[name]


def _decoded(gdf, text_columns, decode, chosen: str, name_field: str, latin1: bool):
    """Return `gdf` with its text (and, read as Latin-1, its field names) decoded."""

    def to_bytes(text: str) -> bytes:
        return text.encode("latin-1") if latin1 else (vntext.raw_bytes(text) or b"")

    reading = TextReading(chosen)
    out = gdf.copy()
    for col in text_columns:
        values = []
        for v in out[col]:
            if isinstance(v, str):
                raw = to_bytes(v)
                try:
                    new = decode(raw) if raw else v
                except (UnicodeDecodeError, KeyError):
                    new = v  # this value was right as it was
                if chosen in ("tcvn3", "abc") and col == name_field:
                    new = vntext.name_case(new)
                if new != v:
                    reading.converted += 1
                    if len(reading.examples) < 3 and col == name_field:
                        reading.examples.append((v, new))
                values.append(new)
            else:
                values.append(v)
        out[col] = pd.Series(values, index=out.index, dtype=object)
    if latin1:
        renames = {c: decode(c.encode("latin-1")) for c in out.columns if c != out.geometry.name}
        out = out.rename(columns={k: v for k, v in renames.items() if k != v})
    return out, reading


def _degrees_error(bounds, shown: Path, crs_text: str) -> str | None:
    """Return why `bounds` (x/y min, max) are not longitudes and latitudes, or None."""
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    if not all(np.isfinite([minx, miny, maxx, maxy])):
        return (
            f"coordinates are not valid degrees once reprojected from {crs_text} (some are "
            "infinite): the .prj does not describe these coordinates"
        )
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        hint = ""
        if -90 <= minx <= maxx <= 90 and -180 <= miny <= maxy <= 180:
            hint = " (longitude and latitude look swapped)"
        elif max(abs(minx), abs(maxx), abs(miny), abs(maxy)) > 1000:
            hint = " (these look like metres behind a geographic .prj)"
        return (
            f"coordinates are not valid degrees once reprojected from {crs_text}: x from "
            f"{minx:.6g} to {maxx:.6g}, y from {miny:.6g} to {maxy:.6g}{hint}; the .prj does "
            "not describe these coordinates"
        )
    return None


def _units_off(units: gpd.GeoDataFrame) -> list[str]:
    """Return the codes of the units whose own coordinates are not valid degrees."""
    bounds = units.geometry.bounds.to_numpy()
    with np.errstate(invalid="ignore"):
        good = (
            np.isfinite(bounds).all(axis=1)
            & (bounds[:, 0] >= -180)
            & (bounds[:, 2] <= 180)
            & (bounds[:, 1] >= -90)
            & (bounds[:, 3] <= 90)
        )
    present = ~(units.geometry.isna() | units.geometry.is_empty).to_numpy()
    return [str(units["code"].iloc[i]) for i in np.flatnonzero(present & ~good)]


def _ballpark(source_crs: CRS) -> str | None:
    """Return the datum's name when PROJ only has a ballpark transformation to WGS 84."""
    if source_crs.equals(CRS.from_epsg(4326)):
        return None
    try:
        t = Transformer.from_crs(source_crs, CRS.from_epsg(4326), always_xy=True)
    except Exception:  # noqa: BLE001 - no transformation at all is reported elsewhere
        return None
    if "ballpark" in (t.description or "").lower():
        datum = source_crs.datum.name if source_crs.datum else source_crs.name
        return datum or "unknown"
    return None


def read(
    path: str | Path,
    fields: FieldMap | None = None,
    encoding: str | None = None,
    reference: gpd.GeoDataFrame | None = None,
) -> BoundarySet:
    """Read and validate a boundary file; repair what can be repaired.

    Parameters
    ----------
    path:
        A folder holding one shapefile or GeoPackage, a .shp, a .zip holding one, or a .gpkg.
    fields:
        Names of the code, name and kind attributes.
    encoding:
        Encoding of a shapefile's .dbf (a Python codec, or ``tcvn3``/``vni``), decoded in Python.
        None: the .cpg's, else the one the names read as Vietnamese in.
    reference:
        The current division's units (EPSG:4326): a set covering less than `MIN_COVERAGE` of
        their area is warned about.

    Returns
    -------
    BoundarySet
        With `errors` filled when the set is not usable (empty, duplicate or unofficial codes,
        coordinates that are not degrees...).

    Raises
    ------
    BoundaryError
        When the file cannot be read at all, has no CRS or lacks a mapped field.
    """
    fields = fields or FieldMap()
    path = Path(path)
    target, shown, _ = _locate(path)
    gdf, reading = _read_frame(target, shown, path, encoding, fields.name)
    if gdf.crs is None:
        raise BoundaryError(
            f"{shown.name}: declares no coordinate system; supply one (the CRS is never guessed)"
        )
    try:
        source_crs = CRS.from_user_input(gdf.crs)
    except CRSError as exc:
        raise BoundaryError(
            f"{shown.name}: its coordinate system is not understood ({exc})"
        ) from None
    field_names = [c for c in gdf.columns if c != gdf.geometry.name]
    missing = [f for f in (fields.code, fields.name) if f not in gdf.columns]
    if missing:
        raise BoundaryError(
            f"{shown.name}: no field {', '.join(missing)}; fields are "
            f"{', '.join(field_names)} "
            "(map them with GEO_APP_FIELD_CODE / _NAME / _KIND or the field options)"
        )

    errors: list[str] = []
    warnings: list[str] = []

    def text(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return nfc(str(value))

    codes = [text(v) for v in gdf[fields.code]]
    codes = [c.zfill(5) if c.isdigit() and len(c) < 5 else c for c in codes]
    names = [text(v) for v in gdf[fields.name]]
    raw_kinds = [text(v) for v in gdf[fields.kind]] if fields.kind in gdf.columns else None
    if reading is not None and reading.encoding not in ("utf-8", "latin-1"):
        shown_examples = "; ".join(f"{a!r} → {b!r}" for a, b in reading.examples)
        warnings.append(
            f"text read as {vntext.LABELS.get(reading.encoding, reading.encoding)} and "
            f"converted to Unicode: {reading.converted} value(s)"
            + (f" (e.g. {shown_examples})" if shown_examples else "")
        )
    names_score = vntext.score(names)
    if names_score < 0.6:
        warnings.append(
            f"the names do not read as Vietnamese text (e.g. {names[0]!r}); give the encoding "
            "of the .dbf (--encoding utf-8, cp1258, tcvn3 or vni)"
        )
    kinds: list[str] = []
    unknown_kinds = 0
    for i, name in enumerate(names):
        raw = raw_kinds[i] if raw_kinds else ""
        kind = canonical_kind(raw) if raw else None
        prefix_kind, bare = split_kind(name)
        if kind is None and prefix_kind:
            kind, names[i] = prefix_kind, bare
        elif kind and prefix_kind == kind:
            names[i] = bare
        if kind is None:
            kind = raw
            unknown_kinds += 1
            if unknown_kinds <= 20:
                warnings.append(f"unit {codes[i] or '#' + str(i + 1)}: unknown kind {raw!r}")
        kinds.append(kind)
    if unknown_kinds > 20:
        warnings.append(f"and {unknown_kinds - 20} more units of unknown kind")

    empty = [str(i + 1) for i, c in enumerate(codes) if not c]
    if empty:
        errors.append(f"empty code in feature(s) {', '.join(empty)} (field {fields.code!r})")
    dupes = sorted(c for c, n in Counter(codes).items() if c and n > 1)
    if dupes:
        errors.append(f"duplicate code(s): {', '.join(dupes)} (field {fields.code!r})")
    unofficial = [c for c in codes if c and not OFFICIAL_CODE.match(c)]
    if unofficial:
        errors.append(
            f"{len(unofficial)} code(s) in field {fields.code!r} are not official 5-digit "
            f"codes (mã đơn vị hành chính), e.g. {', '.join(repr(c) for c in unofficial[:3])}; "
            f"choose the field that holds them with --code-field (fields: "
            f"{', '.join(field_names)})"
        )

    geoms = gdf.geometry.values
    kinds_of_geom = shapely.get_type_id(geoms)
    for i in np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms)):
        errors.append(f"unit {codes[i]}: empty geometry")
    not_polygon = np.flatnonzero(~np.isin(kinds_of_geom, (-1, 3, 6)))
    for i in not_polygon:
        errors.append(f"unit {codes[i]}: geometry is {geoms[i].geom_type}, not a polygon")
    invalid = np.flatnonzero(~shapely.is_valid(geoms) & np.isin(kinds_of_geom, (3, 6)))
    repaired: list[str] = []
    if len(invalid):
        fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        for i in invalid:
            repaired.append(codes[i])
            warnings.append(f"unit {codes[i]} ({names[i]}): invalid geometry repaired")

    units = gpd.GeoDataFrame(
        {"code": codes, "name": names, "kind": kinds},
        geometry=gpd.GeoSeries(geoms, crs=gdf.crs),
    )
    crs_text = _crs_text(source_crs)
    present = ~(shapely.is_missing(units.geometry.values) | shapely.is_empty(units.geometry.values))
    wrong = None
    if source_crs.is_geographic and present.any():
        wrong = _degrees_error(units[present].total_bounds, shown, crs_text)
    if wrong is None:
        with np.errstate(all="ignore"):
            if not source_crs.equals(CRS.from_epsg(4326)):
                units = units.to_crs(WGS84)
            else:
                units = units.set_crs(WGS84, allow_override=True)
        if present.any():
            wrong = _degrees_error(units[present].total_bounds, shown, crs_text)
    else:
        units = units.set_crs(WGS84, allow_override=True)
    bset = BoundarySet(path, crs_text, units, repaired, warnings, errors)
    bset.text = reading.to_dict() if reading else None
    if wrong:
        off = _units_off(units)
        if off:
            more = f" and {len(off) - 10} more" if len(off) > 10 else ""
            wrong += f" (the units off: {', '.join(off[:10])}{more})"
        errors.append(wrong)
        return bset
    datum = _ballpark(source_crs)
    if datum:
        bset.ballpark = datum
        warnings.append(
            f"the datum {datum!r} of {crs_text} has no known shift to WGS 84: PROJ can only "
            "use a ballpark transformation, so every unit may sit hundreds of metres off; "
            "use a .prj with the datum's TOWGS84 parameters (for VN-2000: "
            "+towgs84=-191.90441429,-39.30318279,-111.45032835,-0.00928836,0.01975479,"
            "-0.00427372,0.252906278)"
        )
    if present.any():
        minx, miny, maxx, maxy = (float(b) for b in units[present].total_bounds)
        x0, y0, x1, y1 = VIETNAM_BOUNDS
        if minx < x0 or maxx > x1 or miny < y0 or maxy > y1:
            warnings.append(
                f"the set lies outside Vietnam (longitude {minx:.3f} to {maxx:.3f}, latitude "
                f"{miny:.3f} to {maxy:.3f}; Vietnam is about {x0:g}–{x1:g}° E, {y0:g}–{y1:g}° N): "
                "check its coordinate system"
            )
    if reference is not None and present.any() and len(reference):
        share = coverage(units[present], reference)
        bset.coverage = share
        if share < MIN_COVERAGE:
            warnings.append(
                f"the set covers {share:.0%} of the current division's area (under "
                f"{MIN_COVERAGE:.0%}): it may sit in the wrong place (a .prj with the wrong "
                "central meridian?) or be another area"
            )
    return bset


def coverage(units: gpd.GeoDataFrame, reference: gpd.GeoDataFrame) -> float:
    """Return the share (0 to 1) of `reference`'s area that `units` cover (in a metric CRS)."""
    metric = _metric_crs(reference)
    ref = shapely.union_all(shapely.make_valid(reference.to_crs(metric).geometry.values))
    got = shapely.union_all(shapely.make_valid(units.to_crs(metric).geometry.values))
    area = ref.area
    return float(shapely.intersection(ref, got).area / area) if area else 1.0


def load(
    path: str | Path,
    fields: FieldMap | None = None,
    encoding: str | None = None,
    reference: gpd.GeoDataFrame | None = None,
):
    """Read a boundary file and raise if it is not usable.

    Raises
    ------
    BoundaryError
        Listing every error found.
    """
    bset = read(path, fields, encoding, reference)
    if bset.errors:
        raise BoundaryError(f"{Path(path).name}: " + "; ".join(bset.errors), details=bset.report())
    return bset


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


def _metric_crs(units: gpd.GeoDataFrame) -> CRS:
    return units.estimate_utm_crs()


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
