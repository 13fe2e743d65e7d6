"""SQLAlchemy models and queries: status records and their append-only history.

SQLite under instance/ by default; PostgreSQL when GEO_APP_DATABASE_URL says so. The schema
is made and upgraded by Alembic (`geo-app db upgrade`), never by `create_all` at run time.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from geo_app.errors import GeoAppError, StoreUnavailable
from geo_app.status import Record

LOGGER = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class StatusRecord(Base):
    """The current record of one unit of one division."""

    __tablename__ = "status_records"
    __table_args__ = (UniqueConstraint("division", "code", name="uq_status_records_division_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division: Mapped[str] = mapped_column(String(32), nullable=False)
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    designated_on: Mapped[dt.date | None] = mapped_column(Date)
    target_on: Mapped[dt.date | None] = mapped_column(Date)
    transformed_on: Mapped[dt.date | None] = mapped_column(Date)
    unit: Mapped[str] = mapped_column(Text, nullable=False, default="")
    problems: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sample: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    def to_record(self) -> Record:
        return Record(
            code=self.code,
            status=self.status,
            division=self.division,
            designated_on=self.designated_on,
            target_on=self.target_on,
            transformed_on=self.transformed_on,
            unit=self.unit or "",
            problems=list(self.problems or []),
            notes=self.notes or "",
        )


class HistoryEntry(Base):
    """One change of one record: append-only, never updated or deleted."""

    __tablename__ = "status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    effective_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    source: Mapped[str] = mapped_column(String(512), nullable=False)
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    old: Mapped[dict | None] = mapped_column(JSON)
    new: Mapped[dict] = mapped_column(JSON, nullable=False)


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
    """One record to write: `old` is the content it replaces (None when new)."""

    record: Record
    old: Record | None
    effective_on: dt.date
    note: str = ""
    expected_version: int | None = None


class Conflict(GeoAppError):
    """The record changed since it was read."""

    status = 409


class Store:
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
        except OperationalError as exc:
            LOGGER.warning("store unavailable: %s", exc)
            raise StoreUnavailable(
                "the status database is unavailable; try again in a moment"
            ) from None

    # -- reads -------------------------------------------------------------------------
    def revision(self) -> int:
        """Return the data revision: the id of the newest history entry (0 when none)."""

        def run() -> int:
            with self.session() as s:
                return int(s.scalar(select(func.coalesce(func.max(HistoryEntry.id), 0))))

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
        """Return the history of one unit, oldest first."""

        def run():
            with self.session() as s:
                rows = s.scalars(
                    select(HistoryEntry)
                    .where(HistoryEntry.division == division, HistoryEntry.code == code)
                    .order_by(HistoryEntry.id)
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
            now = utcnow()
            with self.session() as s, s.begin():
                for ch in changes:
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
                        )
                    )
            return len(changes)

        return self._guard(run)


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
    }


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
