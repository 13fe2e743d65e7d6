"""The store's targets (chỉ tiêu): every change of a unit's checklist, append-only, audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from geo_app import clock
from geo_app.core.programme import DEFAULT
from geo_app.core.targets import TargetEvent
from geo_app.store.models import TargetEventRow


@dataclass(frozen=True)
class TargetChange:
    """One change of one target: `key` None adds a new target to the unit's checklist."""

    programme: str
    division: str
    code: str
    key: str | None
    title: str
    due_on: dt.date | None
    met_on: dt.date | None
    note: str
    effective_on: dt.date
    removed: bool = False


class TargetsMixin:
    """Targets of the units' checklists (mixed into `geo_app.store.Store`)."""

    def target_events(self, division: str, programme: str = DEFAULT) -> list[TargetEvent]:
        """Return every change of the checklists of `division` in `programme`, as recorded."""

        def run():
            with self.session() as s:
                rows = s.scalars(
                    select(TargetEventRow)
                    .where(
                        TargetEventRow.programme == programme,
                        TargetEventRow.division == division,
                    )
                    .order_by(TargetEventRow.id)
                )
                return [_event(r) for r in rows]

        return self._guard(run)

    def save_targets(self, changes: list[TargetChange], actor: str, source: str) -> list[str]:
        """Write target changes and one audit entry each, in one transaction.

        Returns
        -------
        list
            The key of each changed target (new ones get the unit's next number).
        """
        if not changes:
            return []

        def run() -> list[str]:
            now = clock.now()
            keys: list[str] = []
            with self.session() as s, s.begin():
                for ch in changes:
                    key = ch.key or _next_key(s, ch)
                    s.add(
                        TargetEventRow(
                            programme=ch.programme,
                            division=ch.division,
                            code=ch.code,
                            key=key,
                            effective_on=ch.effective_on,
                            title=ch.title,
                            due_on=ch.due_on,
                            met_on=ch.met_on,
                            note=ch.note,
                            removed=ch.removed,
                            actor=actor,
                            source=source,
                            changed_at=now,
                        )
                    )
                    s.flush()
                    action = "target.remove" if ch.removed else "target.set"
                    where = f"{ch.division}:{ch.code}"
                    target = where if ch.programme == DEFAULT else f"{ch.programme}:{where}"
                    self._audit(
                        s,
                        actor,
                        action,
                        source,
                        target,
                        {
                            "programme": ch.programme,
                            "target": key,
                            "title": ch.title,
                            "due_on": ch.due_on and ch.due_on.isoformat(),
                            "met_on": ch.met_on and ch.met_on.isoformat(),
                            "note": ch.note,
                            "effective_on": ch.effective_on.isoformat(),
                        },
                    )
                    keys.append(key)
            return keys

        return self._guard(run)


def _next_key(s, ch: TargetChange) -> str:
    """Return the next free key of a unit's targets: numbers, after the defaults' d1, d2..."""
    keys = s.scalars(
        select(TargetEventRow.key).where(
            TargetEventRow.programme == ch.programme,
            TargetEventRow.division == ch.division,
            TargetEventRow.code == ch.code,
        )
    )
    numbers = [int(k) for k in keys if k.isdigit()]
    return str(max(numbers, default=0) + 1)


def _event(r: TargetEventRow) -> TargetEvent:
    return TargetEvent(
        r.id,
        r.code,
        r.key,
        r.effective_on,
        r.title,
        r.due_on,
        r.met_on,
        r.note or "",
        bool(r.removed),
        r.actor,
        r.changed_at.isoformat() if r.changed_at else None,
    )
