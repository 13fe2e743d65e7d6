"""What every command module shares: settings and store, failure output, progress."""

from __future__ import annotations

import json
import sys
import threading
import time

import click

from geo_app import clock, config
from geo_app.errors import GeoAppError, StoreUnavailable
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.store import Store


class Context:
    def __init__(self) -> None:
        self.settings = config.load()
        clock.set_zone(self.settings["TIMEZONE"])
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
            try:  # the set in force, as the map shows it: the store's, once it holds one
                current = self.store.boundary_set(self.settings["DIVISION"])
            except StoreUnavailable:  # no schema yet
                current = None
            if current is not None:
                return importer.unit_refs(boundaries.stored_set(self.store, current).units)
            # nothing stored yet (no server started): the configured file itself
            bset = boundaries.load(
                self.settings["BOUNDARIES"],
                boundaries.FieldMap.from_settings(self.settings),
                self.settings["ENCODING"] or None,
            )
            return importer.unit_refs(bset.units)
        rows = self.store.division_units(division)
        if not rows:
            known = [d["name"] for d in self.store.divisions()] + [self.settings["DIVISION"]]
            raise GeoAppError(
                f"unknown division {division!r}; known: {', '.join(sorted(set(known)))}"
            )
        return [importer.UnitRef(u["code"], u["name"], u["kind"]) for u in rows]


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def fail(exc: GeoAppError, as_json: bool) -> None:
    if as_json:
        out = {"ok": False, "error": exc.message}
        if isinstance(exc.details, list):
            out["problems"] = exc.details
        elif exc.details is not None:
            out["details"] = exc.details
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(f"error: {exc.message}", err=True)
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
