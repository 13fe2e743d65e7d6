"""The store: status records and their append-only history, users, audit, divisions.

SQLite under instance/ by default; PostgreSQL when GEO_APP_DATABASE_URL says so. The schema
is made and upgraded by Alembic (`geo-app db upgrade`), never by `create_all` at run time.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError, StatementError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import Date, LargeBinary

from geo_app import clock
from geo_app.core.records import Event, Record, Standing, state_as_of
from geo_app.errors import GeoAppError, NotFound, StoreUnavailable
from geo_app.store.geometry import GeometryStore
from geo_app.store.jobs import JobStore
from geo_app.store.models import (
    Assignment,
    AuditEntry,
    Base,
    CrosswalkRow,
    Division,
    HistoryEntry,
    LoginAttempt,
    StatusRecord,
    UnitRow,
    User,
    UTCDateTime,
)

LOGGER = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


#: Audit actions that change what units were made of (the crosswalk, a division's units).
_LAYOUT_ACTIONS = ("crosswalk.import", "division.add", "division.replace")


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


class Store(GeometryStore, JobStore):
    """Access to the status store at one database URL."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, pool_pre_ping=True, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()

    def display_url(self) -> str:
        """Return the database URL without its password (for messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    def session(self) -> Session:
        return self._sessions()

    def upgrade(self) -> None:
        """Create or upgrade the schema to the newest migration (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _guard(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (OperationalError, ProgrammingError) as exc:
            text = str(exc.orig or exc).lower()
            if "no such table" in text or ("relation" in text and "does not exist" in text):
                raise StoreUnavailable(
                    "the status database has no tables yet; run `geo-app db upgrade`"
                ) from None
            if isinstance(exc, ProgrammingError):
                raise
            LOGGER.warning("store unavailable: %s", exc)
            raise StoreUnavailable(
                "the status database is unavailable; try again in a moment"
            ) from None

    # -- reads -------------------------------------------------------------------------
    def revision(self) -> int:
        """Return the data revision: the cache key of everything the views show.

        It is the id of the newest history entry plus that of the newest audit entry for a
        crosswalk or division change (0 when none): both only grow, so every status change
        and every change of what units were made of gives a new, higher revision.
        """

        def run() -> int:
            with self.session() as s:
                history = select(func.coalesce(func.max(HistoryEntry.id), 0)).scalar_subquery()
                layout = (
                    select(func.coalesce(func.max(AuditEntry.id), 0))
                    .where(AuditEntry.action.in_(_LAYOUT_ACTIONS))
                    .scalar_subquery()
                )
                return int(s.scalar(select(history + layout)))

        return self._guard(run)

    def records(self, division: str) -> dict[str, StoredRecord]:
        """Return every current record of `division`, by code."""

        def run():
            with self.session() as s:
                rows = s.scalars(select(StatusRecord).where(StatusRecord.division == division))
                return {r.code: _stored(r) for r in rows}

        return self._guard(run)

    def record(self, division: str, code: str) -> StoredRecord | None:
        """Return the current record of one unit, or None."""

        def run():
            with self.session() as s:
                row = s.scalar(
                    select(StatusRecord).where(
                        StatusRecord.division == division, StatusRecord.code == code
                    )
                )
                return _stored(row) if row else None

        return self._guard(run)

    def history(self, division: str, code: str) -> list[dict[str, Any]]:
        """Return the history of one unit in the order it holds: by effective day, then as
        recorded (a correction sits where it belongs, not where it was typed)."""

        def run():
            with self.session() as s:
                rows = s.scalars(
                    select(HistoryEntry)
                    .where(HistoryEntry.division == division, HistoryEntry.code == code)
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

    def events(self, division: str) -> list[Event]:
        """Return every history entry of `division` as dated events, oldest first."""

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
                    )
                    .where(HistoryEntry.division == division)
                    .order_by(HistoryEntry.id)
                )
                return [Event(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

        return self._guard(run)

    def records_as_of(self, division: str, day: dt.date | None) -> dict[str, StoredRecord]:
        """Return the records of `division` in force on `day` by code (current when None).

        Records rebuilt from history carry version 0 and no ``updated_at``; their ``sample``
        flag is the current record's.
        """
        current = self.records(division)
        if day is None:
            return current
        out: dict[str, StoredRecord] = {}
        for code, ev in state_as_of(self.events(division), day).items():
            record = Record.from_content(ev.content or {"code": code, "status": ev.status})
            record.status = ev.status
            now = current.get(code)
            out[code] = StoredRecord(record, 0, None, bool(now and now.sample))  # type: ignore[arg-type]
        return out

    def standing(self, division: str, day: dt.date | None = None) -> Standing:
        """Return what the units of `division` show on `day` (now when None).

        That is their own records and, through the crosswalk into `division`, the records of
        the former units that went into them (see `geo_app.status.Standing`).
        """
        pairs = self.crosswalk_into(division)
        former: dict[tuple[str, str], StoredRecord] = {}
        for old in sorted({p["old_division"] for p in pairs}):
            for code, rec in self.records_as_of(old, day).items():
                former[(old, code)] = rec
        return Standing(self.records_as_of(division, day), former, pairs)

    def last_effective(self, division: str) -> dict[str, dt.date]:
        """Return, per unit, the latest effective date in its history."""

        def run():
            with self.session() as s:
                rows = s.execute(
                    select(HistoryEntry.code, func.max(HistoryEntry.effective_on))
                    .where(HistoryEntry.division == division)
                    .group_by(HistoryEntry.code)
                )
                return {code: day for code, day in rows}

        return self._guard(run)

    # -- users, assignments, audit -----------------------------------------------------
    def _audit(
        self, s: Session, actor: str, action: str, source: str, target: str, details: dict[str, Any]
    ) -> None:
        s.add(
            AuditEntry(
                at=clock.now(),
                actor=actor,
                action=action,
                source=source,
                target=target,
                details=details,
            )
        )

    def add_user(
        self, username: str, password_hash: str, role: str, actor: str, source: str
    ) -> None:
        """Create a user.

        Raises
        ------
        Conflict
            When the name is taken.
        """

        def run():
            with self.session() as s, s.begin():
                if s.scalar(select(User.id).where(User.username == username)) is not None:
                    raise Conflict(f"user {username!r} already exists")
                s.add(
                    User(
                        username=username,
                        password_hash=password_hash,
                        role=role,
                        disabled=False,
                        created_at=clock.now(),
                    )
                )
                self._audit(s, actor, "user.add", source, username, {"role": role})

        self._guard(run)

    def user(self, username: str) -> dict[str, Any] | None:
        """Return a user as a dict (with its password hash), or None."""

        def run():
            with self.session() as s:
                u = s.scalar(select(User).where(User.username == username))
                return _user_dict(u) if u else None

        return self._guard(run)

    def users(self) -> list[dict[str, Any]]:
        def run():
            with self.session() as s:
                return [_user_dict(u) for u in s.scalars(select(User).order_by(User.username))]

        return self._guard(run)

    def update_user(self, username: str, actor: str, source: str, **changes: Any) -> None:
        """Change a user's role, password hash or disabled flag (one audit entry).

        Raises
        ------
        NotFound
            When there is no such user.
        """
        allowed = {"role", "password_hash", "disabled"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"update_user takes {allowed}")

        def run():
            with self.session() as s, s.begin():
                u = s.scalar(select(User).where(User.username == username))
                if u is None:
                    raise NotFound(f"no user named {username!r}")
                for key, value in changes.items():
                    setattr(u, key, value)
                shown = {k: v for k, v in changes.items() if k != "password_hash"}
                if "password_hash" in changes:
                    shown["password"] = "changed"
                action = "user.disable" if changes.get("disabled") else "user.update"
                self._audit(s, actor, action, source, username, shown)

        self._guard(run)

    def set_password_hash(self, username: str, old_hash: str, new_hash: str) -> bool:
        """Replace a user's password hash by an equivalent one (same password, newer argon2
        parameters), unless it changed meanwhile. Not a change of password: no audit entry.

        Returns
        -------
        bool
            Whether the hash was replaced.
        """

        def run() -> bool:
            with self.session() as s, s.begin():
                result = s.execute(
                    update(User)
                    .where(User.username == username, User.password_hash == old_hash)
                    .values(password_hash=new_hash)
                )
                return result.rowcount == 1

        return self._guard(run)

    def set_assignments(
        self, username: str, division: str, codes: list[str], actor: str, source: str
    ) -> None:
        """Replace the units assigned to `username` in `division` (one audit entry)."""

        def run():
            with self.session() as s, s.begin():
                old = set(
                    s.scalars(
                        select(Assignment.code).where(
                            Assignment.username == username, Assignment.division == division
                        )
                    )
                )
                new = set(codes)
                for code in old - new:
                    s.execute(
                        Assignment.__table__.delete().where(
                            Assignment.username == username,
                            Assignment.division == division,
                            Assignment.code == code,
                        )
                    )
                for code in sorted(new - old):
                    s.add(Assignment(username=username, division=division, code=code))
                self._audit(
                    s,
                    actor,
                    "user.assign",
                    source,
                    username,
                    {
                        "division": division,
                        "added": sorted(new - old),
                        "removed": sorted(old - new),
                    },
                )

        self._guard(run)

    def assignments(self, username: str, division: str) -> set[str]:
        def run():
            with self.session() as s:
                return set(
                    s.scalars(
                        select(Assignment.code).where(
                            Assignment.username == username, Assignment.division == division
                        )
                    )
                )

        return self._guard(run)

    def audit_entries(
        self,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return audit entries, newest first, filtered by the given values."""

        def run():
            q = select(AuditEntry).order_by(AuditEntry.id.desc())
            if actor:
                q = q.where(AuditEntry.actor == actor)
            if action:
                q = q.where(AuditEntry.action.startswith(action))
            if target:
                q = q.where(AuditEntry.target.contains(target))
            if since:
                q = q.where(AuditEntry.at >= since)
            if until:
                q = q.where(AuditEntry.at < until)
            if limit:
                q = q.limit(limit)
            with self.session() as s:
                return [
                    {
                        "id": a.id,
                        "at": a.at.isoformat(),
                        "actor": a.actor,
                        "action": a.action,
                        "source": a.source,
                        "target": a.target,
                        "details": a.details,
                    }
                    for a in s.scalars(q)
                ]

        return self._guard(run)

    def record_login(self, username: str, address: str, success: bool) -> None:
        def run():
            with self.session() as s, s.begin():
                s.add(
                    LoginAttempt(
                        at=clock.now(),
                        username=username[:64],
                        address=address[:64],
                        success=success,
                    )
                )

        self._guard(run)

    def login_failures(
        self, since: dt.datetime, username: str | None = None, address: str | None = None
    ) -> int:
        """Count failed logins since `since` for an account or from an address."""

        def run():
            q = (
                select(func.count())
                .select_from(LoginAttempt)
                .where(LoginAttempt.at >= since, LoginAttempt.success.is_(False))
            )
            if username is not None:
                q = q.where(LoginAttempt.username == username)
            if address is not None:
                q = q.where(LoginAttempt.address == address)
            with self.session() as s:
                return int(s.scalar(q))

        return self._guard(run)

    # -- divisions and crosswalks -----------------------------------------------------
    def save_division(
        self,
        name: str,
        units: list[dict[str, str]],
        *,
        valid_from: dt.date | None,
        valid_to: dt.date | None,
        source: str,
        actor: str,
        boundary_path: str | None = None,
        fields: dict[str, str] | None = None,
        replace: bool = False,
        door: str = "cli",
        boundary_set: dict[str, Any] | None = None,
    ) -> None:
        """Register a division with its units (code, name, kind, parent), in one transaction.

        `door` ("cli" or "web") is the audit entry's source. `boundary_set` (the arguments of
        `save_boundary_set` but the division) stores its polygons in the same transaction.

        Raises
        ------
        Conflict
            When the division exists and `replace` is not set.
        """

        def run():
            with self.session() as s, s.begin():
                old = s.scalar(select(Division).where(Division.name == name))
                if old is not None and not replace:
                    raise Conflict(f"division {name!r} exists already; replace it or choose a name")
                if old is not None:
                    s.delete(old)
                    s.execute(UnitRow.__table__.delete().where(UnitRow.division == name))
                    s.flush()
                s.add(
                    Division(
                        name=name,
                        valid_from=valid_from,
                        valid_to=valid_to,
                        source=source,
                        boundary_path=boundary_path,
                        fields=fields,
                        created_at=clock.now(),
                    )
                )
                s.execute(
                    UnitRow.__table__.insert(),
                    [
                        {
                            "division": name,
                            "code": u["code"],
                            "name": u["name"],
                            "kind": u["kind"],
                            "parent": u.get("parent", ""),
                        }
                        for u in units
                    ],
                )
                self._audit(
                    s,
                    actor,
                    "division.replace" if old else "division.add",
                    door,
                    name,
                    {
                        "units": len(units),
                        "source": source,
                        "valid_from": valid_from and valid_from.isoformat(),
                        "valid_to": valid_to and valid_to.isoformat(),
                    },
                )
                if boundary_set is not None:
                    self.save_boundary_set(name, session=s, **boundary_set)

        self._guard(run)

    def divisions(self) -> list[dict[str, Any]]:
        """Return every registered division, oldest first, with its unit count."""

        def run():
            with self.session() as s:
                counts = dict(
                    s.execute(
                        select(UnitRow.division, func.count()).group_by(UnitRow.division)
                    ).all()
                )
                rows = s.scalars(select(Division).order_by(Division.valid_from, Division.name))
                return [
                    {
                        "name": d.name,
                        "valid_from": d.valid_from and d.valid_from.isoformat(),
                        "valid_to": d.valid_to and d.valid_to.isoformat(),
                        "source": d.source,
                        "boundary_path": d.boundary_path,
                        "fields": d.fields,
                        "units": counts.get(d.name, 0),
                    }
                    for d in rows
                ]

        return self._guard(run)

    def division_units(self, name: str) -> list[dict[str, str]]:
        """Return the units of a registered division (empty when it is not registered)."""

        def run():
            with self.session() as s:
                rows = s.scalars(
                    select(UnitRow).where(UnitRow.division == name).order_by(UnitRow.code)
                )
                return [
                    {"code": u.code, "name": u.name, "kind": u.kind, "parent": u.parent}
                    for u in rows
                ]

        return self._guard(run)

    def save_crosswalk(
        self,
        old_division: str,
        new_division: str,
        rows: list[dict[str, Any]],
        actor: str,
        source: str,
    ) -> None:
        """Replace the crosswalk from `old_division` to `new_division` (one transaction)."""

        def run():
            with self.session() as s, s.begin():
                s.execute(
                    CrosswalkRow.__table__.delete().where(
                        CrosswalkRow.old_division == old_division,
                        CrosswalkRow.new_division == new_division,
                    )
                )
                s.execute(
                    CrosswalkRow.__table__.insert(),
                    [
                        {"old_division": old_division, "new_division": new_division, **r}
                        for r in rows
                    ],
                )
                self._audit(
                    s,
                    actor,
                    "crosswalk.import",
                    source,
                    f"{old_division}->{new_division}",
                    {"pairs": len(rows), "split": sum(1 for r in rows if r["split"])},
                )

        self._guard(run)

    def crosswalk_into(self, new_division: str) -> list[dict[str, Any]]:
        """Return every pair (old unit → unit of `new_division`), with the old unit's name."""

        def run():
            with self.session() as s:
                q = (
                    select(CrosswalkRow, UnitRow.name, UnitRow.kind, UnitRow.parent)
                    .outerjoin(
                        UnitRow,
                        (UnitRow.division == CrosswalkRow.old_division)
                        & (UnitRow.code == CrosswalkRow.old_code),
                    )
                    .where(CrosswalkRow.new_division == new_division)
                    .order_by(CrosswalkRow.new_code, CrosswalkRow.old_code)
                )
                return [
                    {
                        "old_division": c.old_division,
                        "old_code": c.old_code,
                        "new_code": c.new_code,
                        "split": c.split,
                        "share": c.share,
                        "method": c.method,
                        "name": name or "",
                        "kind": kind or "",
                        "parent": parent or "",
                    }
                    for c, name, kind, parent in s.execute(q)
                ]

        return self._guard(run)

    # -- backup and restore -----------------------------------------------------------
    def schema_revision(self) -> str | None:
        def run():
            with self.engine.connect() as conn:
                try:
                    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                except (OperationalError, ProgrammingError):
                    return None

        return self._guard(run)

    def backup(self) -> dict[str, Any]:
        """Return every table's rows as one JSON-ready object, read in one transaction."""

        def run():
            out: dict[str, Any] = {
                "format": BACKUP_FORMAT,
                "schema_revision": self.schema_revision(),
                "made_at": clock.now().isoformat(),
                "tables": {},
            }
            with self.engine.connect() as conn, conn.begin():
                if self.engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                for table in Base.metadata.sorted_tables:
                    rows = conn.execute(select(table).order_by(table.c.id)).mappings()
                    out["tables"][table.name] = [_jsonable(dict(r)) for r in rows]
            return out

        return self._guard(run)

    def restore(self, data: dict[str, Any]) -> dict[str, int]:
        """Replace every table's rows with those of a backup, in one transaction.

        Raises
        ------
        GeoAppError
            When the backup is not one of ours or was made under another schema revision;
            nothing is changed.
        """
        if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT:
            raise GeoAppError("not a geo-app backup file")
        if data.get("schema_revision") != self.schema_revision():
            raise GeoAppError(
                f"the backup has schema revision {data.get('schema_revision')}, the database "
                f"{self.schema_revision()}; run `geo-app db upgrade` on a matching version"
            )
        tables = data.get("tables") or {}

        def run():
            counts: dict[str, int] = {}
            with self.engine.begin() as conn:
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(table.delete())
                for table in Base.metadata.sorted_tables:
                    rows = [_from_json(table, r) for r in tables.get(table.name, [])]
                    if rows:
                        conn.execute(table.insert(), rows)
                    counts[table.name] = len(rows)
                    if self.engine.dialect.name == "postgresql":
                        conn.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
            return counts

        try:
            return self._guard(run)
        except (KeyError, TypeError, ValueError, StatementError) as exc:
            raise GeoAppError(f"the backup file is damaged ({exc}); nothing was restored") from None

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
                            target=f"{ch.record.division}:{ch.record.code}",
                            details={
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


def _action(ch: Change) -> str:
    if ch.correction:
        return "status.correct"
    return "status.update" if ch.old else "status.create"


def _count_correction(s: Session, ch: Change, now: dt.datetime) -> None:
    """Count a correction on the unit's record (its version moves); its content stays."""
    rec = ch.record
    where = [StatusRecord.division == rec.division, StatusRecord.code == rec.code]
    if ch.expected_version is not None:
        where.append(StatusRecord.version == ch.expected_version)
    result = s.execute(
        update(StatusRecord).where(*where).values(version=StatusRecord.version + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise Conflict(f"unit {rec.code} was changed meanwhile; reload and try again")


def _write_one(s: Session, ch: Change, now: dt.datetime, sample: bool) -> None:
    rec = ch.record
    values = dict(
        status=rec.status,
        designated_on=rec.designated_on,
        target_on=rec.target_on,
        transformed_on=rec.transformed_on,
        unit=rec.unit,
        problems=list(rec.problems),
        notes=rec.notes,
        sample=sample,
        updated_at=now,
    )
    if ch.old is None:
        exists = s.scalar(
            select(StatusRecord.id).where(
                StatusRecord.division == rec.division, StatusRecord.code == rec.code
            )
        )
        if exists is not None:
            raise Conflict(f"unit {rec.code} gained a record meanwhile; reload and try again")
        s.add(StatusRecord(division=rec.division, code=rec.code, version=1, **values))
        s.flush()
        return
    where = [StatusRecord.division == rec.division, StatusRecord.code == rec.code]
    if ch.expected_version is not None:
        where.append(StatusRecord.version == ch.expected_version)
    result = s.execute(
        update(StatusRecord).where(*where).values(version=StatusRecord.version + 1, **values)
    )
    if result.rowcount != 1:
        raise Conflict(f"unit {rec.code} was changed meanwhile; reload and try again")


BACKUP_FORMAT = "geo-app-backup/1"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, bytes | memoryview):
            value = base64.b64encode(bytes(value)).decode("ascii")
        out[key] = value
    return out


def _from_json(table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for col in table.columns:
        value = row.get(col.name)
        if value is not None and isinstance(col.type, UTCDateTime):
            value = dt.datetime.fromisoformat(value)
        elif value is not None and isinstance(col.type, Date):
            value = dt.date.fromisoformat(value)
        elif value is not None and isinstance(col.type, LargeBinary):
            value = base64.b64decode(value)
        out[col.name] = value
    return out


def _user_dict(u: User) -> dict[str, Any]:
    return {
        "username": u.username,
        "role": u.role,
        "disabled": bool(u.disabled),
        "created_at": u.created_at.isoformat(),
        "password_hash": u.password_hash,
    }


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


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
