"""Users, their assignments, the audit log, logins and login sessions.

Mixed into `geo_app.store.Store`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from geo_app import clock
from geo_app.errors import NotFound
from geo_app.store.models import (
    Assignment,
    AuditEntry,
    LoginAttempt,
    LoginSession,
    User,
)
from geo_app.store.records import Conflict

#: How long an ended or long unused login session is kept (then a new login forgets it).
SESSION_RETENTION = dt.timedelta(days=30)


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


def token_hash(token: str) -> str:
    """Return what the store keeps of a session token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user_dict(u: User) -> dict[str, Any]:
    return {
        "username": u.username,
        "role": u.role,
        "disabled": bool(u.disabled),
        "created_at": u.created_at.isoformat(),
        "password_hash": u.password_hash,
    }


class AccountsMixin:
    """Users, roles' assignments, the audit log, logins and login sessions."""

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
