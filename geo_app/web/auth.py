"""Accounts on the web: login, logout, sessions, the login limit, roles on every route, CSRF,
headers.

Every route needs a logged-in user but `/login`, `/healthz` and the static assets (public
libraries and the app's own CSS/JS, nothing about any unit). Roles are checked on the server:
`requires(permission)` on a view, see `geo_app.accounts.ROLES`.

**Sessions** are kept on the server (`Store.start_session`): the signed cookie holds a random
token, and every request checks that its session is live. Logging out ends it (a copied cookie
is refused from then on); a new password, a disabled account or an administrator ends every
session of the user; a session unused for ``SESSION_IDLE_HOURS`` ends by itself.

**The login limit** cannot be turned against a user. Failures count per (account, address):
`LIMIT_PER_PAIR` within `LIMIT_WINDOW` stop that address trying that account. Beyond
`BACKOFF_AFTER` failures for an account from every address together, each address that failed
for it waits longer between tries (doubling, up to `BACKOFF_MAX`). An address with no failure
for the account is never held back: the real user, typing the right password elsewhere, gets
in. Behind ``GEO_APP_PROXIES`` reverse proxies the address is the right-most
``X-Forwarded-For`` entry no trusted proxy added (Werkzeug's ProxyFix, `geo_app.web`).
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from geo_app import accounts, clock
from geo_app.errors import StoreUnavailable
from geo_app.web.common import (
    SESSION_KEY,
    error_response,
    login_manager,
    page_context,
    services,
    session_idle,
    session_token,
    upload_max_bytes,
    wants_json,
)

LOGGER = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

#: Endpoints open without a login.
PUBLIC_ENDPOINTS = {"auth.login", "api.healthz", "static", "pages.vendor"}
#: Endpoints that set their own caching: files that hold nothing about any unit or user (the
#: app's static files, the packaged libraries, the boundary geometry and the folium script,
#: long-cached when their URL carries their version). Every other answer is
#: ``Cache-Control: private, no-store`` unless it says otherwise.
LONG_CACHED = {
    "static",
    "pages.vendor",
    "pages.map_data",
    "pages.map_topology",
    "pages.map_script_file",
}
#: How long a browser keeps to HTTPS once it has seen the app over HTTPS (a year).
HSTS_SECONDS = 365 * 24 * 3600
#: Failed logins allowed in `LIMIT_WINDOW` for one account from one address.
LIMIT_PER_PAIR = 5
LIMIT_WINDOW = dt.timedelta(minutes=15)
#: Failures for one account (every address) in `LIMIT_WINDOW` after which each address that
#: failed for it waits `BACKOFF_BASE`, doubling with every further failure, up to `BACKOFF_MAX`.
BACKOFF_AFTER = 10
BACKOFF_BASE = dt.timedelta(seconds=15)
BACKOFF_MAX = LIMIT_WINDOW


class AppUser(UserMixin):
    def __init__(self, username: str, role: str):
        self.username = username
        self.role = role

    def get_id(self) -> str:
        return self.username

    def can(self, permission: str) -> bool:
        return accounts.can(self.role, permission)


@login_manager.user_loader
def _load_user(username: str) -> AppUser | None:
    token = session_token()
    if token is None:
        return None  # a cookie from before server-side sessions, or forged: log in again
    svc = services()
    try:
        row = svc.store.session_user(token, session_idle(svc.settings))
    except StoreUnavailable:
        if g.get("geo_app_store_down"):
            return None  # asked again by the error page itself: show it, as nobody
        g.geo_app_store_down = True
        raise  # a 503 page or JSON, not a login form
    if row is None or row["username"] != username:
        return None  # ended, idle too long, or the account was disabled: logged out
    return AppUser(row["username"], row["role"])


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        return jsonify({"error": _("Log in first."), "status": 401}), 401
    # come back after the login only to a page (a form's POST cannot be replayed by a redirect)
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


def _require_login():
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def _safe_next(target: str | None) -> str:
    """Return `target` when it is a path of this site, else the map (no open redirect)."""
    home = url_for("pages.index")
    if not target or "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return home  # browsers read "/\\evil.example" as "//evil.example"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return home
    return target


def _client_address() -> str:
    """Return the client's address (behind trusted proxies: what ProxyFix found)."""
    return request.remote_addr or "unknown"


