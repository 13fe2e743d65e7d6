"""Background jobs on the web: start one, follow it, fetch its result, from any app server.

``POST /api/jobs`` ``{"kind": "pack"|"prepare"|"overlay", "params": {...}}`` queues a job (or
answers with the one already made for the same thing) and answers **202** with the job and its
``Location``; ``GET /api/jobs/ID`` tells its ``state`` (queued, running, done, failed),
``progress`` (0 to 1) and ``message``, and ``result_url`` once done; ``GET /api/jobs/ID/result``
sends the file. ``GET /api/jobs`` lists the user's newest jobs. A pack needs the export
permission; preparation and overlays are the administrator's. See `geo_app.jobs`.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from geo_app import jobs
from geo_app.errors import BadRequest
from geo_app.web.common import services

LOGGER = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__)


def _visible(job: dict[str, Any]) -> dict[str, Any]:
    if job["actor"] != current_user.username and not current_user.can("admin"):
        abort(404, description=f"no job {job['id']!r}")
    return job


def job_json(job: dict[str, Any]) -> dict[str, Any]:
    """Return a job as the API shows it (its key left out), with its URLs."""
    out = {k: v for k, v in job.items() if k != "key"}
    out["url"] = url_for("jobs.job", uid=job["id"])
    out["result_url"] = (
        url_for("jobs.result", uid=job["id"])
        if job["state"] == "done" and job["result_name"]
        else None
    )
    return out


@bp.get("/api/jobs")
def job_list():
    """List the user's newest background jobs (every user's for an administrator)."""
    actor = None if current_user.can("admin") else current_user.username
    resp = jsonify({"jobs": [job_json(j) for j in services().store.jobs(actor=actor)]})
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.post("/api/jobs")
def start():
    """Queue a background job (or find the one already made for the same thing): 202."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('send a JSON object: {"kind": "pack", "params": {...}}')
    kind = body.get("kind")
    if kind not in jobs.KINDS:
        raise BadRequest(f"kind must be one of {', '.join(jobs.KINDS)} (got {str(kind)[:40]!r})")
    if not current_user.can(jobs.PERMISSION[kind]):
        abort(403, description=_("Your role does not allow this."))
    job = services().queue().submit(kind, body.get("params") or {}, current_user.username)
    resp = jsonify(job_json(job))
    resp.status_code = 202 if job["state"] in ("queued", "running") else 200
    resp.headers["Location"] = url_for("jobs.job", uid=job["id"])
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/api/jobs/<uid>")
def job(uid: str):
    """Tell a job's state, progress and message (and where its result is, once done)."""
    resp = jsonify(job_json(_visible(services().store.job(uid))))
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/api/jobs/<uid>/result")
def result(uid: str):
    """Send the file a finished job made."""
    store = services().store
    _visible(store.job(uid))
    body, name, mimetype = store.job_result(uid)
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp
