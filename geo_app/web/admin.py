"""Administration pages: users, roles, assignments, the audit log, boundary sets; the import page.

Every change goes through one store method that writes exactly one audit entry. The audit log
is shown with filters (actor, action, unit, date range) and downloadable as CSV with the same
filters. A boundary set is uploaded as a zip, checked and its report shown; it is registered as
a division only when the administrator accepts that report (`geo_app.divisions`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from geo_app import accounts, clock, config
from geo_app.core import programme as programmes
from geo_app.core.records import parse_date
from geo_app.errors import BadRequest, GeoAppError, ImportFailed, NotFound
from geo_app.geodata import boundaries, divisions
from geo_app.i18n import N_, format_date, format_timestamp
from geo_app.io import template as import_template
from geo_app.io.rows import format_problem
from geo_app.outputs import records
from geo_app.web.common import (
    error_response,
    page_context,
    page_lang,
    request_programme,
    requires,
    run_web_import,
    services,
    session_idle,
    session_token,
    truthy,
    unit_geometry,
    upload_max_bytes,
)

LOGGER = logging.getLogger(__name__)
bp = Blueprint("admin", __name__)

AUDIT_SHOWN = 200
_SOURCE = "web"
_SPLIT = re.compile(r"[\s,;]+")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


#: Every action the app writes to the audit log, as words (translated where shown).
#: tests/test_admin_labels.py finds each action key the code writes and fails when one has no
#: label here; an entry whose key is unknown (an older app's) is shown as its key.
AUDIT_ACTIONS: dict[str, str] = {
    "auth.login": N_("Logged in"),
    "auth.failed": N_("Failed login"),
    "auth.logout": N_("Logged out"),
    "user.add": N_("User added"),
    "user.update": N_("User changed"),
    "user.disable": N_("User disabled"),
    "user.assign": N_("Units assigned"),
    "user.end_sessions": N_("Sessions ended"),
    "status.create": N_("Status record created"),
    "status.update": N_("Status changed"),
    "status.correct": N_("Status record corrected"),
    "status.repair": N_("Status history repaired"),
    "target.set": N_("Target set"),
    "target.remove": N_("Target removed"),
    "export.map": N_("Map exported"),
    "export.pack": N_("Briefing pack exported"),
    "export.download": N_("Data downloaded"),
    "division.add": N_("Division registered"),
    "division.replace": N_("Division replaced"),
    "boundaries.add": N_("Boundary set loaded"),
    "crosswalk.import": N_("Old-to-new unit table loaded"),
}
#: The groups of actions (the part before the dot), which the audit filter also takes.
AUDIT_GROUPS: dict[str, str] = {
    "auth": N_("Logins"),
    "user": N_("Users"),
    "status": N_("Status records"),
    "target": N_("Targets"),
    "export": N_("Exports and downloads"),
    "division": N_("Divisions"),
    "boundaries": N_("Boundary sets"),
    "crosswalk": N_("Old-to-new unit tables"),
}


def action_label(action: str) -> str:
    """Return an audit action in words, in the page's language (its key when unknown)."""
    label = AUDIT_ACTIONS.get(action)
    return _(label) if label else action


def source_label(source: str) -> str:
    """Return through what an audited act came, in words (``import:file.csv`` keeps its file)."""
    head, _colon, rest = (source or "").partition(":")
    words = {
        "web": _("web"),
        "import": _("import"),
        "cli": _("command line"),
        "job": _("background job"),
    }.get(head)
    if words is None:
        return source
    return f"{words}: {rest}" if rest else words


def role_label(role: str) -> str:
    """Return a role's name in the page's language (its key when unknown)."""
    label = accounts.ROLE_LABELS.get(role)
    return _(label) if label else role


def _action_choices() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Return the audit filter's choices: (group, its label, [(action, label), ...])."""
    return [
        (
            group,
            _(label),
            [(k, _(v)) for k, v in AUDIT_ACTIONS.items() if k.split(".", 1)[0] == group],
        )
        for group, label in AUDIT_GROUPS.items()
    ]


