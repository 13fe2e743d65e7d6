"""The web door: app factory, shared services per app, one error handler (HTML or JSON)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from geo_app import boundaries, config
from geo_app.errors import GeoAppError
from geo_app.store import Store

LOGGER = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent


class Services:
    """What views need, built once per app: settings, store, display geometry."""

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        self.store = Store(settings["DATABASE_URL"])
        self.division = settings["DIVISION"]
        self._display: boundaries.Display | None = None

    def display(self) -> boundaries.Display:
        """Return the prepared display geometry (never computed inside a request)."""
        if self._display is None:
            self._display = boundaries.prepare_from_settings(self.settings, cached_only=True)
        return self._display

    def revision(self) -> int:
        return self.store.revision()


def services() -> Services:
    """Return the services of the current app."""
    return current_app.extensions["geo_app"]


def wants_json() -> bool:
    return (
        request.path.startswith("/api/")
        or request.path == "/healthz"
        or (request.accept_mimetypes.best == "application/json")
    )


def _error_response(status: int, message: str, details: Any = None):
    if wants_json():
        body: dict[str, Any] = {"error": message, "status": status}
        if details is not None:
            body["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def build_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app on the settings (see `geo_app.config`)."""
    settings = config.load(overrides)
    app = Flask(
        "geo_app",
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"],
        GEO_APP=settings,
        JSON_AS_ASCII=False,
    )
    for key, value in (overrides or {}).items():
        if key.isupper():
            app.config[key] = value
    app.extensions["geo_app"] = Services(settings)

    @app.errorhandler(GeoAppError)
    def handle_geo_error(exc: GeoAppError):
        return _error_response(exc.status, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        return _error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        LOGGER.exception("unexpected error on %s %s", request.method, request.path)
        return _error_response(500, "an unexpected error occurred; it has been logged")

    from geo_app.web import admin, api, auth, downloads, exports, pages

    app.register_blueprint(pages.bp)
    auth.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(downloads.bp)
    app.register_blueprint(admin.bp)
    if settings["PROXIES"]:  # trust X-Forwarded-* from that many proxies, no more
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings["PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    return app
