"""The store: status records and their append-only history, users, audit, divisions.

SQLite under instance/ by default; PostgreSQL when GEO_APP_DATABASE_URL says so. The schema
is made and upgraded by Alembic (`geo-app db upgrade`), never by `create_all` at run time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError, StatementError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import Date, LargeBinary

from geo_app import clock
from geo_app.core.programme import DEFAULT
from geo_app.core.records import Event, Record, Standing, state_as_of
from geo_app.errors import GeoAppError, NotFound, StoreUnavailable
from geo_app.store.geometry import GeometryStore
from geo_app.store.jobs import JobStore
from geo_app.store.models import (
    Assignment,
    AuditEntry,
    Base,
    CrosswalkRow,
    DataRevision,
    Division,
    HistoryEntry,
    LoginAttempt,
    LoginSession,
    StatusRecord,
    TargetEventRow,
    UnitRow,
    User,
    UTCDateTime,
)
from geo_app.store.targets import TargetsMixin

LOGGER = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


#: Audit actions that change what the views show without a new history entry: what units were
#: made of (the crosswalk, a division's units), and the repair of a history entry in place.
_LAYOUT_ACTIONS = ("crosswalk.import", "division.add", "division.replace", "status.repair")
#: How long an ended or long unused login session is kept (then a new login forgets it).
SESSION_RETENTION = dt.timedelta(days=30)
#: Tables a backup leaves out and a restore leaves alone: login sessions are the running
#: state of this installation (a restore never brings an ended session back), and the data
#: revision's base only ever moves forward (`Store.restore`).
_NOT_BACKED_UP = ("sessions", "data_revision")


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


class Store(GeometryStore, JobStore, TargetsMixin):
    """Access to the status store at one database URL."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            _private_sqlite_file(Path(url.removeprefix("sqlite:///").split("?", 1)[0]))
        try:
            self.engine: Engine = create_engine(url, pool_pre_ping=True, future=True)
        except (ArgumentError, ImportError) as exc:
            raise StoreUnavailable(
                f"GEO_APP_DATABASE_URL is not a database URL this app can use ({exc})"
            ) from None
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

    def upgrade(self, revision: str = "head") -> None:
        """Create or upgrade the schema to the newest migration, or to `revision` (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))

        def run() -> None:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)

        self._guard(run)

    def head_revision(self) -> str:
        """Return the newest migration this code knows (what `upgrade` brings a database to)."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return ScriptDirectory.from_config(cfg).get_current_head() or ""

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
            down = StoreUnavailable("the status database is unavailable; try again in a moment")
            down.reason = f"{self.display_url()}: {_first_line(exc.orig or exc)}"
            LOGGER.warning("store unavailable: %s", down.reason)
            raise down from None

    # -- reads -------------------------------------------------------------------------
    def revision(self) -> int:
        """Return the data revision: the cache key of everything the views show.

        It is the id of the newest history entry plus that of the newest audit entry for a
        crosswalk or division change or a repaired history entry, plus that of the newest
        target change (0 when none), plus the base kept in ``data_revision``. The ids only
        grow, so every status change, every change of what units were made of and every change
        of a checklist gives a new, higher revision; a restore brings older ids back, so it sets
        the base to put the revision past every value served before (`restore`): a revision is
        never reused, and each worker's caches, keyed by it, never serve a discarded timeline.
        """

        def run() -> int:
            with self.session() as s:
                return int(s.scalar(select(_revision_expr())))

        return self._guard(run)

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

    def update_user(
        self, username: str, actor: str, source: str, keep_session: str | None = None, **changes
    ) -> None:
        """Change a user's role, password hash or disabled flag (one audit entry).

        A new password or disabling the account ends every session of the user (but
        `keep_session`, the token of the session making the change, when users change their
        own password), in the same transaction.

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
                if "password_hash" in changes or changes.get("disabled"):
                    reason = "password" if "password_hash" in changes else "disabled"
                    ended = _end_user_sessions(s, username, reason, clock.now(), keep_session)
                    shown["sessions_ended"] = ended
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

    def record_login(self, username: str, address: str, success: bool, source: str = "web") -> None:
        """Record a login attempt for the limiter, with its audit entry (``auth.login`` or
        ``auth.failed``), in one transaction."""

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
                action = "auth.login" if success else "auth.failed"
                self._audit(s, username[:64], action, source, username[:64], {"address": address})

        self._guard(run)

    def login_state(
        self, since: dt.datetime, username: str, address: str
    ) -> tuple[int, int, dt.datetime | None]:
        """Return the failed logins since `since`: for the account from every address, for
        the account from `address`, and when the last of the latter was."""

        def run():
            failed = (
                select(func.count(), func.max(LoginAttempt.at))
                .select_from(LoginAttempt)
                .where(
                    LoginAttempt.at >= since,
                    LoginAttempt.success.is_(False),
                    LoginAttempt.username == username,
                )
            )
            with self.session() as s:
                account = int(s.execute(failed).one()[0])
                pair, last = s.execute(failed.where(LoginAttempt.address == address)).one()
                return account, int(pair), last

        return self._guard(run)

    def audit_event(
        self, actor: str, action: str, source: str, target: str, details: dict[str, Any]
    ) -> None:
        """Add one audit entry for an event that changes no table (a logout, an export...)."""

        def run():
            with self.session() as s, s.begin():
                self._audit(s, actor, action, source, target[:128], details)

        self._guard(run)

    # -- login sessions ----------------------------------------------------------------
    def start_session(self, username: str, address: str) -> str:
        """Open a login session for `username`; return its token (only its hash is kept)."""
        token = secrets.token_urlsafe(32)

        def run():
            now = clock.now()
            with self.session() as s, s.begin():
                # sessions ended or unused for a long time are of no more use: forget them
                old = now - SESSION_RETENTION
                s.execute(
                    LoginSession.__table__.delete().where(
                        (LoginSession.last_seen < old)
                        | (LoginSession.ended_at.is_not(None) & (LoginSession.ended_at < old))
                    )
                )
                s.add(
                    LoginSession(
                        token_hash=token_hash(token),
                        username=username,
                        address=address[:64],
                        created_at=now,
                        last_seen=now,
                    )
                )

        self._guard(run)
        return token

    def session_user(
        self, token: str, idle: dt.timedelta, touch_after: dt.timedelta | None = None
    ) -> dict[str, Any] | None:
        """Return the user of a live session (None when it is unknown, ended, idle for longer
        than `idle`, or its account is disabled or gone).

        A session idle for too long is ended here. ``last_seen`` is written at most once per
        `touch_after` (a tenth of `idle` by default), not on every request.
        """
        touch_after = touch_after if touch_after is not None else idle / 10

        def run():
            now = clock.now()
            with self.session() as s:
                found = s.execute(
                    select(LoginSession, User)
                    .join(User, User.username == LoginSession.username)
                    .where(LoginSession.token_hash == token_hash(token))
                ).first()
                if found is None:
                    return None
                sess, user = found
                if sess.ended_at is not None or user.disabled:
                    return None
                found = _user_dict(user)
                if now - sess.last_seen > idle:
                    _end(s, [LoginSession.id == sess.id], "idle", now)
                    found = None
                elif now - sess.last_seen > touch_after:
                    s.execute(
                        update(LoginSession).where(LoginSession.id == sess.id).values(last_seen=now)
                    )
                s.commit()
                return found

        return self._guard(run)

    def end_session(self, token: str, reason: str = "logout", address: str = "") -> None:
        """End one session (every copy of its cookie); audited as ``auth.logout``."""

        def run():
            with self.session() as s, s.begin():
                sess = s.scalar(
                    select(LoginSession).where(LoginSession.token_hash == token_hash(token))
                )
                if sess is None or sess.ended_at is not None:
                    return
                _end(s, [LoginSession.id == sess.id], reason, clock.now())
                self._audit(
                    s, sess.username, "auth.logout", "web", sess.username, {"address": address}
                )

        self._guard(run)

    def end_sessions(self, username: str, actor: str, source: str, keep: str | None = None) -> int:
        """End every session of `username` but the one whose token is `keep`; audited as
        ``user.end_sessions``. Return how many were ended.

        Raises
        ------
        NotFound
            When there is no such user.
        """

        def run() -> int:
            with self.session() as s, s.begin():
                if s.scalar(select(User.id).where(User.username == username)) is None:
                    raise NotFound(f"no user named {username!r}")
                n = _end_user_sessions(s, username, "admin", clock.now(), keep)
                self._audit(s, actor, "user.end_sessions", source, username, {"ended": n})
                return n

        return self._guard(run)

    def live_sessions(self, idle: dt.timedelta) -> dict[str, int]:
        """Return how many live sessions (not ended, not idle too long) each user has."""

        def run():
            since = clock.now() - idle
            with self.session() as s:
                rows = s.execute(
                    select(LoginSession.username, func.count())
                    .where(LoginSession.ended_at.is_(None), LoginSession.last_seen >= since)
                    .group_by(LoginSession.username)
                )
                return {name: int(n) for name, n in rows}

        return self._guard(run)

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
                if rows:  # an empty crosswalk clears it (an empty INSERT is not valid SQL)
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
                for table in _backed_up():
                    rows = conn.execute(select(table).order_by(table.c.id)).mappings()
                    out["tables"][table.name] = [_jsonable(dict(r)) for r in rows]
            return out

        return self._guard(run)

    def restore(self, data: dict[str, Any]) -> dict[str, int]:
        """Replace every table's rows with those of a backup, in one transaction.

        The data revision moves forward, past every revision served before the restore (the
        restored ids may be lower than the discarded ones): every worker serves the restored
        data on its next request. Login sessions are left as they are.

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
                base = DataRevision.__table__
                # one restore (or writer) at a time moves the base; the old revision is read
                # under that lock, in this transaction
                locked = select(base.c.base).where(base.c.id == 1)
                if self.engine.dialect.name == "postgresql":
                    locked = locked.with_for_update()
                conn.execute(locked)
                before = int(conn.scalar(select(_revision_expr())))
                for table in reversed(_backed_up()):
                    conn.execute(table.delete())
                for table in _backed_up():
                    rows = [_from_json(table, r) for r in tables.get(table.name, [])]
                    if rows:
                        conn.execute(table.insert(), rows)
                    counts[table.name] = len(rows)
                    if self.engine.dialect.name == "postgresql":
                        conn.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                restored = int(conn.scalar(select(_revision_expr(with_base=False))))
                new_base = before + 1 - restored
                moved = conn.execute(update(base).where(base.c.id == 1).values(base=new_base))
                if moved.rowcount != 1:
                    conn.execute(base.insert().values(id=1, base=new_base))
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


