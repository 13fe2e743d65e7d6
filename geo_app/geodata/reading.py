"""Reading a boundary set: find the shapefile, decode its text, check CRS, codes, coverage."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import zipfile
from collections import Counter
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
from geo_app.errors import BoundaryError

LOGGER = logging.getLogger(__name__)
WGS84 = "EPSG:4326"
_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _metric_crs(units: gpd.GeoDataFrame) -> CRS:
    return units.estimate_utm_crs()


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
