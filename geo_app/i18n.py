"""Language for code outside Flask: dates and times as a user reads them, in either language.

Vietnamese dates are dd/mm/yyyy, English ones ISO; times are the app's local time
(`geo_app.clock`), HH:MM.
"""

from __future__ import annotations

import datetime as dt

from geo_app import clock

LANGS = ("vi", "en")


def format_date(value: dt.date | None, lang: str = "vi") -> str:
    """Return dd/mm/yyyy in Vietnamese, ISO in English; "" for no date."""
    if value is None:
        return ""
    return value.strftime("%d/%m/%Y") if lang == "vi" else value.isoformat()


def format_timestamp(value: dt.datetime | None, lang: str = "vi") -> str:
    """Return a stored timestamp as local time: dd/mm/yyyy HH:MM (vi), YYYY-MM-DD HH:MM (en)."""
    if value is None:
        return ""
    local = clock.local(value)
    return local.strftime("%d/%m/%Y %H:%M" if lang == "vi" else "%Y-%m-%d %H:%M")
