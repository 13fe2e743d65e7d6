"""Area-status map for Thanh Hóa provincial police."""

from __future__ import annotations

from typing import Any


def create_app(config: dict[str, Any] | None = None, *, warm: bool = False):
    """Build the Flask application: the only place an app is built.

    Parameters
    ----------
    config:
        Settings overriding the environment and the defaults of `geo_app.config`.
    warm:
        Load the display geometry and render the map page before the first request (what
        `geo-app serve` does in every worker).
    """
    from geo_app.web import build_app

    return build_app(config, warm=warm)
