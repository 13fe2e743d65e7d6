"""Background jobs in the store: what was asked, by whom, how far it got, and its result.

The queue (`geo_app.jobs`, Huey) carries only a job's id; its state and result live here, so a
job started through one server can be followed and fetched through any other.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select, update

from geo_app import clock
from geo_app.errors import NotFound
from geo_app.store.models import Job

STATES = ("queued", "running", "done", "failed")


class JobStore:
    """Background jobs (mixed into `geo_app.store.Store`)."""

    def create_job(self, kind: str, key: str, params: dict[str, Any], actor: str) -> str:
        """Record a queued job; return its id (random, unguessable, 32 hex digits)."""
        uid = secrets.token_hex(16)

        def run() -> str:
            with self.session() as s, s.begin():
                s.add(
                    Job(
                        uid=uid,
                        kind=kind,
                        key=key,
                        params=params,
                        state="queued",
                        progress=0.0,
                        message="",
                        actor=actor,
                        created_at=clock.now(),
                    )
                )
            return uid

        return self._guard(run)

    def job(self, uid: str) -> dict[str, Any]:
        """Return a job without its result's bytes.

        Raises
        ------
        NotFound
            When there is no such job.
        """

        def run():
            with self.session() as s:
                row = s.scalar(select(Job).where(Job.uid == uid))
                if row is None:
                    raise NotFound(f"no job {uid[:40]!r}")
                return _job_dict(row)

        return self._guard(run)

    def jobs(self, actor: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Return the newest jobs (of `actor`), newest first."""

        def run():
            q = select(Job).order_by(Job.id.desc()).limit(limit)
            if actor is not None:
                q = q.where(Job.actor == actor)
            with self.session() as s:
                return [_job_dict(r) for r in s.scalars(q)]

        return self._guard(run)

    def job_for_key(self, key: str) -> dict[str, Any] | None:
        """Return the newest job for `key` that is done, or else still queued or running."""

        def run():
            with self.session() as s:
                for state in (("done",), ("queued", "running")):
                    row = s.scalar(
                        select(Job)
                        .where(Job.key == key, Job.state.in_(state))
                        .order_by(Job.id.desc())
                        .limit(1)
                    )
                    if row is not None:
                        return _job_dict(row)
                return None

        return self._guard(run)

    def job_result(self, uid: str) -> tuple[bytes, str, str]:
        """Return (bytes, file name, media type) of a finished job.

        Raises
        ------
        NotFound
            When there is no such job, or it has no result (yet).
        """

        def run():
            with self.session() as s:
                row = s.execute(
                    select(Job.state, Job.result, Job.result_name, Job.result_type).where(
                        Job.uid == uid
                    )
                ).first()
            if row is None:
                raise NotFound(f"no job {uid[:40]!r}")
            if row[0] != "done" or row[1] is None:
                raise NotFound(f"job {uid} has no result (it is {row[0]})")
            return bytes(row[1]), row[2] or "result", row[3] or "application/octet-stream"

        return self._guard(run)

    def update_job(self, uid: str, **values: Any) -> None:
        """Set a job's state, progress, message, result or error (``started``/``finished``
        true stamp the time)."""
        allowed = {"state", "progress", "message", "result", "result_name", "result_type", "error"}
        changes = {k: v for k, v in values.items() if k in allowed}
        if set(values) - allowed - {"started", "finished"}:
            raise ValueError(f"update_job takes {sorted(allowed)} and started/finished")
        if changes.get("state", "queued") not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        if values.get("started"):
            changes["started_at"] = clock.now()
        if values.get("finished"):
            changes["finished_at"] = clock.now()

        def run():
            with self.session() as s, s.begin():
                s.execute(update(Job).where(Job.uid == uid).values(**changes))

        self._guard(run)


def _job_dict(row: Job) -> dict[str, Any]:
    return {
        "id": row.uid,
        "kind": row.kind,
        "key": row.key,
        "params": row.params,
        "state": row.state,
        "progress": round(float(row.progress or 0.0), 3),
        "message": row.message or "",
        "actor": row.actor,
        "created_at": row.created_at.isoformat(),
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "result_name": row.result_name,
        "result_type": row.result_type,
        "error": row.error,
    }
