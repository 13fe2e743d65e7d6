"""The state on a past date ("as of"), computed from the status history, for every view.

``?as_of=YYYY-MM-DD`` on the map, the API and the exports shows the records in force on that
day: of each unit, the history entry with the latest effective date not after it (see
`geo_app.status.state_as_of`), for the current division's units and for the former units that
went into them. Without it, the views show the current records.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import request

from geo_app import export
from geo_app.errors import BadRequest
from geo_app.status import Standing, trend
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


def standing_as_of(day: dt.date | None, revision: int | None = None) -> Standing:
    """Return what the units show on `day` (now when None): own and former units' records.

    Cached per (data revision, day); see `geo_app.store.Store.standing`.
    """
    svc = services()
    revision = svc.revision() if revision is None else revision
    return _map_cache().get(
        ("standing", svc.division, revision, day),
        lambda: svc.store.standing(svc.division, day),
    )


def trend_points(day: dt.date | None, revision: int | None = None) -> list[dict[str, Any]]:
    """Return the counts per status at each month's end up to `day` (today when None).

    Units count with the roll-up of their own and their former units' records, as on the map.
    """
    svc = services()
    revision = svc.revision() if revision is None else revision
    end = day or export.today()

    def make() -> list[dict[str, Any]]:
        store = svc.store
        pairs = store.crosswalk_into(svc.division)
        former = {old: store.events(old) for old in {p["old_division"] for p in pairs}}
        return trend(store.events(svc.division), end, former, pairs)

    return _map_cache().get(("trend", svc.division, revision, end), make)