def _page(template: str, status: int = 200, **context: Any):
    html = render_template(
        template,
        roles=[(r, role_label(r)) for r in accounts.ROLES],
        role_label=role_label,
        **page_context(),
        **context,
    )
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
    start, end = clock.day_bounds(_day("since"), _day("until"))
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
    live = svc.store.live_sessions(session_idle(svc.settings))
    names = _unit_names()
    for u in users:
        u.pop("password_hash", None)
        u["assigned"] = sorted(svc.store.assignments(u["username"], svc.division))
        u["assigned_units"] = [(c, names.get(c, "")) for c in u["assigned"]]
        u["sessions"] = live.get(u["username"], 0)
    filters = audit_filters()
    entries = svc.store.audit_entries(limit=AUDIT_SHOWN, **filters)
    lang = page_lang()
    for e in entries:  # local time of the app's zone, as every date the app shows
        e["at_display"] = format_timestamp(dt.datetime.fromisoformat(e["at"]), lang)
        e["action_label"] = action_label(e["action"])
        e["source_label"] = source_label(e["source"])
    csv_url = url_for("admin.audit_csv", **{k: v for k, v in _filter_values().items() if v})
    return _page(
        "admin.html",
        status,
        users=users,
        entries=entries,
        filters=_filter_values(),
        csv_url=csv_url,
        action_choices=_action_choices(),
        shown=AUDIT_SHOWN,
        error=error,
        me=current_user.username,
    )


def _unit_names() -> dict[str, str]:
    """Return each unit's name with its kind (e.g. Phường Quảng Phú) by code, or nothing while
    the boundary set is not prepared (the codes are shown alone then)."""
    try:
        geometry = unit_geometry()
    except GeoAppError:
        return {}
    return {
        c: f"{k} {n}".strip()
        for c, k, n in zip(geometry.codes, geometry.kinds, geometry.names, strict=True)
    }


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
    message = exc.text(page_lang()) if isinstance(exc, accounts.AccountRefused) else exc.message
    return _admin_page(status=exc.status if exc.status < 500 else 400, error=message)


@bp.post("/admin/users")
@requires("admin")
def add_user():
    """Create a user with a role and a first password."""
    form = request.form
    try:
        username = accounts.check_username((form.get("username") or "").strip().lower())
        role = accounts.check_role(form.get("role") or "")
        password_hash = accounts.hash_password(form.get("password") or "", username)
        store = services().store
        if store.user(username) is not None:  # the store's own refusal is in English
            raise GeoAppError(_("User %(name)s exists already.", name=username), status=409)
        store.add_user(username, password_hash, role, current_user.username, _SOURCE)
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
            changes["password_hash"] = accounts.hash_password(form["password"], username)
        if not changes:
            raise BadRequest(_("Nothing to change."))
        if username == current_user.username and (
            changes.get("disabled") or changes.get("role", "admin") != "admin"
        ):
            raise BadRequest(_("You cannot disable your own account or take away your own role."))
        # a new password ends every session of the user: another's, or the admin's own others
        keep = session_token() if username == current_user.username else None
        store.update_user(username, current_user.username, _SOURCE, keep_session=keep, **changes)
    except GeoAppError as exc:
        return _failed(exc)
    return _done(_("User %(name)s changed.", name=username))


