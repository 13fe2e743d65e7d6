"""Boundary sets registered as divisions: check a file, then register it (CLI and web alike).

A division is a set of units in force over a period (``valid_from`` to ``valid_to``), with its
source. Registering one copies its boundary file under the instance folder
(``instance/boundaries/NAME``) and saves its units in the store, in one transaction. Both doors,
`geo-app boundaries import` and the admin page's upload, go through `register`; the admin page
shows `check`'s report first and registers only once the administrator accepts it.
"""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geo_app import config
from geo_app.core import vntext
from geo_app.errors import BadRequest, BoundaryError
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
        raise CurrentDivision(
            f"division {name!r} is the current division (GEO_APP_DIVISION), whose units come "
            "from GEO_APP_BOUNDARIES; register the boundary set under another name",
            name,
        )
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

    The file is read and validated again (never trusted from an earlier check), copied into
    ``dest_root / name`` (replacing that folder as a whole), and its units saved in the store
    in one transaction. A failure leaves the store as it was.

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
        Folder of the installed copies (default: `boundary_root` of no settings,
        ``instance/boundaries``).
    current:
        The configured current division, whose name is refused (see `check_new`).
    progress:
        Called with each warning of the file and each step of preparing.
    prepare_settings:
        When given (``CACHE_DIR``, ``GAP_WIDTH_M``, ``SIMPLIFY_M``), the display geometry of the
        installed copy is prepared and cached too (slow: never inside a web request).
    reference:
        The current division's units: a set covering too little of them is warned about.
    confirm_ballpark:
        None: a ballpark datum shift is only a warning (the command line). False: it is
        refused (`Unconfirmed`) until the administrator confirms it (True).

    Raises
    ------
    geo_app.errors.GeoAppError
        `check_new`'s errors, `BadEncoding`, `BoundaryError` (unusable file, naming every
        error), or the store's.
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
    dest = Path(dest_root or boundary_root({})) / name
    existed = dest.exists()
    installed = boundaries.install_copy(path, dest)
    try:
        if prepare_settings is not None:
            s = prepare_settings
            boundaries.prepare(
                installed,
                s["CACHE_DIR"],
                fields,
                encoding,
                s["GAP_WIDTH_M"],
                s["SIMPLIFY_M"],
                say,
            )
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
            boundary_path=str(installed),
            fields=asdict(fields),
            replace=replace,
            door=source_door,
        )
    except BaseException:
        if not existed:  # no division owned that folder: take the copy away again
            shutil.rmtree(dest, ignore_errors=True)
        raise
    LOGGER.info(
        "division %s registered by %s through %s: %d units from %s",
        name,
        actor,
        source_door,
        len(units),
        path.name,
    )
    return Registered(
        name=name,
        units=len(units),
        valid_from=valid_from,
        valid_to=valid_to,
        source=source,
        path=installed,
        replaced=old is not None,
        warnings=list(bset.warnings),
    )
