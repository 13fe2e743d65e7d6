"""The read model: what every door reads, per data revision and day.

The map page, the API, the exports, the GIS downloads and the CLI all ask this module what the
units show, the figures above the map, the date those figures stand at and the trend, so the
screen and the paper cannot disagree. Dates come from the one clock (`geo_app.clock`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any, Protocol

from geo_app import clock
from geo_app.cache import LRUCache
from geo_app.core.records import NOT_LISTED, Standing, summary, trend
from geo_app.store import Store


class Cache(Protocol):
    def get(self, key: tuple, make: Any) -> Any: ...


class View:
    """What the units of one division show on one day (now when `as_of` is None).

    Parameters
    ----------
    codes:
        The units of the boundary set (the rest of the division's records are not drawn).
    standing:
        Their own records and their former units' (`geo_app.core.records.Standing`).
    """

    def __init__(
        self,
        division: str,
        revision: int,
        as_of: dt.date | None,
        codes: Sequence[str],
        standing: Standing,
    ):
        self.division = division
        self.revision = revision
        self.as_of = as_of
        self.codes = list(codes)
        self.standing = standing

    @cached_property
    def statuses(self) -> dict[str, str]:
        """Return the status every unit shows (the roll-up; ``not_listed`` when none)."""
        return self.standing.statuses(self.codes)

    @cached_property
    def listed(self) -> dict[str, str]:
        """Return the status of every listed unit, by code (units not listed left out)."""
        return {c: s for c, s in self.statuses.items() if s != NOT_LISTED}

    @cached_property
    def shown(self) -> list[Any]:
        """Return the records that count for the units: their own and their former units'."""
        return self.standing.shown(self.codes)

    @property
    def sample(self) -> bool:
        """Tell whether a record that counts comes from a bundled sample file."""
        return any(bool(getattr(r, "sample", False)) for r in self.shown)

    @cached_property
    def updated_on(self) -> dt.date | None:
        """Return the day the figures stand at, as the page says "updated": `as_of`, else the
        local date of the newest change among the records that count (None when none)."""
        if self.as_of is not None:
            return self.as_of
        stamps = [r.updated_at for r in self.shown if getattr(r, "updated_at", None)]
        return clock.local_date(max(stamps)) if stamps else None

    @property
    def figures_date(self) -> dt.date:
        """Return the date printed under the figures ("Số liệu tính đến ngày"): `updated_on`,
        else today."""
        return self.updated_on or clock.today()

    @cached_property
    def figures(self) -> dict[str, Any]:
        """Return the figures: units, listed, counts per status, transformed_pct, sample and
        updated_on (ISO, or None)."""
        out = summary(self.listed.values(), len(self.codes))
        out["sample"] = self.sample
        out["updated_on"] = self.updated_on.isoformat() if self.updated_on else None
        return out

    def cache_weight(self) -> int:
        return self.standing.cache_weight() + 64 * len(self.codes)


class ReadModel:
    """The one reader of the store for every door.

    Parameters
    ----------
    cache:
        Where standings and trends are kept per (division, revision, day); a small private
        cache when None.
    """

    def __init__(self, store: Store, division: str, cache: Cache | None = None):
        self.store = store
        self.division = division
        self.cache = cache if cache is not None else LRUCache(16)

    def revision(self) -> int:
        """Return the data revision (see `Store.revision`): the key of everything cached."""
        return self.store.revision()

    def standing(self, day: dt.date | None = None, revision: int | None = None) -> Standing:
        """Return the records in force on `day` (now when None): own and former units'."""
        revision = self.revision() if revision is None else revision
        return self.cache.get(
            ("standing", self.division, revision, day),
            lambda: self.store.standing(self.division, day),
        )

    def view(
        self,
        codes: Iterable[str],
        day: dt.date | None = None,
        revision: int | None = None,
        units_key: str = "",
    ) -> View:
        """Return what the units `codes` show on `day` (now when None).

        The revision is read before the records, so whatever is cached under it holds content
        at least as new as its key says. With `units_key` (what identifies `codes`, e.g. the
        boundary set's key) the view itself is cached, with the figures it computes.
        """
        revision = self.revision() if revision is None else revision

        def make() -> View:
            return View(self.division, revision, day, list(codes), self.standing(day, revision))

        if not units_key:
            return make()
        return self.cache.get(("view", self.division, revision, day, units_key), make)

    def trend(self, day: dt.date | None = None, revision: int | None = None) -> list[dict]:
        """Return the count per status at each month's end up to `day` (today when None).

        Units count with the roll-up of their own and their former units' records, as on the
        map.
        """
        revision = self.revision() if revision is None else revision
        end = day or clock.today()

        def make() -> list[dict[str, Any]]:
            pairs = self.store.crosswalk_into(self.division)
            former = {old: self.store.events(old) for old in {p["old_division"] for p in pairs}}
            return trend(self.store.events(self.division), end, former, pairs)

        return self.cache.get(("trend", self.division, revision, end), make)
