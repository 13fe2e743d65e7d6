"""Language for code outside Flask: messages, dates and times as a user reads them.

The messages come from the same catalogues the web pages use
(``geo_app/translations/{vi,en}``); strings written outside Flask are marked with `N_` so that
``pybabel extract`` finds them. Vietnamese dates are dd/mm/yyyy, English ones ISO; times are
the app's local time (`geo_app.clock`), HH:MM.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from babel.support import Translations

from geo_app import clock

LANGS = ("vi", "en")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def format_date(value: dt.date | None, lang: str = "vi") -> str:
    """Return dd/mm/yyyy in Vietnamese, ISO in English; "" for no date."""
    if value is None:
        return ""
    if lang == "vi":  # not strftime: it writes the year 1 as "1"
        return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"
    return value.isoformat()


def format_timestamp(value: dt.datetime | None, lang: str = "vi") -> str:
    """Return a stored timestamp as local time: dd/mm/yyyy HH:MM (vi), YYYY-MM-DD HH:MM (en)."""
    if value is None:
        return ""
    local = clock.local(value)
    return local.strftime("%d/%m/%Y %H:%M" if lang == "vi" else "%Y-%m-%d %H:%M")


#: Marks a string for the catalogues where it is written, translated where it is shown.
def N_(text: str) -> str:
    return text


@functools.lru_cache(maxsize=len(LANGS))
def _translations(lang: str) -> Translations:
    return Translations.load(str(TRANSLATIONS), [lang], "messages")


def gettext(text: str, lang: str = "vi", **params: Any) -> str:
    """Return `text` translated into `lang` from the app's catalogues, with `params` filled in
    (``%(name)s``); dates among them are written as `format_date` writes them."""
    shown = {k: format_date(v, lang) if isinstance(v, dt.date) else v for k, v in params.items()}
    translated = _translations(lang if lang in LANGS else "vi").gettext(text)
    return translated % shown if shown else translated
