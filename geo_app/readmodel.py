"""The read model: what every door reads, per programme, data revision and day.

The map page, the API, the exports, the GIS downloads and the CLI all ask this module what the
units show, the figures above the map, the date those figures stand at and the trend, so the
screen and the paper cannot disagree. Dates come from the one clock (`geo_app.clock`); the
statuses, gravity and figures from the programme's definition (`geo_app.core.programme`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any, Protocol

from geo_app import clock
from geo_app.cache import LRUCache
from geo_app.core import programme as programmes
from geo_app.core.programme import NOT_LISTED, Programme
from geo_app.core.records import Standing, trend
from geo_app.i18n import format_date, format_timestamp
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
        self.programme: Programme = programmes.get(standing.programme)
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
        out = self.programme.summary(self.listed.values(), len(self.codes))
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

    def standing(
        self,
        day: dt.date | None = None,
        revision: int | None = None,
        programme: str | None = None,
    ) -> Standing:
        """Return the records of `programme` in force on `day` (now when None): own and
        former units'."""
        revision = self.revision() if revision is None else revision
        code = programmes.get(programme).code
        return self.cache.get(
            ("standing", code, self.division, revision, day),
            lambda: self.store.standing(self.division, day, code),
        )

    def view(
        self,
        codes: Iterable[str],
        day: dt.date | None = None,
        revision: int | None = None,
        units_key: str = "",
        programme: str | None = None,
    ) -> View:
        """Return what the units `codes` show in `programme` on `day` (now when None).

        The revision is read before the records, so whatever is cached under it holds content
        at least as new as its key says. With `units_key` (what identifies `codes`, e.g. the
        boundary set's key) the view itself is cached, with the figures it computes.
        """
        revision = self.revision() if revision is None else revision
        code = programmes.get(programme).code

        def make() -> View:
            standing = self.standing(day, revision, code)
            return View(self.division, revision, day, list(codes), standing)

        if not units_key:
            return make()
        return self.cache.get(("view", code, self.division, revision, day, units_key), make)

    def trend(
        self,
        day: dt.date | None = None,
        revision: int | None = None,
        programme: str | None = None,
    ) -> list[dict]:
        """Return the count per status of `programme` at each month's end up to `day` (today
        when None).

        Units count with the roll-up of their own and their former units' records, as on the
        map.
        """
        revision = self.revision() if revision is None else revision
        end = day or clock.today()
        prog = programmes.get(programme)

        def make() -> list[dict[str, Any]]:
            pairs = self.store.crosswalk_into(self.division)
            olds = {p["old_division"] for p in pairs}
            former = {old: self.store.events(old, prog.code) for old in olds}
            events = self.store.events(self.division, prog.code)
            return trend(events, end, former, pairs, prog)

        return self.cache.get(("trend", prog.code, self.division, revision, end), make)

    def details(
        self,
        unit: Mapping[str, str],
        day: dt.date | None = None,
        programme: str | None = None,
        lang: str = "vi",
        revision: int | None = None,
    ) -> dict[str, Any]:
        """Return one unit's details in `programme` on `day` (now when None), as the panel,
        ``GET /api/communes/<code>`` and ``geo-app status show`` give them.

        ``status`` is what the map shows: the gravest of the unit's own record
        (``own_status``) and of the records of the former units that went into it, listed in
        ``former``, each with its own status and dates and whether it was split between
        several units. ``history`` is the unit's history up to `day`, in the order it holds.

        Parameters
        ----------
        unit:
            ``code``, ``name`` and ``kind`` of the unit.
        """
        prog = programmes.get(programme)
        code = unit["code"]
        standing = self.standing(day, revision, prog.code)
        stored = (
            self.store.record(self.division, code, prog.code)
            if day is None
            else standing.records.get(code)
        )
        history = self.store.history(self.division, code, prog.code)
        if day is not None:
            history = [h for h in history if h["effective_on"] <= day.isoformat()]
        own_status = stored.record.status if stored else NOT_LISTED
        former = []
        former_units = standing.former_units(code)
        for pair, rec in former_units:
            st = rec.record.status if rec else NOT_LISTED
            former.append(
                {
                    "division": pair["old_division"],
                    "code": pair["old_code"],
                    "name": pair["name"],
                    "kind": pair["kind"],
                    "split": bool(pair["split"]),
                    "status": st,
                    "status_label": prog.label(st, lang),
                    "record": _record_dict(prog, rec, lang) if rec else None,
                }
            )
        status = prog.rollup([own_status, *(f["status"] for f in former)])
        return {
            "code": code,
            "name": unit.get("name", ""),
            "kind": unit.get("kind", ""),
            "programme": prog.code,
            "status": status,
            "status_label": prog.label(status, lang),
            "own_status": own_status,
            "own_status_label": prog.label(own_status, lang),
            "record": _record_dict(prog, stored, lang) if stored else None,
            "former": former,
            "sample": bool(stored and stored.sample)
            or any(rec is not None and rec.sample for _, rec in former_units),
            "as_of": day.isoformat() if day else None,
            "history": [
                {
                    **h,
                    "old_status_label": prog.label(h["old_status"], lang)
                    if h["old_status"]
                    else None,
                    "new_status_label": prog.label(h["new_status"], lang),
                    "effective_on_display": format_date(
                        dt.date.fromisoformat(h["effective_on"]), lang
                    ),
                    "changed_at_display": format_timestamp(
                        dt.datetime.fromisoformat(h["changed_at"]), lang
                    ),
                    # recorded after a change that takes effect later: it went into the past
                    "correction": any(
                        o["id"] < h["id"] and o["effective_on"] > h["effective_on"] for o in history
                    ),
                }
                for h in history
            ],
        }


def _record_dict(prog: Programme, stored: Any, lang: str) -> dict[str, Any]:
    """Return a stored record as JSON, with its dates also written for `lang` (``display``)."""
    record = stored.to_dict()
    record["display"] = {
        f.name: format_date(dt.date.fromisoformat(record[f.name]), lang)
        if record.get(f.name)
        else ""
        for f in prog.fields
        if f.type == "date"
    }
    return record
