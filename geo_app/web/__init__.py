"""The web door: the app factory, its blueprints and the one error handler (HTML or JSON)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from geo_app import clock, config
from geo_app.core import programme as programmes
from geo_app.errors import GeoAppError
from geo_app.web import admin, api, auth, downloads, exports, jobs, lists, pages
from geo_app.web.common import ROOT, Services, error_response

LOGGER = logging.getLogger(__name__)


def build_app(overrides: dict[str, Any] | None = None, warm: bool = False) -> Flask:
    """Build the Flask app on the settings (see `geo_app.config`)."""
    settings = config.load(overrides)
    clock.set_zone(settings["TIMEZONE"])
    programmes.configure([settings["PROGRAMMES_DIR"]])
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
        return error_response(exc.status, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        LOGGER.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "an unexpected error occurred; it has been logged")

    app.register_blueprint(pages.bp)
    auth.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(downloads.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(lists.bp)
    if settings["PROXIES"]:  # trust X-Forwarded-* from that many proxies, no more
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings["PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    if warm:
        pages.warm(app)
    return app