@bp.post("/admin/users/<username>/sessions")
@requires("admin")
def end_sessions(username: str):
    """End every login session of one user (an administrator's own: every other one)."""
    try:
        keep = session_token() if username == current_user.username else None
        n = services().store.end_sessions(username, current_user.username, _SOURCE, keep=keep)
    except GeoAppError as exc:
        return _failed(exc)
    return _done(_("Sessions of %(name)s ended: %(n)s.", name=username, n=n))


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
    rows: list[list[Any]] = [["id", "at", "actor", "action", "source", "target", "details"]]
    for e in entries:
        local = clock.local(dt.datetime.fromisoformat(e["at"]))  # e.g. 2026-12-01T03:00:00+07:00
        rows.append(
            [
                e["id"],
                local.isoformat(timespec="seconds"),
                e["actor"],
                e["action"],
                e["source"],
                e["target"],
                json.dumps(e["details"], ensure_ascii=False, sort_keys=True),
            ]
        )
    records.write_csv(out, rows)  # a file name or a user name typed as "=..." stays text
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
    chosen = programmes.DEFAULT
    if request.method == "POST":
        try:
            chosen = request_programme().code
            result = run_web_import(
                request.files.get("file"),
                truthy(request.form.get("dry_run")),
                truthy(request.form.get("correct")),
                chosen,
                request.form.get("sheet"),
            )
        except ImportFailed as exc:
            error = exc.message
            problems = [format_problem(p) for p in (exc.details or [])]
            status = exc.status
        except GeoAppError as exc:
            error = exc.message
            status = exc.status if exc.status < 500 else 400
    lang = page_lang()
    choices = [(p.code, p.name(lang)) for p in programmes.all_programmes()]
    guides = [
        {
            "code": p.code,
            "name": p.name(lang),
            "template": url_for("admin.import_template_file", **_programme_args(p)),
            "guide": url_for("admin.import_guide", **_programme_args(p)),
        }
        for p in programmes.all_programmes()
    ]
    return _page(
        "import.html",
        status,
        result=result,
        error=error,
        problems=problems,
        programmes=choices,
        chosen=chosen,
        guides=guides,
    )


def _programme_args(prog: programmes.Programme) -> dict[str, str]:
    return {} if prog.code == programmes.DEFAULT else {"programme": prog.code}


def _template_columns(prog: programmes.Programme, lang: str) -> list[import_template.Column]:
    """Return the columns of `prog`'s status files, the example row about the current
    division's first unit (by code)."""
    units = unit_geometry()
    first = min(range(len(units.codes)), key=lambda i: units.codes[i])
    unit = {"code": units.codes[first], "name": units.names[first], "kind": units.kinds[first]}
    return import_template.columns(prog, unit, clock.today(), lang)


@bp.get("/import/template.xlsx")
@requires("import")
def import_template_file():
    """Send a programme's import template: its headers and one filled example row."""
    prog = request_programme()
    lang = page_lang()
    body = import_template.template_bytes(_template_columns(prog, lang), lang)
    prefix = "" if prog.code == programmes.DEFAULT else f"-{prog.code}"
    resp = Response(body, mimetype=XLSX_MIME)
    resp.headers["Content-Disposition"] = f'attachment; filename="import-template{prefix}.xlsx"'
    return resp


@bp.get("/import/guide")
@requires("import")
def import_guide():
    """Show a programme's import guide: every column, what it means and what it accepts."""
    prog = request_programme()
    lang = page_lang()
    return _page(
        "guide.html",
        programme=prog,
        columns=_template_columns(prog, lang),
        template_url=url_for("admin.import_template_file", **_programme_args(prog)),
        import_url=url_for("admin.import_page"),
        others=[
            (p.name(lang), url_for("admin.import_guide", **_programme_args(p)))
            for p in programmes.all_programmes()
            if p.code != prog.code
        ],
    )


# -- boundary sets ----------------------------------------------------------------------------
#: The most a zip may unpack to (a guard against zip bombs), as a multiple of its size.
UNZIPPED_RATIO = 20
#: How long an uploaded, checked set waits to be accepted before it is thrown away.
UPLOAD_TTL_SECONDS = 2 * 60 * 60
_TOKEN = re.compile(r"[0-9a-f]{32}")
_FORM_FIELDS = (
    "name",
    "valid_from",
    "valid_to",
    "source",
    "code_field",
    "name_field",
    "kind_field",
    "encoding",
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def upload_root(settings: dict[str, Any]) -> Path:
    """Return the private folder of uploads waiting to be accepted (``UPLOAD_DIR`` overrides)."""
    return Path(settings.get("UPLOAD_DIR") or config.INSTANCE_DIR / "uploads")


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.3g}"


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge):
    if request.endpoint == "admin.boundaries_upload":
        limit = _mb(upload_max_bytes(services().settings))
        message = _("The file is larger than %(mb)s MB; nothing was kept.", mb=limit)
        return _boundaries_page(413, error=message)
    return error_response(413, exc.description or exc.name)


