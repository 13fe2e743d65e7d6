"""What every command module shares: settings and store, failure output, progress."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import click

from geo_app import clock, config
from geo_app.core import programme as programmes
from geo_app.errors import GeoAppError, ImportFailed, StoreUnavailable
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.outputs import registry
from geo_app.readmodel import ReadModel
from geo_app.store import Store


class Context:
    def __init__(self) -> None:
        self.settings = config.load()
        try:
            clock.set_zone(self.settings["TIMEZONE"])
            programmes.configure([self.settings["PROGRAMMES_DIR"]])
        except GeoAppError as exc:
            fail(exc, False)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings["DATABASE_URL"])
        return self._store

    def units(self, division: str | None = None) -> list[importer.UnitRef]:
        """Return the units of `division`: for the current division, those of its set in force
        in the store (what the map shows), or of the configured file while the store holds
        none; the registered ones (from a boundary import or a crosswalk) otherwise."""
        if division in (None, self.settings["DIVISION"]):
            return importer.unit_refs(source_units(self))
        rows = self.store.division_units(division)
        if not rows:
            known = [d["name"] for d in self.store.divisions()] + [self.settings["DIVISION"]]
            raise GeoAppError(
                f"unknown division {division!r}; known: {', '.join(sorted(set(known)))}"
            )
        return [importer.UnitRef(u["code"], u["name"], u["kind"]) for u in rows]

    def other_division_codes(self, division: str | None = None) -> dict[str, set[str]]:
        """Return the unit codes of every registered division but `division` (for hints)."""
        division = division or self.settings["DIVISION"]
        return importer.other_division_codes(self.store, division)


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def fail(exc: GeoAppError, as_json: bool) -> None:
    """Say what went wrong (a message, the problems, which database and why) and exit 1."""
    reason = exc.reason if isinstance(exc, StoreUnavailable) else ""
    if as_json:
        out = {"ok": False, "error": exc.message}
        if isinstance(exc.details, list):
            out["problems"] = exc.details
            if isinstance(exc, ImportFailed):
                out["problems_total"] = exc.total or len(exc.details)
        elif exc.details is not None:
            out["details"] = exc.details
        if reason:
            out["reason"] = reason
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(f"error: {exc.message}", err=True)
        if reason:
            click.echo(f"  {reason}", err=True)
        if isinstance(exc.details, list):
            for p in exc.details:
                click.echo(f"  - {importer.format_problem(p)}", err=True)
    sys.exit(1)


class Ticker:
    """Print each step with the time since the start, and a heartbeat during long steps."""

    def __init__(self, every: float = 10.0):
        self.start = time.perf_counter()
        self.every = every
        self._step = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        self._step = message
        click.echo(f"[{time.perf_counter() - self.start:6.1f} s] {message}", err=True)
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            click.echo(
                f"[{time.perf_counter() - self.start:6.1f} s] … still {self._step}", err=True
            )

    def close(self) -> None:
        self._stop.set()


def source_units(ctx: Context):
    """Return the current division's boundary set in force, as read (not simplified): the
    store's once it holds one, else the configured file."""
    s = ctx.settings
    try:
        current = ctx.store.boundary_set(s["DIVISION"])
    except StoreUnavailable:  # no schema yet
        current = None
    if current is not None:
        return boundaries.stored_set(ctx.store, current).units
    return boundaries.load(
        s["BOUNDARIES"], boundaries.FieldMap.from_settings(s), s["ENCODING"] or None
    ).units


def export_source(
    ctx: Context, programme: str | None, day=None, *, display: bool
) -> registry.Source:
    """Return what an export is made from, read as every door reads it (`ReadModel`).

    Parameters
    ----------
    display:
        Prepare (or read from the cache) the display geometry, which print maps need.
    """
    s = ctx.settings

    def load_units():
        return source_units(ctx)

    units = key = None
    if display:
        prepared = boundaries.prepare_from_settings(
            s, progress=lambda m: click.echo(m, err=True), store=ctx.store
        )
        units, key = prepared.units, prepared.key
        codes = list(units["code"])
    else:
        own = load_units()
        codes = list(own["code"])
        load_units = lambda: own  # noqa: E731 - read once
    reader = ReadModel(ctx.store, s["DIVISION"])
    view = reader.view(codes, day, programme=programme)
    return registry.Source(view, units, key or "", load_units, registry.source_label(s), reader)


def write_atomically(out: Path, body: bytes) -> None:
    """Write `body` to `out` through a temporary name: never half a file under the final one."""
    tmp = out.with_name(out.name + ".part")
    try:
        tmp.write_bytes(body)
        tmp.replace(out)
    except OSError as exc:
        raise GeoAppError(f"{out}: cannot be written ({exc.strerror})") from None


def programme_option(fn):
    """Add ``--programme CODE`` (default: hotspot) to a command."""
    return click.option(
        "--programme",
        default=None,
        help="The programme (default: hotspot); `geo-app status programmes` lists them.",
    )(fn)
