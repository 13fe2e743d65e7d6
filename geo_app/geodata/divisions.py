"""Boundary sets registered as divisions: check a file, then register it (CLI and web alike).

A division is a set of units in force over a period (``valid_from`` to ``valid_to``), with its
source. Registering one saves its units and their polygons (WKB) in the store, in one
transaction, so every app server reads the same set and none keeps it on its disk. Both doors,
`geo-app boundaries import` and the admin page's upload, go through `register`; the admin page
shows `check`'s report first and registers only once the administrator accepts it.
"""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geo_app import config
from geo_app.core import programme as programmes
from geo_app.core import vntext
from geo_app.errors import BadRequest, BoundaryError, GeoAppError
from geo_app.geodata import boundaries
from geo_app.store import Store

LOGGER = logging.getLogger(__name__)
#: A division name is also the name of its folder: letters, digits, "-" and "_", up to 32.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
#: Units listed in a validation report, as a sample of what was read.
SAMPLE_UNITS = 10
#: The longest source text the admin page's form takes.
MAX_SOURCE = 200

Progress = Callable[[str], None]


class DivisionError(BadRequest):
    """A division cannot be registered as asked; `name` is the division concerned."""

    def __init__(self, message: str, name: str, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.name = name


class BadName(DivisionError):
    """The name cannot be a division's (nor its folder's) name."""


class CurrentDivision(DivisionError):
    """The name is the configured current division's: its units come from the settings."""


class MissingUnits(DivisionError):
    """A new boundary set of the current division lacks units that have records."""

    status = 422


class DivisionExists(DivisionError):
    """A division of that name exists and replacing it was not asked for."""

    status = 409


class BadPeriod(BadRequest):
    """valid_from is missing, or valid_to is before it."""

    def __init__(self, message: str, valid_from: dt.date | None, valid_to: dt.date | None):
        super().__init__(message)
        self.valid_from = valid_from
        self.valid_to = valid_to


class BadEncoding(BadRequest):
    """The encoding named for a .dbf is not one Python (or `geo_app.core.vntext`) knows."""

    def __init__(self, encoding: str):
        super().__init__(f"unknown encoding {encoding!r} (e.g. utf-8, cp1258, tcvn3, vni)")
        self.encoding = encoding


class Unconfirmed(BadRequest):
    """The set's positions rest on a ballpark datum shift and that was not confirmed."""

    def __init__(self, datum: str):
        super().__init__(
            f"the datum {datum!r} has no known shift to WGS 84 (a ballpark transformation): "
            "confirm that positions may be hundreds of metres off, or supply a better .prj"
        )
        self.datum = datum


@dataclass(frozen=True)
class Registered:
    """What `register` did."""

    name: str
    units: int
    valid_from: dt.date
    valid_to: dt.date | None
    source: str
    path: Path
    replaced: bool
    warnings: list[str] = field(default_factory=list)
    #: the stored boundary set's id
    set_id: int | None = None
    #: whether it is the current division's new set (the map's, once prepared)
    current: bool = False


def boundary_root(settings: dict[str, Any]) -> Path:
    """Return the folder registered boundary sets are copied into (one folder per division).

    ``BOUNDARY_DIR`` in the settings overrides the default ``instance/boundaries``.
    """
    return Path(settings.get("BOUNDARY_DIR") or config.INSTANCE_DIR / "boundaries")


def check_name(name: str) -> str:
    """Return `name` if it can name a division and its folder.

    Raises
    ------
    BadName
        Saying what a name may hold.
    """
    if not NAME.fullmatch(name or ""):
        raise BadName(
            f"division name {name!r} is not allowed: use 1 to 32 letters, digits, '-' or '_', "
            "beginning with a letter or digit (e.g. 2026 or thanh-hoa-2026)",
            name,
        )
    return name


def check_period(valid_from: dt.date | None, valid_to: dt.date | None) -> None:
    """Raise `BadPeriod` when `valid_from` is missing or `valid_to` is before it."""
    if valid_from is None:
        raise BadPeriod("valid-from is required (the first day in force)", valid_from, valid_to)
    if valid_to is not None and valid_to < valid_from:
        raise BadPeriod(
            f"valid-to {valid_to.isoformat()} is before valid-from {valid_from.isoformat()}",
            valid_from,
            valid_to,
        )


def check_encoding(encoding: str | None) -> str | None:
    """Return `encoding` (None when empty) if Python knows it; raise `BadEncoding` if not."""
    if not encoding:
        return None
    if encoding.strip().lower().replace("_", "-") in vntext.LEGACY:
        return encoding
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise BadEncoding(encoding) from None
    return encoding


def exists(store: Store, name: str) -> dict[str, Any] | None:
    """Return the registered division `name` (see `Store.divisions`), or None."""
    return next((d for d in store.divisions() if d["name"] == name), None)


def check_new(
    store: Store,
    name: str,
    valid_from: dt.date | None,
    valid_to: dt.date | None,
    replace: bool,
    current: str | None = None,
) -> dict[str, Any] | None:
    """Check that division `name` may be registered over that period; cheap, reads no file.

    Parameters
    ----------
    replace:
        Whether an existing division of that name may be replaced.
    current:
        The configured current division (GEO_APP_DIVISION), whose name is refused: its units
        come from the configured boundary set, never from a registered one.

    Returns
    -------
    dict or None
        The division that would be replaced, if any.

    Raises
    ------
    BadName, CurrentDivision, BadPeriod, DivisionExists
    """
    check_name(name)
    if current is not None and name == current:
        if not replace:
            raise CurrentDivision(
                f"division {name!r} is the current division (GEO_APP_DIVISION), whose units come "
                "from GEO_APP_BOUNDARIES; register the boundary set under another name, or "
                "replace the current division's boundary set (--replace)",
                name,
            )
        return exists(store, name)
    check_period(valid_from, valid_to)
    old = exists(store, name)
    if old is not None and not replace:
        raise DivisionExists(f"division {name!r} exists already; use --replace", name)
    return old


def check(
    path: str | Path,
    fields: boundaries.FieldMap | None = None,
    encoding: str | None = None,
    sample: int = SAMPLE_UNITS,
    reference=None,
) -> dict[str, Any]:
    """Return the validation report of the boundary set at `path`; a bad file is reported.

    Returns
    -------
    dict
        ``path``, ``features`` (units read), ``crs`` (the file's own), ``repaired`` (codes of
        units whose geometry was repaired), ``warnings``, ``errors``, ``usable``, ``kinds``
        (units per kind), ``sample`` (the first units: code, name, kind), ``text`` (how its
        text was read and converted), ``ballpark`` (the datum PROJ can only shift roughly) and
        ``coverage`` (the share of `reference`'s area it covers). A file that cannot be read at
        all has no units and its reason as the one error.
    """
    try:
        bset = boundaries.read(path, fields, encoding, reference)
    except BoundaryError as exc:
        return {
            "path": str(path),
            "features": 0,
            "crs": None,
            "repaired": [],
            "errors": [exc.message],
            "warnings": [],
            "usable": False,
            "kinds": {},
            "sample": [],
            "text": None,
            "ballpark": None,
            "coverage": None,
        }
    report = bset.report()
    units = bset.units
    report["kinds"] = dict(Counter(units["kind"]).most_common())
    report["sample"] = [
        {"code": c, "name": n, "kind": k}
        for c, n, k in zip(
            units["code"][:sample], units["name"][:sample], units["kind"][:sample], strict=True
        )
    ]
    return report


def register(
    store: Store,
    path: str | Path,
    name: str,
    valid_from: dt.date | None,
    valid_to: dt.date | None,
    source: str = "",
    fields: boundaries.FieldMap | None = None,
    encoding: str | None = None,
    replace: bool = False,
    actor: str = "cli",
    source_door: str = "cli",
    dest_root: str | Path | None = None,
    current: str | None = None,
    progress: Progress | None = None,
    prepare_settings: dict[str, Any] | None = None,
    reference=None,
    confirm_ballpark: bool | None = None,
) -> Registered:
    """Validate a boundary set and register it as division `name` beside the others.

    The file is read and validated again (never trusted from an earlier check), and its units
    with their polygons (WKB) saved in the store with the division, in one transaction: every
    server reads the set from there, nothing is kept on this server's disk. A failure leaves
    the store as it was.

    With `replace` and the name of the `current` division, the set becomes the current
    division's boundary set in force (the map's, on every server once its display geometry is
    prepared), provided it keeps every unit that has a record.

    Parameters
    ----------
    path:
        The boundary set: a folder, .shp, .zip holding one shapefile, or .gpkg.
    source:
        Where the file comes from (decision, supplier); the file's name when empty.
    fields, encoding:
        Where the code, name and kind are; the encoding of a .dbf without .cpg.
    actor, source_door:
        Who registers it, and through what (``cli``, ``web``).
    dest_root:
        Ignored (sets were once copied there; they live in the store now).
    current:
        The configured current division (see `check_new`).
    progress:
        Called with each warning of the file and each step of preparing.
    prepare_settings:
        When given (``GAP_WIDTH_M``, ``SIMPLIFY_M``), the display geometry is prepared and
        kept in the store too (slow for a country: never inside a web request).
    reference:
        The current division's units: a set covering too little of them is warned about.
    confirm_ballpark:
        None: a ballpark datum shift is only a warning (the command line). False: it is
        refused (`Unconfirmed`) until the administrator confirms it (True).

    Raises
    ------
    geo_app.errors.GeoAppError
        `check_new`'s errors, `BadEncoding`, `BoundaryError` (unusable file, naming every
        error), `MissingUnits`, or the store's.
    """
    say = progress or (lambda _message: None)
    path = Path(path)
    fields = fields or boundaries.FieldMap()
    encoding = check_encoding(encoding)
    source = (source or "").strip() or path.name
    old = check_new(store, name, valid_from, valid_to, replace, current)
    bset = boundaries.load(path, fields, encoding, reference)
    if bset.ballpark and confirm_ballpark is False:
        raise Unconfirmed(bset.ballpark)
    for w in bset.warnings:
        say(f"warning: {w}")
    set_hash = boundaries.content_hash(path, fields, encoding)
    if current is not None and name == current:
        recorded = {c for p in programmes.all_programmes() for c in store.records(name, p.code)}
        missing = sorted(recorded - set(bset.units["code"]))
        if missing:
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            shown = ", ".join(missing[:20]) + more
            raise MissingUnits(
                f"{path.name} has no unit {shown}, which division {name} has records for; "
                "nothing was registered",
                name,
                details=missing,
            )
        set_id = boundaries.store_set(
            store, name, bset, set_hash, fields, source_door, actor, source
        )
        replaced = True
    else:
        units = [
            {"code": c, "name": n, "kind": k, "parent": ""}
            for c, n, k in zip(
                bset.units["code"], bset.units["name"], bset.units["kind"], strict=True
            )
        ]
        store.save_division(
            name,
            units,
            valid_from=valid_from,
            valid_to=valid_to,
            source=source,
            actor=actor,
            boundary_path=None,
            fields=asdict(fields),
            replace=replace,
            door=source_door,
            boundary_set={
                "content_hash": set_hash,
                "units": boundaries.units_wkb(bset),
                "origin": source_door,
                "source": source,
                "source_crs": bset.source_crs,
                "fields": asdict(fields),
                "repaired": bset.repaired,
                "warnings": bset.warnings,
                "actor": actor,
            },
        )
        set_id = (store.boundary_set(name) or {}).get("id")
        replaced = old is not None
    if prepare_settings is not None:
        row = store.boundary_set(name)
        boundaries.prepare_stored(
            store, row, prepare_settings["GAP_WIDTH_M"], prepare_settings["SIMPLIFY_M"], say
        )
    LOGGER.info(
        "division %s registered by %s through %s: %d units from %s",
        name,
        actor,
        source_door,
        len(bset.units),
        path.name,
    )
    return Registered(
        name=name,
        units=len(bset.units),
        valid_from=valid_from,
        valid_to=valid_to,
        source=source,
        path=path,
        replaced=replaced,
        warnings=list(bset.warnings),
        set_id=set_id,
        current=current is not None and name == current,
    )


# -- polygons of a division, overlays and neighbours -------------------------------------------
def polygons(store: Store, name: str, settings: dict[str, Any]):
    """Return the units of division `name` with their polygons (GeoDataFrame, EPSG:4326).

    From its stored boundary set (the current division's: the set in force, see
    `boundaries.import_default`); a division registered before sets were stored is read from
    the file it was copied to.

    Raises
    ------
    GeoAppError
        When the division has no polygons (it came from a crosswalk only).
    """
    return boundaries.stored_set(store, _stored_row(store, name, settings)).units


def _stored_row(store: Store, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    if name == settings["DIVISION"]:
        return boundaries.import_default(store, settings)
    row = store.boundary_set(name)
    if row is not None:
        return row
    d = exists(store, name)
    if d and d.get("boundary_path") and Path(d["boundary_path"]).exists():
        # registered before boundary sets were stored: store it now, from its old copy
        fields = boundaries.FieldMap(**(d["fields"] or {}))
        path = Path(d["boundary_path"])
        bset = boundaries.load(path, fields)
        set_hash = boundaries.content_hash(path, fields)
        boundaries.store_set(store, name, bset, set_hash, fields, "cli", "upgrade", d["source"])
        return store.boundary_set(name)
    raise GeoAppError(
        f"division {name!r} has no polygons; import its boundary "
        "file with `geo-app boundaries import`, or load a crosswalk"
    )


def overlay(
    store: Store, old: str, new: str, settings: dict[str, Any], min_share: float = 0.05
) -> tuple[list[dict[str, Any]], str]:
    """Derive the crosswalk `old` → `new` from the polygons of both divisions.

    In SQL when the database has PostGIS (`Store.overlay_sql`, areas on the spheroid), else
    with shapely (`boundaries.overlay_crosswalk`, areas in a UTM zone).

    Returns
    -------
    tuple
        The pairs, and how they were computed ("postgis" or "shapely").
    """
    a = _stored_row(store, old, settings)
    b = _stored_row(store, new, settings)
    if store.has_postgis():
        return store.overlay_sql(a["id"], b["id"], min_share), "postgis"
    pairs = boundaries.overlay_crosswalk(
        boundaries.stored_set(store, a).units, boundaries.stored_set(store, b).units, min_share
    )
    return pairs, "shapely"


def neighbours(
    store: Store, code: str, settings: dict[str, Any], division: str | None = None
) -> tuple[list[str], str]:
    """Return the codes of the units next to unit `code` (within the gap-closing width, so a
    sliver between two units does not keep them apart), and how they were found.

    Raises
    ------
    NotFound
        When the division has no such unit.
    """
    from geo_app.errors import NotFound

    division = division or settings["DIVISION"]
    row = _stored_row(store, division, settings)
    within = float(settings.get("GAP_WIDTH_M") or 100.0)
    if store.has_postgis():
        found = store.neighbours_sql(row["id"], code, within)
        if not found and not any(u["code"] == code for u in store.boundary_units(row["id"])):
            raise NotFound(f"division {division} has no unit {code}")
        return found, "postgis"
    units = boundaries.stored_set(store, row).units
    return boundaries.neighbours(units, code, within), "shapely"
