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
from geo_app.core.criteria import assess
from geo_app.core.names import responsible_key
from geo_app.core.programme import NOT_LISTED, Programme
from geo_app.core.records import Standing, trend
from geo_app.core.targets import NONE as NO_DEADLINE
from geo_app.core.targets import STATES as DEADLINE_STATES
from geo_app.core.targets import (
    Deadline,
    Target,
    TargetEvent,
    checklists,
    deadline,
    default_targets,
    progress,
)
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
        target_events: Sequence[TargetEvent] = (),
    ):
        self.programme: Programme = programmes.get(standing.programme)
        self.division = division
        self.revision = revision
        self.as_of = as_of
        self.codes = list(codes)
        self.standing = standing
        self.target_events = list(target_events)

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

    @property
    def day(self) -> dt.date:
        """The day the view stands at: `as_of`, else today (deadlines are judged on it)."""
        return self.as_of or clock.today()

    @cached_property
    def targets(self) -> dict[str, list[Target]]:
        """Return each unit's checklist on the view's day: the programme's default targets of
        a listed unit (keys d1, d2...), with the changes recorded since."""
        prog = self.programme
        defaults: list[TargetEvent] = []
        for code, stored in self.standing.records.items():
            rec = getattr(stored, "record", stored)
            if not prog.listed(rec.status):
                continue
            # a unit that reached the programme's "done" status met its targets that day
            done = rec.get(prog.done_field) if rec.status == prog.done_status else None
            for i, (title, due) in enumerate(default_targets(prog, rec.values, dt.date.min)):
                defaults.append(
                    TargetEvent(-1, code, f"d{i + 1}", dt.date.min, title, due, done, "", False, "")
                )
        return checklists(defaults + self.target_events, self.as_of)

    @cached_property
    def deadlines(self) -> dict[str, Deadline]:
        """Return the deadline state of every unit that shows a status."""
        out = {}
        for code, status in self.listed.items():
            stored = self.standing.records.get(code)
            values = getattr(stored, "record", stored).values if stored else None
            targets = self.targets.get(code, [])
            out[code] = deadline(self.programme, status, values, targets, self.day)
        return out

    @cached_property
    def figures(self) -> dict[str, Any]:
        """Return the figures: units, listed, counts per status, the headline share, sample,
        updated_on (ISO, or None), and the deadline states (``deadlines``: count per state;
        ``overdue``, ``due_soon`` and ``met_early`` besides)."""
        out = self.programme.summary(self.listed.values(), len(self.codes))
        out["sample"] = self.sample
        out["updated_on"] = self.updated_on.isoformat() if self.updated_on else None
        states = {s: 0 for s in DEADLINE_STATES}
        for d in self.deadlines.values():
            states[d.state] += 1
        out["deadlines"] = states
        for state in ("overdue", "due_soon", "met_early"):
            out[state] = states[state]
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

    def former_names(self, revision: int | None = None) -> list[dict[str, Any]]:
        """Return every pair (old unit → unit of the division) with the old unit's name and
        kind, as the search box finds units by their former names (cached per revision)."""
        revision = self.revision() if revision is None else revision
        return self.cache.get(
            ("former-names", self.division, revision),
            lambda: [
                {k: p[k] for k in ("old_division", "old_code", "new_code", "name", "kind")}
                for p in self.store.crosswalk_into(self.division)
            ],
        )

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
            events = self.target_events(revision, code)
            return View(self.division, revision, day, list(codes), standing, events)

        if not units_key:
            return make()
        return self.cache.get(("view", code, self.division, revision, day, units_key), make)

    def changes(
        self,
        units: Sequence[Mapping[str, str]],
        start: dt.date,
        end: dt.date,
        programme: str | None = None,
        revision: int | None = None,
        units_key: str = "",
    ) -> dict[str, Any]:
        """Return every unit whose drawn status or deadline state changed from `start` to `end`.

        The state before is the one in force on the day before `start`, the state after the
        one on `end`; both are the roll-up, so a change made through a former (old-division)
        unit counts. Each entry names the unit, both states, the change's kind, and the day
        and door (web, import, cli) of the latest change in the period that it rests on.

        Parameters
        ----------
        units:
            ``code``, ``name`` and ``kind`` of every unit of the boundary set.
        """
        prog = programmes.get(programme)
        revision = self.revision() if revision is None else revision
        codes = [u["code"] for u in units]
        today = clock.today()
        before = self.view(codes, start - dt.timedelta(days=1), revision, units_key, prog.code)
        after = self.view(codes, None if end >= today else end, revision, units_key, prog.code)
        events: dict[str, list[Any]] = {}
        for e in self.store.events(self.division, prog.code):
            events.setdefault(e.code, []).append(e)
        pairs = self.store.crosswalk_into(self.division)
        olds = {p["old_division"] for p in pairs}
        former = {old: self.store.events(old, prog.code) for old in olds}
        for p in pairs:
            for e in former[p["old_division"]]:
                if e.code == p["old_code"]:
                    events.setdefault(p["new_code"], []).append(e)
        entries = []
        counts: dict[str, int] = {}
        for unit in units:
            code = unit["code"]
            sb, sa = before.statuses[code], after.statuses[code]
            db = before.deadlines.get(code, NO_DEADLINE)
            da = after.deadlines.get(code, NO_DEADLINE)
            if sb == sa and db.state == da.state:
                continue
            kind = change_kind(prog, sb, sa)
            within = [e for e in events.get(code, []) if start <= e.effective_on <= end]
            last = max(within, key=lambda e: (e.effective_on, e.id)) if within else None
            if last is not None:
                day, how, actor = last.effective_on, door(last.source), last.actor
            else:  # a deadline passed (or came near) with no change recorded
                day, how, actor = None, "deadline", ""
                if da.state == "overdue" and da.due_on is not None:
                    day = da.due_on + dt.timedelta(days=1)
            counts[kind] = counts.get(kind, 0) + 1
            entries.append(
                {
                    "code": code,
                    "name": unit.get("name", ""),
                    "kind": unit.get("kind", ""),
                    "change": kind,
                    "status_before": sb,
                    "status_after": sa,
                    "deadline_before": db.state,
                    "deadline_after": da.state,
                    "date": day.isoformat() if day else None,
                    "source": how,
                    "actor": actor,
                }
            )
        entries.sort(key=lambda e: (e["date"] or "", e["code"]), reverse=True)
        return {
            "programme": prog.code,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "changes": entries,
            "counts": counts,
        }

    def unit_rows(
        self,
        units: Sequence[Mapping[str, str]],
        day: dt.date | None = None,
        programme: str | None = None,
        lang: str = "vi",
        revision: int | None = None,
        units_key: str = "",
    ) -> list[dict[str, Any]]:
        """Return a row per unit that shows a status: what the list page, ``GET /api/communes``
        and the briefing pack's summary table show."""
        prog = programmes.get(programme)
        revision = self.revision() if revision is None else revision
        codes = [u["code"] for u in units]
        view = self.view(codes, day, revision, units_key, prog.code)
        last: dict[str, dt.date] = {}
        for e in self.store.events(self.division, prog.code):
            if day is None or e.effective_on <= day:
                last[e.code] = max(last.get(e.code, e.effective_on), e.effective_on)
        rows = []
        for unit in units:
            code = unit["code"]
            status = view.statuses[code]
            if status == NOT_LISTED:
                continue
            stored = view.standing.records.get(code)
            rec = getattr(stored, "record", stored)
            responsible = (rec.get("unit") or "") if rec is not None else ""
            met, total = progress(view.targets.get(code, []))
            dl = view.deadlines.get(code, NO_DEADLINE)
            rows.append(
                {
                    "code": code,
                    "name": unit.get("name", ""),
                    "kind": unit.get("kind", ""),
                    "status": status,
                    "status_label": prog.label(status, lang),
                    "deadline": dl.to_dict(),
                    "target_on": dl.due_on.isoformat() if dl.due_on else None,
                    "targets_met": met,
                    "targets_total": total,
                    "unit": responsible,
                    "unit_key": responsible_key(responsible) if responsible else "",
                    "last_change": last[code].isoformat() if code in last else None,
                    "criteria": criteria_dict(prog, stored, status, lang),
                    "sample": bool(getattr(stored, "sample", False)),
                }
            )
        return rows

    def target_events(self, revision: int, programme: str) -> list[TargetEvent]:
        """Return every change of the checklists in `programme` (cached per revision)."""
        return self.cache.get(
            ("target-events", programme, self.division, revision),
            lambda: self.store.target_events(self.division, programme),
        )

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
        revision = self.revision() if revision is None else revision
        view = self.view([code], day, revision, programme=prog.code)
        targets = view.targets.get(code, [])
        met, total = progress(targets)
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
            "deadline": view.deadlines.get(code, NO_DEADLINE).to_dict(),
            "criteria": criteria_dict(prog, stored, status, lang),
            "targets": [t.to_dict(view.day) for t in targets],
            "targets_met": met,
            "targets_total": total,
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


