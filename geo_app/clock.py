"""The app's one clock: "now", "today" and the local date of a timestamp.

Every date the app computes, shows, stores, filters on or prints comes from here. Dates are
local to `GEO_APP_TIMEZONE` (Asia/Ho_Chi_Minh, UTC+7 all year, by default): an edit at 01:30
on 1 December in Hà Nội is a 1 December edit whatever the server's own clock or time zone
says. Timestamps are kept in UTC (`now`) and turned into local dates and times only here.
Tests freeze this clock (time-machine); nothing else calls ``date.today()`` or
``datetime.now()``.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from geo_app.errors import GeoAppError

#: The zone of every date when `GEO_APP_TIMEZONE` is not set.
DEFAULT_ZONE = "Asia/Ho_Chi_Minh"
ENV = "GEO_APP_TIMEZONE"

_zone: ZoneInfo | None = None


def zone_named(name: str) -> ZoneInfo:
    """Return the IANA time zone `name` (e.g. Asia/Ho_Chi_Minh).

    Raises
    ------
    GeoAppError
        When there is no such zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise GeoAppError(
            f"{ENV}={name!r} is not a time zone; use an IANA name such as {DEFAULT_ZONE}"
        ) from None


def set_zone(name: str | None) -> None:
    """Make `name` (or the default zone when empty) the zone of every local date."""
    global _zone
    _zone = zone_named(name or DEFAULT_ZONE)


def zone() -> ZoneInfo:
    """Return the app's time zone (from `GEO_APP_TIMEZONE` until `set_zone` says otherwise)."""
    if _zone is None:
        set_zone(os.environ.get(ENV))
    assert _zone is not None
    return _zone


def now() -> dt.datetime:
    """Return the current instant, aware, in UTC (what the store keeps)."""
    return dt.datetime.now(dt.UTC)


def local(ts: dt.datetime) -> dt.datetime:
    """Return `ts` in the app's zone; a naive `ts` is taken as UTC (as the store keeps it)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(zone())


def local_now() -> dt.datetime:
    """Return the current local time in the app's zone."""
    return local(now())


def today() -> dt.date:
    """Return today's date in the app's zone."""
    return local_now().date()


def local_date(ts: dt.datetime) -> dt.date:
    """Return the local date of a timestamp (naive = UTC)."""
    return local(ts).date()


def day_start(day: dt.date) -> dt.datetime:
    """Return the instant local `day` begins, in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone()).astimezone(dt.UTC)


def day_bounds(first: dt.date | None, last: dt.date | None):
    """Return the UTC instants [start, end) covering local days `first` to `last` inclusive.

    Either end may be None (open).
    """
    start = day_start(first) if first else None
    end = day_start(last + dt.timedelta(days=1)) if last else None
    return start, end
