"""Briefing exports: map images and PDFs drawn on the server."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("exports", __name__)