#: Kinds of change `ReadModel.changes` names, besides a status code reached (the programme's
#: done status, e.g. ``transformed``, and its relapse status, e.g. ``relapsed``).
CHANGE_KINDS = ("newly_listed", "delisted", "graver", "lighter", "deadline")


def door(source: str) -> str:
    """Return through what a change came: ``web``, ``import``, ``cli`` (or the source itself)."""
    head = (source or "").split(":", 1)[0]
    return head if head in ("web", "import", "cli") else (source or "")


def change_kind(prog: Programme, before: str, after: str) -> str:
    """Return the kind of a change of the status a unit shows."""
    if before == after:
        return "deadline"
    if before == NOT_LISTED:
        return "newly_listed"
    if after == NOT_LISTED:
        return "delisted"
    if after in (prog.done_status, prog.relapse_becomes):
        return after
    return "graver" if prog.gravity(after) > prog.gravity(before) else "lighter"


def responsible_figures(prog: Programme, rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Return the figures per responsible unit (listed, done, overdue, targets met / total),
    spelling variants grouped (`geo_app.core.names.responsible_key`), most listed first."""
    groups: dict[str, dict[str, Any]] = {}
    spellings: dict[str, dict[str, int]] = {}
    for row in rows:
        key = row["unit_key"]
        g = groups.setdefault(
            key,
            {
                "unit": "",
                "listed": 0,
                "done": 0,
                "overdue": 0,
                "targets_met": 0,
                "targets_total": 0,
            },
        )
        if prog.listed(row["status"]):
            g["listed"] += 1
        if row["status"] == prog.done_status:
            g["done"] += 1
        if row["deadline"]["state"] == "overdue":
            g["overdue"] += 1
        g["targets_met"] += row["targets_met"]
        g["targets_total"] += row["targets_total"]
        names = spellings.setdefault(key, {})
        names[row["unit"]] = names.get(row["unit"], 0) + 1
    for key, g in groups.items():
        g["unit"] = max(spellings[key].items(), key=lambda kv: (kv[1], kv[0]))[0]
        g["key"] = key
    return sorted(groups.values(), key=lambda g: (-g["listed"], g["key"]))


def criteria_dict(prog: Programme, stored: Any, status: str, lang: str) -> dict[str, Any] | None:
    """Return what the programme's criteria say of a unit's own record (None when the programme
    has no criteria): the status they give, whether it disagrees with `status`, the clauses met.
    """
    if not prog.criteria:
        return None
    rec = getattr(stored, "record", stored)
    found = assess(prog, rec.values if rec is not None else None)
    return {
        "suggested": found.suggested,
        "suggested_label": prog.label(found.suggested, lang) if found.suggested else None,
        "measured": found.measured,
        "disagrees": found.disagrees_with(prog, status),
        "met": [
            {"id": c["id"], "clause": c.get("clause", ""), "text": c.get(lang) or c.get("vi", "")}
            for c in found.met
        ],
    }
