"""The state on a past date ("as of"), computed from the status history, for every view.

``?as_of=YYYY-MM-DD`` on the map, the API and the exports shows the records in force on that
day: of each unit, the history entry with the latest effective date not after it (see
`geo_app.status.state_as_of`). Without it, the views show the current records.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import request

from geo_app import export
from geo_app.errors import BadRequest
from geo_app.status import Record, state_as_of, trend
from geo_app.store import StoredRecord
from geo_app.web import services

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_as_of(raw: str | None = None) -> dt.date | None:
    """Return the ``as_of`` date of the request (None when absent or empty).

    Raises
    ------
    BadRequest
        When it is not a real date written YYYY-MM-DD, or is after today (Vietnam time).
    """
    if raw is None:
        raw = request.args.get("as_of")
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    try:
        if not _ISO_DAY.match(raw):
            raise ValueError
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"as_of must be a date written YYYY-MM-DD (got {raw[:40]!r})") from None
    if day > export.today():
        raise BadRequest(f"as_of {raw} is in the future; history only goes up to today")
    return day


def _map_cache():
    from geo_app.web.pages import map_cache

    return map_cache()


def records_as_of(day: dt.date | None, revision: int | None = None) -> dict[str, StoredRecord]:
    """Return the records in force on `day` by code (the current records when `day` is None).

    Records rebuilt from history carry version 0 and no ``updated_at``; their ``sample`` flag
    is the current record's. Cached per (data revision, day).
    """
    svc = services()
    if day is None:
        return svc.records()
    revision = svc.revision() if revision is None else revision

    def make() -> dict[str, StoredRecord]:
        current = svc.records()
        out: dict[str, StoredRecord] = {}
        for code, event in state_as_of(svc.store.events(svc.division), day).items():
            record = Record.from_content(event.content or {"code": code, "status": event.status})
            record.status = event.status
            now = current.get(code)
            out[code] = StoredRecord(record, 0, None, bool(now and now.sample))  # type: ignore[arg-type]
        return out

    return _map_cache().get(("as-of-records", svc.division, revision, day), make)


def trend_points(day: dt.date | None, revision: int | None = None) -> list[dict[str, Any]]:
    """Return the counts per status at each month's end up to `day` (today when None)."""
    svc = services()
    revision = svc.revision() if revision is None else revision
    end = day or export.today()
    return _map_cache().get(
        ("trend", svc.division, revision, end),
        lambda: trend(svc.store.events(svc.division), end),
    )
