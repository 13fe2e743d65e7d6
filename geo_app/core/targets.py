"""Targets per unit (chỉ tiêu) and deadlines (pure rules).

A listed unit has a checklist of targets, each with a title, a due date, the day it was met, a
note and who last changed it. The checklist is kept as dated events, like the status history:
the checklist on a day is, for each target, its latest event not after that day, so as-of views
show it as it stood. A programme's definition gives the targets a newly listed unit starts with.

A unit's **deadline** is its record's deadline field (hotspot: ``target_on``), or, without one,
the latest due date of its open targets. Its state, by the one clock:

- ``overdue``: the deadline has passed and the unit has not reached the programme's "done"
  status (``days`` is negative: the days late);
- ``due_soon``: due within the programme's ``soon_days`` (30), today included;
- ``on_track``: due later;
- ``met_early``: done on or before the deadline (the seed's "sớm đạt được các chỉ tiêu");
- ``met_late``: done after it;
- ``none``: no deadline (or a unit that is not listed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from geo_app.core.programme import Programme

STATES = ("overdue", "due_soon", "on_track", "met_early", "met_late", "none")


@dataclass(frozen=True)
class Target:
    """One target of a unit's checklist."""

    key: str
    title: str
    due_on: dt.date | None = None
    met_on: dt.date | None = None
    note: str = ""
    updated_by: str = ""
    updated_at: str | None = None  # ISO instant of the last change

    @property
    def met(self) -> bool:
        return self.met_on is not None

    def state(self, today: dt.date) -> str:
        """``met``, ``overdue`` (due before today, not met), or ``open``."""
        if self.met:
            return "met"
        if self.due_on is not None and self.due_on < today:
            return "overdue"
        return "open"

    def to_dict(self, today: dt.date) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "met_on": self.met_on.isoformat() if self.met_on else None,
            "note": self.note,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
            "state": self.state(today),
        }


@dataclass(frozen=True)
class TargetEvent:
    """One change of one target of one unit: append-only."""

    id: int
    code: str
    key: str
    effective_on: dt.date
    title: str
    due_on: dt.date | None
    met_on: dt.date | None
    note: str
    removed: bool
    actor: str
    changed_at: str | None = None


def checklists(
    events: Iterable[TargetEvent], day: dt.date | None = None
) -> dict[str, list[Target]]:
    """Return each unit's checklist on `day` (the latest when None), in the order targets were
    first added."""
    latest: dict[tuple[str, str], TargetEvent] = {}
    first: dict[tuple[str, str], int] = {}
    for e in sorted(events, key=lambda e: (e.effective_on, e.id)):
        if day is not None and e.effective_on > day:
            continue
        key = (e.code, e.key)
        first.setdefault(key, e.id)
        latest[key] = e
    out: dict[str, list[Target]] = {}
    for key in sorted(latest, key=lambda k: first[k]):
        e = latest[key]
        if e.removed:
            continue
        out.setdefault(e.code, []).append(
            Target(e.key, e.title, e.due_on, e.met_on, e.note, e.actor, e.changed_at)
        )
    return out


def progress(targets: Sequence[Target]) -> tuple[int, int]:
    """Return (met, total)."""
    return sum(1 for t in targets if t.met), len(targets)


@dataclass(frozen=True)
class Deadline:
    """A unit's deadline state (see the module's doc)."""

    state: str
    due_on: dt.date | None = None
    days: int | None = None  # days left (negative: late); for a met deadline, days early/late

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "target_on": self.due_on.isoformat() if self.due_on else None,
            "days": self.days,
        }


NONE = Deadline("none")


def deadline(
    prog: Programme,
    status: str,
    values: Mapping[str, Any] | None,
    targets: Sequence[Target],
    today: dt.date,
) -> Deadline:
    """Return the deadline state of a unit.

    Parameters
    ----------
    status:
        What the unit shows (the roll-up).
    values:
        The unit's own record's fields (None when it has none).
    targets:
        Its checklist.
    """
    if not prog.listed(status) and status != prog.done_status:
        return NONE
    due = (values or {}).get(prog.deadline_field) if prog.deadline_field else None
    if due is None:
        open_due = [t.due_on for t in targets if not t.met and t.due_on is not None]
        due = max(open_due) if open_due else None
    if prog.done_status and status == prog.done_status:
        done_on = (values or {}).get(prog.done_field) if prog.done_field else None
        if due is None or done_on is None:
            return Deadline("none", due)
        days = (due - done_on).days
        return Deadline("met_early" if days >= 0 else "met_late", due, days)
    if due is None:
        return NONE
    days = (due - today).days
    if days < 0:
        return Deadline("overdue", due, days)
    if days <= prog.soon_days:
        return Deadline("due_soon", due, days)
    return Deadline("on_track", due, days)


def default_targets(
    prog: Programme, values: Mapping[str, Any], listed_on: dt.date, lang: str = "vi"
) -> list[tuple[str, dt.date | None]]:
    """Return the (title, due date) of the targets a newly listed unit starts with."""
    out = []
    for t in prog.targets:
        if t.due == "deadline":
            due = values.get(prog.deadline_field) if prog.deadline_field else None
        else:
            due = listed_on + dt.timedelta(days=int(t.due))
        out.append((t.title(lang), due))
    return out