def _end(s: Session, where: list, reason: str, now: dt.datetime) -> int:
    result = s.execute(
        update(LoginSession)
        .where(LoginSession.ended_at.is_(None), *where)
        .values(ended_at=now, ended_by=reason)
    )
    return int(result.rowcount or 0)


def _end_user_sessions(
    s: Session, username: str, reason: str, now: dt.datetime, keep: str | None
) -> int:
    where = [LoginSession.username == username]
    if keep:
        where.append(LoginSession.token_hash != token_hash(keep))
    return _end(s, where, reason, now)


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
BACKUP_FORMAT = "geo-app-backup/1"


def _backed_up() -> list:
    """Return the tables a backup holds, in dependency order."""
    return [t for t in Base.metadata.sorted_tables if t.name not in _NOT_BACKED_UP]


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


def _first_line(exc: BaseException) -> str:
    """Return the first line of a driver's error (the reason, without SQL or traceback)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _private_sqlite_file(path: Path) -> None:
    """Make a new SQLite file's folder (0700) and the file itself (0600) private.

    An existing folder or file keeps its permissions (`geo-app doctor` reports them).

    Raises
    ------
    StoreUnavailable
        When the folder cannot be made or the file cannot be created there.
    """
    if str(path) in ("", ":memory:"):
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # e.g. instance/: private
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreUnavailable(
            f"the status database {path} cannot be created ({exc.strerror})"
        ) from None
    os.close(fd)


def token_hash(token: str) -> str:
    """Return what the store keeps of a session token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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
