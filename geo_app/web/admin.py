"""Administration pages: users, roles, assignments, the audit log; and the import page.

Every change goes through one store method that writes exactly one audit entry. The audit log
is shown with filters (actor, action, unit, date range) and downloadable as CSV with the same
filters.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from geo_app import accounts, export
from geo_app.errors import BadRequest, GeoAppError, ImportFailed
from geo_app.importer import format_problem
from geo_app.web import services
from geo_app.web.api import run_web_import, truthy
from geo_app.web.auth import requires
from geo_app.web.pages import page_context, unit_geometry

LOGGER = logging.getLogger(__name__)
bp = Blueprint("admin", __name__)

AUDIT_SHOWN = 200
_SOURCE = "web"
_SPLIT = re.compile(r"[\s,;]+")


def _page(template: str, status: int = 200, **context: Any):
    html = render_template(template, roles=list(accounts.ROLES), **page_context(), **context)
    return Response(html, status=status, mimetype="text/html")


# -- audit filters ----------------------------------------------------------------------------
def _day(name: str) -> dt.date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(
            _("%(field)s must be a date written YYYY-MM-DD (got %(value)s).", field=name, value=raw)
        ) from None


def audit_filters() -> dict[str, Any]:
    """Return the audit filters of the query string, checked, as `Store.audit_entries` takes."""
    since, until = _day("since"), _day("until")
    start = dt.datetime.combine(since, dt.time(), tzinfo=export.VIETNAM_TZ) if since else None
    end = (
        dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=export.VIETNAM_TZ)
        if until
        else None
    )
    text = {k: (request.args.get(k) or "").strip()[:64] for k in ("actor", "action", "unit")}
    return {
        "actor": text["actor"] or None,
        "action": text["action"] or None,
        "target": text["unit"] or None,
        "since": start,
        "until": end,
    }


def _filter_values() -> dict[str, str]:
    return {k: request.args.get(k, "") for k in ("actor", "action", "unit", "since", "until")}


# -- pages ------------------------------------------------------------------------------------
def _admin_page(status: int = 200, error: str | None = None):
    svc = services()
    users = svc.store.users()
    for u in users:
        u.pop("password_hash", None)
        u["assigned"] = sorted(svc.store.assignments(u["username"], svc.division))
    filters = audit_filters()
    entries = svc.store.audit_entries(limit=AUDIT_SHOWN, **filters)
    csv_url = url_for("admin.audit_csv", **{k: v for k, v in _filter_values().items() if v})
    return _page(
        "admin.html",
        status,
        users=users,
        entries=entries,
        filters=_filter_values(),
        csv_url=csv_url,
        shown=AUDIT_SHOWN,
        error=error,
        me=current_user.username,
    )


@bp.get("/admin")
@requires("admin")
def index():
    """Show the users, their roles and assignments, and the audit log with filters."""
    return _admin_page()


def _done(message: str):
    flash(message)
    return redirect(url_for("admin.index"), code=303)


def _failed(exc: GeoAppError):
    # the form's own page, with what is wrong; nothing was changed
    return _admin_page(status=exc.status if exc.status < 500 else 400, error=exc.message)


@bp.post("/admin/users")
@requires("admin")
def add_user():
    """Create a user with a role and a first password."""
    form = request.form
    try:
        username = accounts.check_username((form.get("username") or "").strip().lower())
        role = accounts.check_role(form.get("role") or "")
        password_hash = accounts.hash_password(form.get("password") or "")
        services().store.add_user(username, password_hash, role, current_user.username, _SOURCE)
    except GeoAppError as exc:
        return _failed(exc)
    return _done(_("User %(name)s added.", name=username))


@bp.post("/admin/users/<username>")
@requires("admin")
def update_user(username: str):
    """Change one user's role, password, or disabled flag (one change per form)."""
    form = request.form
    store = services().store
    try:
        if store.user(username) is None:
            raise GeoAppError(_("There is no user %(name)s.", name=username), status=404)
        changes: dict[str, Any] = {}
        if form.get("role"):
            changes["role"] = accounts.check_role(form["role"])
        if form.get("disabled") in ("0", "1"):
            changes["disabled"] = form["disabled"] == "1"
        if form.get("password"):
            changes["password_hash"] = accounts.hash_password(form["password"])
        if not changes:
            raise BadRequest(_("Nothing to change."))
        if username == current_user.username and (
            changes.get("disabled") or changes.get("role", "admin") != "admin"
        ):
            raise BadRequest(_("You cannot disable your own account or take away your own role."))
        store.update_user(username, current_user.username, _SOURCE, **changes)
    except GeoAppError as exc:
        return _failed(exc)
    return _done(_("User %(name)s changed.", name=username))


@bp.post("/admin/users/<username>/assignments")
@requires("admin")
def assign(username: str):
    """Set the units an officer may change (codes separated by spaces or commas)."""
    svc = services()
    try:
        if svc.store.user(username) is None:
            raise GeoAppError(_("There is no user %(name)s.", name=username), status=404)
        codes = sorted({c for c in _SPLIT.split(request.form.get("codes") or "") if c})
        geometry = unit_geometry()
        unknown = [c for c in codes if c not in geometry.code_set]
        if unknown:
            raise BadRequest(_("Unknown unit code: %(codes)s.", codes=", ".join(unknown[:10])))
        svc.store.set_assignments(username, svc.division, codes, current_user.username, _SOURCE)
    except GeoAppError as exc:
        return _failed(exc)
    return _done(_("Units assigned to %(name)s: %(n)s.", name=username, n=len(codes)))


@bp.get("/admin/audit.csv")
@requires("admin")
def audit_csv():
    """Download the audit log as CSV, with the page's filters."""
    entries = services().store.audit_entries(**audit_filters())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "source", "target", "details"])
    for e in entries:
        writer.writerow(
            [
                e["id"],
                e["at"],
                e["actor"],
                e["action"],
                e["source"],
                e["target"],
                json.dumps(e["details"], ensure_ascii=False, sort_keys=True),
            ]
        )
    body = "\ufeff" + out.getvalue()  # BOM: spreadsheets then read UTF-8 right
    resp = Response(body.encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Disposition"] = 'attachment; filename="audit.csv"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# -- import -----------------------------------------------------------------------------------
@bp.route("/import", methods=["GET", "POST"])
@requires("import")
def import_page():
    """Show the import form, or import the file it sent (all rows, or nothing)."""
    result = problems = None
    error = None
    status = 200
    if request.method == "POST":
        try:
            result = run_web_import(request.files.get("file"), truthy(request.form.get("dry_run")))
        except ImportFailed as exc:
            error = exc.message
            problems = [format_problem(p) for p in (exc.details or [])]
            status = exc.status
        except GeoAppError as exc:
            error = exc.message
            status = exc.status if exc.status < 500 else 400
    return _page("import.html", status, result=result, error=error, problems=problems)
