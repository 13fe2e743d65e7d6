"""The tables of the store (SQLAlchemy models). The schema is made by Alembic migrations.

Timestamps are stored in UTC. `UTCDateTime` makes that hold on every database: an aware
datetime is converted to UTC before it is written, and what is read back is UTC-aware, also on
SQLite, which keeps no time zone.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from geo_app.core.records import Record


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and read back as an aware UTC datetime on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be aware; use geo_app.clock.now()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class StatusRecord(Base):
    """The current record of one unit of one division in one programme.

    Its fields are the programme's (`geo_app.core.programme`), kept as one JSON object.
    """

    __tablename__ = "status_records"
    __table_args__ = (
        UniqueConstraint(
            "programme", "division", "code", name="uq_status_records_programme_division_code"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme: Mapped[str] = mapped_column(String(32), nullable=False, default="hotspot")
    division: Mapped[str] = mapped_column(String(32), nullable=False)
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    fields: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    sample: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    def to_record(self) -> Record:
        return Record.from_content(
            {
                **(self.fields or {}),
                "code": self.code,
                "status": self.status,
                "division": self.division,
                "programme": self.programme,
            }
        )


class HistoryEntry(Base):
    """One change of one record: append-only, never updated or deleted."""

    __tablename__ = "status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme: Mapped[str] = mapped_column(
        String(32), nullable=False, default="hotspot", index=True
    )
    division: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    effective_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    source: Mapped[str] = mapped_column(String(512), nullable=False)
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    old: Mapped[dict | None] = mapped_column(JSON)
    new: Mapped[dict] = mapped_column(JSON, nullable=False)
    #: how the effective day was found: given, row (another date of the row), import (its day)
    date_source: Mapped[str | None] = mapped_column(String(16))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class Assignment(Base):
    """A unit an officer may edit."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("username", "division", "code", name="uq_assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    division: Mapped[str] = mapped_column(String(32), nullable=False)
    code: Mapped[str] = mapped_column(String(16), nullable=False)


class AuditEntry(Base):
    """One write of any kind (status change, user administration...): append-only."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(512), nullable=False)
    target: Mapped[str] = mapped_column(String(128), nullable=False)
    details: Mapped[dict] = mapped_column(JSON, nullable=False)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)


class LoginSession(Base):
    """One login: the cookie holds a random token, this row its SHA-256 and its state."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: logout, password, disabled, admin, idle
    ended_by: Mapped[str | None] = mapped_column(String(16))


class DataRevision(Base):
    """One row: what `Store.revision` adds to the newest ids (moved on by restores, repairs)."""

    __tablename__ = "data_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Division(Base):
    """An administrative division: a set of units in force over a period."""

    __tablename__ = "divisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    boundary_path: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class UnitRow(Base):
    """A unit of a division (from its boundary file, or from a crosswalk)."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("division", "code", name="uq_units_division_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division: Mapped[str] = mapped_column(String(32), nullable=False)
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    parent: Mapped[str] = mapped_column(Text, nullable=False, default="")


class CrosswalkRow(Base):
    """An old unit, or the part of a split one, that went into a new unit."""

    __tablename__ = "crosswalk"
    __table_args__ = (
        UniqueConstraint(
            "old_division", "old_code", "new_division", "new_code", name="uq_crosswalk_pair"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    old_division: Mapped[str] = mapped_column(String(32), nullable=False)
    old_code: Mapped[str] = mapped_column(String(16), nullable=False)
    new_division: Mapped[str] = mapped_column(String(32), nullable=False)
    new_code: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    split: Mapped[bool] = mapped_column(Boolean, nullable=False)
    share: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(16), nullable=False)


class BoundarySet(Base):
    """A boundary set as registered: its units' geometry (WKB) lives in `BoundaryUnit`.

    The newest set of a division is the one in force; ``content_hash`` identifies its content
    (the files' bytes, the field mapping and the encoding), whatever server read it.
    """

    __tablename__ = "boundary_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    #: how it came: "settings" (GEO_APP_BOUNDARIES at a start), "cli" or "web"
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    source_crs: Mapped[str] = mapped_column(Text, nullable=False)
    fields: Mapped[dict | None] = mapped_column(JSON)
    repaired: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    warnings: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    units: Mapped[int] = mapped_column(Integer, nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class BoundaryUnit(Base):
    """One unit of a stored boundary set, its geometry as WKB in EPSG:4326."""

    __tablename__ = "boundary_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(
        ForeignKey("boundary_sets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    geom: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Prepared(Base):
    """Something derived from a boundary set once for every server, keyed by content hash:
    display geometry (``kind`` "display") or the map's encoded data ("topology")."""

    __tablename__ = "prepared"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(96), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    set_hash: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    #: hash of the settings it was made with (algorithm, gap width, tolerance...)
    params_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    meta: Mapped[dict] = mapped_column(JSON, nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class Job(Base):
    """A background job (pack, preparation, overlay): its state, progress and result."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    #: what the result depends on (kind, boundary set, data revision, options): a job whose
    #: key matches gives its result to a later request for the same thing
    key: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    params: Mapped[dict] = mapped_column(JSON, nullable=False)
    #: queued, running, done, failed
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[bytes | None] = mapped_column(LargeBinary)
    result_name: Mapped[str | None] = mapped_column(Text)
    result_type: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class TargetEventRow(Base):
    """One change of one target of a unit's checklist: append-only."""

    __tablename__ = "target_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme: Mapped[str] = mapped_column(String(32), nullable=False)
    division: Mapped[str] = mapped_column(String(32), nullable=False)
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    key: Mapped[str] = mapped_column(String(16), nullable=False)
    effective_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    met_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    removed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    source: Mapped[str] = mapped_column(String(512), nullable=False)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