@dataclass(frozen=True)
class _Staged:
    token: str
    path: Path
    filename: str  # as the user's computer named it


@dataclass(frozen=True)
class _Spec:
    name: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    source: str
    fields: boundaries.FieldMap
    encoding: str | None
    replace: bool


def _raw_form() -> dict[str, str]:
    raw = {k: (request.form.get(k) or "").strip()[:300] for k in _FORM_FIELDS}
    raw["replace"] = "1" if truthy(request.form.get("replace")) else ""
    return raw


def _form_date(raw: dict[str, str], key: str, label: str) -> dt.date | None:
    try:
        return parse_date(raw[key])
    except ValueError:
        raise BadRequest(
            _(
                "%(field)s must be a date written YYYY-MM-DD (got %(value)s).",
                field=label,
                value=raw[key],
            )
        ) from None


def _spec(raw: dict[str, str]) -> _Spec:
    """Return the registration the form asks for, checked (no file is read)."""
    svc = services()
    start = _form_date(raw, "valid_from", _("Valid from"))
    end = _form_date(raw, "valid_to", _("Valid to"))
    for key, label, most in (
        ("source", _("Source"), divisions.MAX_SOURCE),
        ("code_field", _("Code field"), 64),
        ("name_field", _("Name field"), 64),
        ("kind_field", _("Kind field"), 64),
        ("encoding", _("Encoding"), 64),
    ):
        if len(raw[key]) > most:
            raise BadRequest(
                _("%(field)s is too long (at most %(n)s characters).", field=label, n=most)
            )
    base = boundaries.FieldMap.from_settings(svc.settings)
    spec = _Spec(
        name=raw["name"],
        valid_from=start,
        valid_to=end,
        source=raw["source"],
        fields=boundaries.FieldMap(
            raw["code_field"] or base.code,
            raw["name_field"] or base.name,
            raw["kind_field"] or base.kind,
        ),
        encoding=divisions.check_encoding(raw["encoding"] or svc.settings["ENCODING"] or None),
        replace=bool(raw["replace"]),
    )
    divisions.check_new(
        svc.store, spec.name, spec.valid_from, spec.valid_to, spec.replace, svc.division
    )
    return spec


def _reference_units():
    """Return the current division's display units (what a new set is compared with), or None
    while they are not prepared."""
    try:
        return services().display().units
    except GeoAppError:
        return None


def _message(exc: GeoAppError) -> str:
    """Return what to tell the user about `exc`, in the page's language where it is ours."""
    if isinstance(exc, divisions.BadName):
        return _(
            "The name %(name)s cannot be used: use 1 to 32 letters a–z, digits, “-” or “_”, "
            "beginning with a letter or digit, e.g. 2026 or thanh-hoa-2026.",
            name=repr(exc.name),
        )
    if isinstance(exc, divisions.CurrentDivision):
        return _(
            "%(name)s is the current division, whose units come from the configured boundary "
            "set; choose another name, or tick “Replace the division of that name” to give the "
            "map this boundary set.",
            name=exc.name,
        )
    if isinstance(exc, divisions.MissingUnits):
        return _(
            "The boundary set lacks units that have records (%(codes)s); nothing was registered.",
            codes=", ".join(exc.details[:20]),
        )
    if isinstance(exc, divisions.DivisionExists):
        return _(
            "The division %(name)s exists already; tick “Replace the division of that name” "
            "to replace it.",
            name=exc.name,
        )
    if isinstance(exc, divisions.BadPeriod):
        if exc.valid_from is None:
            return _("Give the first day the division is in force (Valid from).")
        return _("Valid to is before Valid from.")
    if isinstance(exc, divisions.BadEncoding):
        return _(
            "Unknown encoding %(encoding)s (e.g. utf-8, cp1258, tcvn3, vni).",
            encoding=exc.encoding,
        )
    if isinstance(exc, divisions.Unconfirmed):
        return _(
            "The datum %(datum)s has only a ballpark shift to WGS 84, so units may sit hundreds "
            "of metres off. Tick the confirmation to register it anyway, or upload the set "
            "with a better .prj.",
            datum=exc.datum,
        )
    return exc.message


