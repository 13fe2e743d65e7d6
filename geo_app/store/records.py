"""Status records and their append-only history.

Mixed into `geo_app.store.Store`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from geo_app import clock
from geo_app.core.programme import DEFAULT
from geo_app.core.records import Event, Record, Standing, state_as_of
from geo_app.errors import GeoAppError, NotFound
from geo_app.store.models import (
    AuditEntry,
    DataRevision,
    HistoryEntry,
    StatusRecord,
    TargetEventRow,
)

#: Audit actions that change what the views show without a new history entry: what units were
#: made of (the crosswalk, a division's units), and the repair of a history entry in place.
_LAYOUT_ACTIONS = ("crosswalk.import", "division.add", "division.replace", "status.repair")


def _revision_expr(with_base: bool = True):
    """Return the SQL expression of the data revision (see `Store.revision`)."""
    history = select(func.coalesce(func.max(HistoryEntry.id), 0)).scalar_subquery()
    layout = (
        select(func.coalesce(func.max(AuditEntry.id), 0))
        .where(AuditEntry.action.in_(_LAYOUT_ACTIONS))
        .scalar_subquery()
    )
    targets = select(func.coalesce(func.max(TargetEventRow.id), 0)).scalar_subquery()
    if not with_base:
        return history + layout + targets
    base = select(func.coalesce(func.max(DataRevision.base), 0)).scalar_subquery()
    return history + layout + targets + base


@dataclass
class StoredRecord:
    """A record as stored, with its bookkeeping."""

    record: Record
    version: int
    updated_at: dt.datetime
    sample: bool

    def to_dict(self) -> dict[str, Any]:
        out = self.record.content()
        out.update(
            version=self.version,
            updated_at=self.updated_at.isoformat() if self.updated_at else None,
            sample=self.sample,
        )
        return out


@dataclass
class Change:
    """One change to write: `old` is the content it replaces (None when new).

    A `correction` (`geo_app.core.changes`) takes effect before the unit's last change: it goes
    into the history where it belongs, and the current record (the latest change by date)
    stays as it is. `dated_by` says how `effective_on` was found.
    """

    record: Record
    old: Record | None
    effective_on: dt.date
    note: str = ""
    expected_version: int | None = None
    correction: bool = False
    dated_by: str = "given"


class Conflict(GeoAppError):
    """The record changed since it was read."""

    status = 409


def _current_from_history(s: Session, rec: Record, now: dt.datetime) -> None:
    """Make the current record of `rec`'s unit (division, code, programme) its latest history
    entry by (effective_on, id)."""
    latest = s.scalars(
        select(HistoryEntry)
        .where(
            HistoryEntry.programme == rec.programme,
            HistoryEntry.division == rec.division,
            HistoryEntry.code == rec.code,
        )
        .order_by(HistoryEntry.effective_on.desc(), HistoryEntry.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return
    content = latest.new or {"code": rec.code, "status": latest.new_status}
    current = Record.from_content(
        {**content, "division": rec.division, "status": latest.new_status}, rec.programme
    ).content()
    s.execute(
        update(StatusRecord)
        .where(*_where(rec))
        .values(
            status=latest.new_status,
            fields={k: v for k, v in current.items() if k not in _NOT_FIELDS},
            updated_at=now,
            version=StatusRecord.version + 1,
        )
    )


def _target(rec: Record) -> str:
    """Return the audit target of a record: "2025:16522", or "drugs:2025:16522" outside the
    default programme."""
    where = f"{rec.division}:{rec.code}"
    return where if rec.programme == DEFAULT else f"{rec.programme}:{where}"


def _where(rec: Record) -> list:
    return [
        StatusRecord.programme == rec.programme,
        StatusRecord.division == rec.division,
        StatusRecord.code == rec.code,
    ]


def _action(ch: Change) -> str:
    if ch.correction:
        return "status.correct"
    return "status.update" if ch.old else "status.create"


def _count_correction(s: Session, ch: Change, now: dt.datetime) -> None:
    """Count a correction on the unit's record (its version moves); its content stays."""
    rec = ch.record
    where = _where(rec)
    if ch.expected_version is not None:
        where.append(StatusRecord.version == ch.expected_version)
    result = s.execute(
        update(StatusRecord).where(*where).values(version=StatusRecord.version + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise Conflict(f"unit {rec.code} was changed meanwhile; reload and try again")


def _write_one(s: Session, ch: Change, now: dt.datetime, sample: bool) -> None:
    rec = ch.record
    content = rec.content()
    values = dict(
        status=rec.status,
        fields={k: v for k, v in content.items() if k not in _NOT_FIELDS},
        sample=sample,
        updated_at=now,
    )
    if ch.old is None:
        exists = s.scalar(select(StatusRecord.id).where(*_where(rec)))
        if exists is not None:
            raise Conflict(f"unit {rec.code} gained a record meanwhile; reload and try again")
        s.add(
            StatusRecord(
                programme=rec.programme, division=rec.division, code=rec.code, version=1, **values
            )
        )
        s.flush()
        return
    where = _where(rec)
    if ch.expected_version is not None:
        where.append(StatusRecord.version == ch.expected_version)
    result = s.execute(
        update(StatusRecord).where(*where).values(version=StatusRecord.version + 1, **values)
    )
    if result.rowcount != 1:
        raise Conflict(f"unit {rec.code} was changed meanwhile; reload and try again")


#: What a record's content holds besides its fields.
_NOT_FIELDS = ("code", "status", "division", "programme")


def _stored(row: StatusRecord) -> StoredRecord:
    return StoredRecord(row.to_record(), row.version, row.updated_at, bool(row.sample))


def _history_dict(h: HistoryEntry) -> dict[str, Any]:
    return {
        "id": h.id,
        "changed_at": h.changed_at.isoformat(),
        "effective_on": h.effective_on.isoformat(),
        "actor": h.actor,
        "source": h.source,
        "old_status": h.old_status,
        "new_status": h.new_status,
        "note": h.note,
        "old": h.old,
        "new": h.new,
        "dated_by": h.date_source,
    }


class RecordsMixin:
    """Status records and their append-only history."""

    def records(self, division: str, programme: str = DEFAULT) -> dict[str, StoredRecord]:
        """Return every current record of `division` in `programme`, by code."""

        def run():
            with self.session() as s:
                rows = s.scalars(
                    select(StatusRecord).where(
                        StatusRecord.programme == programme, StatusRecord.division == division
                    )
                )
                return {r.code: _stored(r) for r in rows}

        return self._guard(run)

    def record(self, division: str, code: str, programme: str = DEFAULT) -> StoredRecord | None:
        """Return the current record of one unit in `programme`, or None."""

        def run():
            with self.session() as s:
                row = s.scalar(
                    select(StatusRecord).where(
                        StatusRecord.programme == programme,
                        StatusRecord.division == division,
                        StatusRecord.code == code,
                    )
                )
                return _stored(row) if row else None

        return self._guard(run)

    def history(self, division: str, code: str, programme: str = DEFAULT) -> list[dict[str, Any]]:
        """Return the history of one unit in the order it holds: by effective day, then as
        recorded (a correction sits where it belongs, not where it was typed)."""

        def run():
            with self.session() as s:
                rows = s.scalars(
                    select(HistoryEntry)
                    .where(
                        HistoryEntry.programme == programme,
                        HistoryEntry.division == division,
                        HistoryEntry.code == code,
                    )
                    .order_by(HistoryEntry.effective_on, HistoryEntry.id)
                )
                return [_history_dict(h) for h in rows]

        return self._guard(run)

    def count(self) -> int:
        """Return the number of records in every division."""

        def run() -> int:
            with self.session() as s:
                return int(s.scalar(select(func.count()).select_from(StatusRecord)))

        return self._guard(run)

    def history_count(self) -> int:
        def run() -> int:
            with self.session() as s:
                return int(s.scalar(select(func.count()).select_from(HistoryEntry)))

        return self._guard(run)

    def events(self, division: str, programme: str = DEFAULT) -> list[Event]:
        """Return every history entry of `division` in `programme` as dated events, oldest
        first (as recorded)."""

        def run():
            with self.session() as s:
                rows = s.execute(
                    select(
                        HistoryEntry.id,
                        HistoryEntry.code,
                        HistoryEntry.effective_on,
                        HistoryEntry.new_status,
                        HistoryEntry.new,
                        HistoryEntry.date_source,
                        HistoryEntry.source,
                        HistoryEntry.actor,
                    )
                    .where(HistoryEntry.programme == programme, HistoryEntry.division == division)
                    .order_by(HistoryEntry.id)
                )
                return [Event(*r) for r in rows]

        return self._guard(run)

    def records_as_of(
        self, division: str, day: dt.date | None, programme: str = DEFAULT
    ) -> dict[str, StoredRecord]:
        """Return the records of `division` in force on `day` by code (current when None).

        Records rebuilt from history carry version 0 and no ``updated_at``; their ``sample``
        flag is the current record's.
        """
        current = self.records(division, programme)
        if day is None:
            return current
        out: dict[str, StoredRecord] = {}
        for code, ev in state_as_of(self.events(division, programme), day).items():
            content = ev.content or {"code": code, "status": ev.status, "division": division}
            record = Record.from_content(content, programme)
            record.status = ev.status
            now = current.get(code)
            out[code] = StoredRecord(record, 0, None, bool(now and now.sample))  # type: ignore[arg-type]
        return out

    def standing(
        self, division: str, day: dt.date | None = None, programme: str = DEFAULT
    ) -> Standing:
        """Return what the units of `division` show in `programme` on `day` (now when None).

        That is their own records and, through the crosswalk into `division`, the records of
        the former units that went into them (see `geo_app.core.records.Standing`).
        """
        pairs = self.crosswalk_into(division)
        former: dict[tuple[str, str], StoredRecord] = {}
        for old in sorted({p["old_division"] for p in pairs}):
            for code, rec in self.records_as_of(old, day, programme).items():
                former[(old, code)] = rec
        return Standing(self.records_as_of(division, day, programme), former, pairs, programme)

    def last_effective(self, division: str, programme: str = DEFAULT) -> dict[str, dt.date]:
        """Return, per unit, the latest effective date in its history in `programme`."""

        def run():
            with self.session() as s:
                rows = s.execute(
                    select(HistoryEntry.code, func.max(HistoryEntry.effective_on))
                    .where(HistoryEntry.programme == programme, HistoryEntry.division == division)
                    .group_by(HistoryEntry.code)
                )
                return {code: day for code, day in rows}

        return self._guard(run)

    # -- writes ------------------------------------------------------------------------
    def apply(self, changes: list[Change], actor: str, source: str, sample: bool = False) -> int:
        """Write `changes` and one history entry each, all in one transaction.

        Raises
        ------
        Conflict
            When a record changed since it was read; nothing is written.
        """
        if not changes:
            return 0

        def run() -> int:
            now = clock.now()
            with self.session() as s, s.begin():
                for ch in changes:
                    if ch.correction:
                        _count_correction(s, ch, now)
                    else:
                        _write_one(s, ch, now, sample)
                    s.add(
                        HistoryEntry(
                            programme=ch.record.programme,
                            division=ch.record.division,
                            code=ch.record.code,
                            changed_at=now,
                            effective_on=ch.effective_on,
                            actor=actor,
                            source=source,
                            old_status=ch.old.status if ch.old else None,
                            new_status=ch.record.status,
                            note=ch.note,
                            old=ch.old.content() if ch.old else None,
                            new=ch.record.content(),
                            date_source=ch.dated_by,
                        )
                    )
                    s.add(
                        AuditEntry(
                            at=now,
                            actor=actor,
                            action=_action(ch),
                            source=source,
                            target=_target(ch.record),
                            details={
                                "programme": ch.record.programme,
                                "old_status": ch.old.status if ch.old else None,
                                "new_status": ch.record.status,
                                "effective_on": ch.effective_on.isoformat(),
                                "dated_by": ch.dated_by,
                                "note": ch.note,
                            },
                        )
                    )
            return len(changes)

        return self._guard(run)

    def repair_history(
        self,
        division: str,
        code: str,
        entry_id: int,
        effective_on: dt.date,
        record: Record,
        note: str,
        actor: str,
        source: str,
    ) -> dict[str, Any]:
        """Replace one history entry of a unit (its effective day and the record it left), the
        one audited exception to an append-only history: how an administrator repairs a unit
        damaged by an impossible date.

        The unit's current record is then recomputed as its latest entry by (effective_on,
        id); the audit entry (``status.repair``) holds the entry's old and new content and
        the reason. The data revision moves on. The caller checks the new values against the
        change rule (`geo_app.core.changes.check_repair`).

        Returns
        -------
        dict
            The entry as `history` gives it, after the repair.

        Raises
        ------
        NotFound
            When the unit has no history entry `entry_id`.
        """

        def run():
            now = clock.now()
            with self.session() as s, s.begin():
                h = s.get(HistoryEntry, entry_id)
                if (
                    h is None
                    or h.division != division
                    or h.code != code
                    or h.programme != record.programme
                ):
                    raise NotFound(f"unit {code} has no history entry {entry_id}")
                before = {
                    "effective_on": h.effective_on.isoformat(),
                    "status": h.new_status,
                    "record": h.new,
                }
                h.effective_on = effective_on
                h.new_status = record.status
                h.new = record.content()
                h.date_source = "given"
                after = {
                    "effective_on": effective_on.isoformat(),
                    "status": record.status,
                    "record": h.new,
                }
                s.flush()
                _current_from_history(s, record, now)
                self._audit(
                    s,
                    actor,
                    "status.repair",
                    source,
                    f"{division}:{code}",
                    {"entry": entry_id, "note": note, "old": before, "new": after},
                )
                s.flush()
                return _history_dict(h)

        return self._guard(run)