def _limited(store, username: str, address: str) -> bool:
    """Tell whether a login for `username` from `address` is refused by the limit."""
    now = clock.now()
    account, pair, last = store.login_state(now - LIMIT_WINDOW, username, address)
    if pair >= LIMIT_PER_PAIR:
        return True
    if pair and account >= BACKOFF_AFTER and last is not None:
        wait = min(BACKOFF_BASE * 2 ** min(account - BACKOFF_AFTER, 16), BACKOFF_MAX)
        return now - last < wait
    return False  # no failure from this address for this account: never held back


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form, or check the credentials it sent."""
    message = None
    status = 200
    username = ""
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "POST":
        username = (request.form.get("username") or "").strip().lower()[:64]
        password = request.form.get("password") or ""
        store = services().store
        address = _client_address()
        limited = _limited(store, username or "-", address)
        row = store.user(username) if username else None
        ok = accounts.verify_password(row["password_hash"] if row else None, password)
        if ok and row and not row["disabled"] and not limited:
            store.record_login(username, address, True)
            if accounts.needs_rehash(row["password_hash"]):
                # made with older argon2 parameters: upgrade it now that the password is known
                store.set_password_hash(username, row["password_hash"], accounts.rehash(password))
            session.clear()  # a new session, never the one the request came with (fixation)
            session[SESSION_KEY] = store.start_session(username, address)
            login_user(AppUser(row["username"], row["role"]))
            return redirect(_safe_next(request.args.get("next")))
        if limited:  # audited, but not counted: waiting out the limit is enough
            name = username or "-"
            store.audit_event(name, "auth.failed", "web", name, {"address": address, "limit": True})
        else:
            store.record_login(username or "-", address, False)
        # one message whatever was wrong: the name, the password, the account or the limit
        message = _(
            "The user name or password is wrong, or there were too many attempts. Try again later."
        )
        status = 429 if limited else 401
    return (
        render_template(
            "login.html",
            **page_context(),
            message=message,
            username=username,
            next=_safe_next(request.args.get("next")),
        ),
        status,
    )


@bp.post("/logout")
def logout():
    """Log out (the session ends on the server too) and go back to the login page."""
    token = session_token()
    if token is not None:
        services().store.end_session(token, "logout", _client_address())
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/api/me")
def me():
    """Tell who is logged in, with their role and a CSRF token for JSON requests."""
    svc = services()
    assigned = (
        sorted(svc.store.assignments(current_user.username, svc.division))
        if current_user.role == "officer"
        else []
    )
    resp = jsonify(
        {
            "username": current_user.username,
            "role": current_user.role,
            "permissions": sorted(accounts.ROLES[current_user.role]),
            "assigned": assigned,
            "csrf_token": generate_csrf(),
        }
    )
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


class _SessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _security_headers(resp):
    tiles = services().settings["TILES"]
    img = "'self' data:"
    if tiles == "osm":
        img += " https://tile.openstreetmap.org"
    elif tiles not in ("", "none"):
        parts = urlsplit(tiles.replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            img += f" {parts.scheme}://{parts.netloc.replace('a.', '*.', 1)}"
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; "
        "script-src 'self'; "
        "style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; font-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:  # over HTTPS (behind a proxy: X-Forwarded-Proto from a trusted one)
        resp.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")
    if request.endpoint not in LONG_CACHED:
        # pages and JSON hold one user's data: no shared proxy, no disk may keep them
        resp.headers.setdefault("Cache-Control", "private, no-store")
    return resp


def _upload_limit() -> None:
    """Let an administrator's boundary-set upload exceed the app's request limit."""
    if (
        request.endpoint == "admin.boundaries_upload"
        and current_user.is_authenticated
        and current_user.can("admin")
    ):
        request.max_content_length = upload_max_bytes(current_app.extensions["geo_app"].settings)


def init_app(app: Flask) -> None:
    """Install login, CSRF, role checks and security headers on `app`."""
    # Flask predefines these keys (SameSite None): set them unless the settings chose a value
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    # the largest request body: a status file (importer.MAX_BYTES) with its form around it
    app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or 25 * 1024 * 1024
    app.session_interface = _SessionInterface()
    login_manager.init_app(app)
    # anonymous requests are sent to the login first, then CSRF is checked
    app.before_request(_require_login)
    app.before_request(_upload_limit)  # before the CSRF check parses the form
    csrf.init_app(app)
    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return error_response(
            400,
            _("The form has expired or was not sent by this site; reload the page and try again."),
        )