def _page_status(exc: GeoAppError) -> int:
    if exc.status >= 500:
        raise exc
    return exc.status if exc.status in (404, 409, 413) else 400


# uploads waiting to be accepted: UPLOAD_DIR/TOKEN/{FILE.zip, upload.json}
def _sweep(root: Path) -> None:
    """Throw away the uploads older than `UPLOAD_TTL_SECONDS`."""
    if not root.is_dir():
        return
    now = clock.now()
    for folder in root.iterdir():
        if not _TOKEN.fullmatch(folder.name):
            continue
        try:  # when it was uploaded, by the app's clock; unreadable = broken: thrown away
            meta = json.loads((folder / "upload.json").read_text("utf-8"))
            age = (now - dt.datetime.fromisoformat(meta["uploaded_at"])).total_seconds()
        except (OSError, ValueError, KeyError, TypeError):
            age = UPLOAD_TTL_SECONDS + 1
        if age > UPLOAD_TTL_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)


def _stage(upload) -> _Staged:
    """Check that `upload` is a readable zip of a sensible size, then keep it under a token.

    Raises
    ------
    BadRequest
        When there is no file, or it is not a readable zip; nothing is written then.
    """
    if upload is None or not upload.filename:
        raise BadRequest(_("Choose a boundary set (.zip) to upload."))
    filename = PurePath(upload.filename.replace("\\", "/")).name[:120]
    if not filename.lower().endswith(".zip"):
        raise BadRequest(
            _(
                "%(file)s is not a .zip file: upload a zip holding one shapefile "
                "(.shp, .shx, .dbf, .prj) or one GeoPackage.",
                file=filename,
            )
        )
    stream = upload.stream
    head = stream.read(4)
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    if size == 0:
        raise BadRequest(_("%(file)s is empty.", file=filename))
    if head not in _ZIP_MAGIC:
        raise BadRequest(_("%(file)s is not a zip file.", file=filename))
    try:
        with zipfile.ZipFile(stream) as zf:
            unzipped = sum(i.file_size for i in zf.infolist())
            broken = zf.testzip() if unzipped <= UNZIPPED_RATIO * size + 10**6 else None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        broken = "?"
        unzipped = 0
    if unzipped > UNZIPPED_RATIO * size + 10**6:
        raise BadRequest(
            _(
                "%(file)s unpacks to far more data than a boundary set holds; it is refused.",
                file=filename,
            )
        )
    if broken is not None:
        raise BadRequest(_("%(file)s is a broken or incomplete zip file.", file=filename))
    stream.seek(0)
    root = upload_root(services().settings)
    _sweep(root)
    token = secrets.token_hex(16)
    folder = root / token
    root.mkdir(parents=True, exist_ok=True, mode=0o700)  # private: uploads wait unchecked there
    folder.mkdir(mode=0o700)
    safe = secure_filename(filename)
    if not safe.lower().endswith(".zip") or safe.lower() == ".zip":
        safe = "boundaries.zip"
    try:
        upload.save(folder / safe)
        meta = {
            "user": current_user.username,
            "filename": filename,
            "file": safe,
            "uploaded_at": clock.now().isoformat(),
        }
        (folder / "upload.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _Staged(token, folder / safe, filename)


def _staged(token: str | None) -> _Staged:
    """Return the upload kept under `token` for the current user.

    Raises
    ------
    BadRequest
        When the token is not one this app makes.
    NotFound
        When there is no such upload, it expired, or another user made it.
    """
    gone = _("This upload is unknown or has expired; upload the file again.")
    if not _TOKEN.fullmatch(token or ""):
        raise BadRequest(gone)
    root = upload_root(services().settings)
    _sweep(root)
    folder = root / token
    try:
        meta = json.loads((folder / "upload.json").read_text("utf-8"))
    except (OSError, ValueError):
        raise NotFound(gone) from None
    path = folder / str(meta.get("file", ""))
    if meta.get("user") != current_user.username or path.parent != folder or not path.is_file():
        raise NotFound(gone)
    return _Staged(token, path, str(meta.get("filename") or path.name))


def _discard(token: str) -> None:
    if _TOKEN.fullmatch(token):
        shutil.rmtree(upload_root(services().settings) / token, ignore_errors=True)


def _boundaries_page(
    status: int = 200,
    form: dict[str, str] | None = None,
    spec: _Spec | None = None,
    **context: Any,
):
    """Render the boundary-set page: the divisions, a report if any, the upload form."""
    svc = services()
    lang = page_lang()
    rows = svc.store.divisions()
    for d in rows:
        for key in ("valid_from", "valid_to"):
            d[key + "_shown"] = format_date(dt.date.fromisoformat(d[key]), lang) if d[key] else ""
    period = spec and (format_date(spec.valid_from, lang), format_date(spec.valid_to, lang))
    return _page(
        "boundaries.html",
        status,
        divisions=rows,
        current=svc.division,
        defaults=boundaries.FieldMap.from_settings(svc.settings),
        default_encoding=svc.settings["ENCODING"],
        max_mb=_mb(upload_max_bytes(svc.settings)),
        form=form or {k: "" for k in (*_FORM_FIELDS, "replace")},
        spec=spec,
        period=period,
        **context,
    )


@bp.get("/admin/boundaries")
@requires("admin")
def boundaries_page():
    """Show the registered divisions and the form to upload a boundary set."""
    return _boundaries_page()


@bp.post("/admin/boundaries")
@requires("admin")
def boundaries_upload():
    """Check an uploaded boundary set and show its report; nothing is registered yet."""
    raw = _raw_form()
    try:
        spec = _spec(raw)
        staged = _stage(request.files.get("file"))
    except GeoAppError as exc:
        return _boundaries_page(_page_status(exc), error=_message(exc), form=raw)
    try:
        report = divisions.check(
            staged.path, spec.fields, spec.encoding, reference=_reference_units()
        )
    except BaseException:
        _discard(staged.token)
        raise
    if not report["usable"]:
        _discard(staged.token)
        return _boundaries_page(
            400,
            error=_(
                "%(file)s cannot be used as a boundary set; nothing was kept.", file=staged.filename
            ),
            report=report,
            filename=staged.filename,
            form=raw,
        )
    replacing = divisions.exists(services().store, spec.name)
    return _boundaries_page(
        report=report,
        filename=staged.filename,
        token=staged.token,
        spec=spec,
        replacing=replacing,
        form=raw,
    )


@bp.post("/admin/boundaries/accept")
@requires("admin")
def boundaries_accept():
    """Register the checked upload as a division (validated again), then drop the upload."""
    raw = _raw_form()
    svc = services()
    try:
        staged = _staged(request.form.get("token"))
        spec = _spec(raw)
        done = divisions.register(
            svc.store,
            staged.path,
            spec.name,
            spec.valid_from,
            spec.valid_to,
            spec.source or staged.filename,
            fields=spec.fields,
            encoding=spec.encoding,
            replace=spec.replace,
            actor=current_user.username,
            source_door=_SOURCE,
            dest_root=divisions.boundary_root(svc.settings),
            current=svc.division,
            reference=_reference_units(),
            confirm_ballpark=truthy(request.form.get("confirm_ballpark")),
        )  # no display geometry here: `geo-app boundaries prepare` does it, never a request
        if done.current:  # the map's new set: a background job prepares it for every server
            svc.queue().submit("prepare", {}, current_user.username)
    except GeoAppError as exc:
        return _boundaries_page(_page_status(exc), error=_message(exc), form=raw)
    _discard(staged.token)
    flash(
        _(
            "Division %(name)s registered: %(n)s units, in force from %(day)s.",
            name=done.name,
            n=done.units,
            day=format_date(done.valid_from, page_lang()),
        )
    )
    return redirect(url_for("admin.boundaries_page"), code=303)
