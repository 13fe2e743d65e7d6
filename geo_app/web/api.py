"""JSON API: every page's twin."""

from __future__ import annotations

from flask import Blueprint, jsonify

from geo_app.web import services

bp = Blueprint("api", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether the app can reach its store."""
    return jsonify({"ok": True, "revision": services().revision()})
