"""Vietnamese name normalisation and matching.

Two keys, for two purposes:

* `match_key` is for joining records to units. It keeps every diacritic that changes a letter
  (â, ă, ê, ô, ơ, ư, đ) and the tone of each syllable, but ignores where the tone mark sits
  ("Hoà" = "Hòa"), case, Unicode composition (NFC/NFD) and spacing. "Đông Tiến" and "Đồng Tiến"
  keep different keys.
* `search_key` throws every diacritic away ("quang phu" finds "Quảng Phú"). It is for the search
  box only, where several hits become a list to pick from; never for matching.
"""

from __future__ import annotations

import re
import unicodedata

# Combining tone marks: huyền, sắc, ngã, hỏi, nặng.
TONE_MARKS = {"\u0300": "2", "\u0301": "1", "\u0303": "4", "\u0309": "3", "\u0323": "5"}
_SPACE = re.compile(r"\s+")

#: Kinds of commune-level unit, by their match key, with their display spelling.
KINDS = {
    "xã": "Xã",
    "phường": "Phường",
    "thị trấn": "Thị trấn",
    "đặc khu": "Đặc khu",
}


def nfc(text: str) -> str:
    """Return `text` NFC-normalised with runs of whitespace collapsed and ends trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _syllable_key(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    tones = [TONE_MARKS[c] for c in decomposed if c in TONE_MARKS]
    base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in TONE_MARKS))
    return base + ("".join(tones) if tones else "")


def match_key(text: str) -> str:
    """Return the key two spellings of one name share.

    Parameters
    ----------
    text:
        A name as typed: any case, NFC or NFD, tone mark on either vowel.

    Returns
    -------
    str
        Case-folded syllables, each with its tone moved to the end ("hoa2").
    """
    words = nfc(text).casefold().split(" ")
    return " ".join(_syllable_key(w) for w in words if w)


def search_key(text: str) -> str:
    """Return `text` with every diacritic removed, for search only ("Quảng Phú" → "quang phu")."""
    decomposed = unicodedata.normalize("NFD", nfc(text).casefold().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_KIND_KEYS = sorted(((match_key(k), v) for k, v in KINDS.items()), key=lambda kv: -len(kv[0]))
#: Abbreviations of the kinds offices write before a name ("P. Quảng Phú", "TT Cành Nàng").
KIND_ABBREVIATIONS = {"p": "Phường", "x": "Xã", "tt": "Thị trấn", "đk": "Đặc khu"}
_ABBREVIATED = re.compile(
    r"^(" + "|".join(KIND_ABBREVIATIONS) + r")(?:\s*\.\s*|\s+)(\S.*)$", re.IGNORECASE
)


def canonical_kind(text: str) -> str | None:
    """Return the display spelling of a unit kind ("PHƯỜNG" → "Phường", "P." → "Phường"),
    or None if unknown."""
    key = match_key(text)
    for kind_key, kind in _KIND_KEYS:
        if key == kind_key:
            return kind
    return KIND_ABBREVIATIONS.get(key.rstrip(".").strip())


def split_kind(full_name: str) -> tuple[str | None, str]:
    """Split a leading kind off a name: "Phường Quảng Phú" → ("Phường", "Quảng Phú").

    The abbreviations offices write are read too: "P. Quảng Phú", "X.An Nông", "TT Cành Nàng".

    Returns
    -------
    tuple
        The kind's display spelling (None when the name has no kind prefix) and the bare name.
    """
    name = nfc(full_name)
    key = match_key(name)
    for kind_key, kind in _KIND_KEYS:
        if key.startswith(kind_key + " "):
            n_words = len(kind_key.split(" "))
            return kind, " ".join(name.split(" ")[n_words:])
    m = _ABBREVIATED.match(name)
    if m:
        return KIND_ABBREVIATIONS[m.group(1).casefold()], m.group(2)
    return None, name


def full_name(kind: str, name: str) -> str:
    """Return "Kind Name", e.g. "Phường Quảng Phú"."""
    return f"{kind} {name}".strip()


_CA = re.compile(r"\b(?:ca|c\.a\.?)\s+", re.IGNORECASE)
_PARENS = re.compile(r"\([^)]*\)")


def responsible_key(text: str) -> str:
    """Return how responsible units are grouped: case, tone marks' place, spacing,
    punctuation, a bracketed remark and the abbreviation "CA" (công an) ignored, so that
    "Công an xã Mường Lát", "CA xã Mường Lát" and "Công an xã Mường Lát (đội 2)" group
    together; other diacritics count."""
    text = _PARENS.sub(" ", nfc(text or ""))
    text = _CA.sub("công an ", text)
    text = re.sub(r"[\s,.;:_\-–—]+", " ", text)
    return match_key(text)
