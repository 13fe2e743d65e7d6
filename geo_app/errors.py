"""One exception hierarchy: every error carries an HTTP status and a message a user can act on."""

from __future__ import annotations

from typing import Any


class GeoAppError(Exception):
    """An error a user can act on."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "status": self.status}
        if self.details is not None:
            out["details"] = self.details
        return out


class BoundaryError(GeoAppError):
    """A boundary file cannot be used."""

    status = 422


class NotPrepared(GeoAppError):
    """Display geometry has not been prepared; preparation never runs inside a request."""

    status = 503


class ImportFailed(GeoAppError):
    """A status file has problems; nothing was written. `details` lists the first of them,
    `total` counts them all."""

    status = 422
    total: int = 0


class NotFound(GeoAppError):
    status = 404


class BadRequest(GeoAppError):
    status = 400


class StoreUnavailable(GeoAppError):
    """The database cannot be reached; `reason` says which and why (for the command line and
    the log, not for web users)."""

    status = 503
    reason: str = ""
