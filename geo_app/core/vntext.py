"""Vietnamese text in the legacy encodings boundary files still come in, and how to tell them.

Before Unicode, Vietnamese offices wrote with fonts whose bytes meant Vietnamese letters:

* **TCVN3** ("ABC", TCVN 5712:1993, fonts .VnTime...): one byte per letter; "Quảng Phú" is
  ``Qu\\xb6ng Ph\\xf3``, shown as "Qu¶ng Phó" when read as Latin-1.
* **VNI-Windows** (fonts VNI-Times...): an ASCII vowel followed by a byte for its marks;
  "Quảng Phú" is ``Qua\\xfbng Phu\\xf9``, shown as "Quaûng Phuù".
* **Windows-1258**: a base letter and a combining tone mark (Python decodes it; GDAL's iconv
  drops the last character of a field doing so, so the app never asks GDAL for it).

The tables below are the data of the conversion (kept in the project; tested against known
words). `best_reading` tells which reading of some raw bytes is Vietnamese text, by the share
of words that are well-formed Vietnamese syllables.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

# -- TCVN3 (ABC) ---------------------------------------------------------------------------------
#: TCVN3 bytes 0xA1-0xFE (as the Latin-1 characters of those bytes) and the letters they are.
#: Upper-case toned vowels have no code of their own (a capitals font shows the small ones).
_TCVN3_BYTES = "µ¸¶·¹¨»¾¼½Æ©ÇÊÈÉË®ÌÐÎÏÑªÒÕÓÔÖ×ÝØÜÞßãáâä«åèæçé¬êíëìîïóñòô\xadõøö÷ùúýûüþ¡¢§£¤¥¦"
_TCVN3_TEXT = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĂÂĐÊÔƠƯ"
assert len(_TCVN3_BYTES) == len(_TCVN3_TEXT) == 74
TCVN3: dict[int, str] = {ord(b): t for b, t in zip(_TCVN3_BYTES, _TCVN3_TEXT, strict=True)}


def decode_tcvn3(raw: bytes) -> str:
    """Return the Unicode text of TCVN3 (ABC) bytes (NFC); ASCII stays as it is."""
    return unicodedata.normalize("NFC", "".join(TCVN3.get(b, chr(b)) for b in raw))


# -- VNI-Windows ---------------------------------------------------------------------------------
#: For each base vowel: its VNI spelling, then the letter with no tone, sắc, huyền, hỏi, ngã,
#: nặng. A VNI letter is the base's byte(s) followed by the tone's byte (lower case shown;
#: upper case uses the upper-case bytes).
_VNI_VOWELS = (
    # base (VNI), plain, sắc, huyền, hỏi, ngã, nặng
    ("a", "aáàảãạ"),
    ("aâ", "âấầẩẫậ"),
    ("aê", "ăắằẳẵặ"),
    ("e", "eéèẻẽẹ"),
    ("eâ", "êếềểễệ"),
    ("o", "oóòỏõọ"),
    ("oâ", "ôốồổỗộ"),
    ("ô", "ơớờởỡợ"),
    ("u", "uúùủũụ"),
    ("ö", "ưứừửữự"),
    ("y", "yýỳỷỹỵ"),
)
#: Tone bytes after a vowel: sắc, huyền, hỏi, ngã, nặng. After a plain a, e or o, the
#: circumflex set gives ấ, ế, ố... and the breve set ắ, ằ...
_VNI_TONES = "ùøûõï"
_VNI_TONES_CIRCUMFLEX = "áàåãä"  # after a + â (â), e + â (ê), o + â (ô)
_VNI_TONES_BREVE = "éèúüë"  # after a + ê (ă)
#: Letters VNI writes as one byte: i with its tones, ỵ, đ.
_VNI_SINGLE = {"í": "í", "ì": "ì", "æ": "ỉ", "ó": "ĩ", "ò": "ị", "î": "ỵ", "ñ": "đ"}


def _vni_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for base, letters in _VNI_VOWELS:
        if base in ("aâ", "eâ", "oâ"):
            tones = _VNI_TONES_CIRCUMFLEX
        elif base == "aê":
            tones = _VNI_TONES_BREVE
        else:
            tones = _VNI_TONES
        table[base] = letters[0]
        # a toned â, ê, ô or ă is the plain vowel and one byte for both marks: ấ = a + á
        stem = base[0] if base in ("aâ", "eâ", "oâ", "aê") else base
        for tone, letter in zip(tones, letters[1:], strict=True):
            table[stem + tone] = letter
    for k, v in _VNI_SINGLE.items():
        table[k] = v
    table.pop("a")
    table.pop("e")
    table.pop("o")
    table.pop("u")
    table.pop("y")  # plain ASCII vowels stay themselves
    upper = {k.upper(): v.upper() for k, v in table.items()}
    return {**table, **upper}


VNI: dict[str, str] = _vni_table()
_VNI_KEYS = sorted(VNI, key=len, reverse=True)
_VNI_RE = re.compile("|".join(re.escape(k) for k in _VNI_KEYS))


def decode_vni(raw: bytes) -> str:
    """Return the Unicode text of VNI-Windows bytes (NFC); ASCII stays as it is."""
    text = raw.decode("latin-1")
    return unicodedata.normalize("NFC", _VNI_RE.sub(lambda m: VNI[m.group(0)], text))


def decode_cp1258(raw: bytes) -> str:
    """Return the text of Windows-1258 bytes, tone marks composed (NFC)."""
    return unicodedata.normalize("NFC", raw.decode("cp1258"))


#: The decoders the app knows beyond Python's codecs, by the names an option may give.
LEGACY: dict[str, Callable[[bytes], str]] = {
    "tcvn3": decode_tcvn3,
    "abc": decode_tcvn3,
    "vni": decode_vni,
    "vni-windows": decode_vni,
    "cp1258": decode_cp1258,
    "windows-1258": decode_cp1258,
}
#: How each reading is named in reports.
LABELS = {
    "utf-8": "UTF-8",
    "cp1258": "Windows-1258",
    "tcvn3": "TCVN3 (ABC)",
    "vni": "VNI-Windows",
    "latin-1": "Latin-1",
}


def decoder(encoding: str) -> Callable[[bytes], str]:
    """Return a function decoding bytes in `encoding`: a legacy name above or a Python codec.

    Raises
    ------
    LookupError
        When the name is neither.
    """
    key = encoding.strip().lower().replace("_", "-")
    if key in LEGACY:
        return LEGACY[key]
    import codecs

    codec = codecs.lookup(encoding)
    return lambda raw: unicodedata.normalize("NFC", codec.decode(raw, "replace")[0])


# -- telling Vietnamese text ---------------------------------------------------------------------
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_INITIAL = r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdđghklmnprstvx])?"
#: Vowel groups of Vietnamese syllables, tones removed; "+" marks those that need a final
#: consonant, "-" those that take none.
_NUCLEI = {
    "a": "",
    "ă": "+",
    "â": "+",
    "e": "",
    "ê": "",
    "i": "",
    "o": "",
    "ô": "",
    "ơ": "",
    "u": "",
    "ư": "",
    "y": "",
    "ai": "-",
    "ao": "-",
    "au": "-",
    "âu": "-",
    "ay": "-",
    "ây": "-",
    "eo": "-",
    "êu": "-",
    "ia": "-",
    "iu": "-",
    "oi": "-",
    "ôi": "-",
    "ơi": "-",
    "ui": "-",
    "ưi": "-",
    "ua": "-",
    "ưa": "-",
    "ưu": "-",
    "uy": "",
    "oa": "",
    "oă": "+",
    "oe": "",
    "uê": "",
    "uơ": "-",
    "uâ": "+",
    "iê": "+",
    "yê": "+",
    "uô": "+",
    "ươ": "+",
    "oai": "-",
    "oay": "-",
    "oao": "-",
    "oeo": "-",
    "uây": "-",
    "uôi": "-",
    "ươi": "-",
    "ươu": "-",
    "iêu": "-",
    "yêu": "-",
    "uyu": "-",
    "uya": "-",
    "uyê": "+",
}
_SYLLABLE = re.compile(
    rf"^{_INITIAL}([aăâeêioôơuưy]{{1,3}})(ch|ng|nh|[cmnpt])?$",
)


def _syllable_ok(word: str) -> bool:
    decomposed = unicodedata.normalize("NFD", word.casefold())
    tones = sum(1 for c in decomposed if c in _TONES)
    if tones > 1:
        return False
    base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))
    m = _SYLLABLE.match(base)
    if not m:
        return False
    nucleus, final = m.group(1), m.group(2)
    if base.startswith(("gi", "qu")) and nucleus not in _NUCLEI:
        nucleus = nucleus[1:] or nucleus
    rule = _NUCLEI.get(nucleus)
    if rule is None and base.startswith(("gi", "qu")) and len(m.group(0)) > 2:
        rule = ""
    if rule is None:
        return False
    return not (rule == "+" and not final) and not (rule == "-" and final)


_WORD = re.compile(r"[^\W\d_]+")


def score(texts: Iterable[str]) -> float:
    """Return the share (0 to 1) of the words of `texts` that are well-formed Vietnamese
    syllables (1.0 when there is no word at all)."""
    good = total = 0
    for text in texts:
        for word in _WORD.findall(text or ""):
            total += 1
            good += _syllable_ok(word)
    return good / total if total else 1.0


def best_reading(raws: list[bytes]) -> tuple[str, list[str], float]:
    """Return which reading of `raws` is Vietnamese text: (name, texts, score).

    UTF-8 is taken whenever every value decodes as UTF-8 and it reads as well as any other;
    otherwise the reading with the most well-formed Vietnamese words among Windows-1258, TCVN3
    and VNI-Windows (Latin-1, the bytes as they are, when none does better).
    """
    candidates: list[tuple[str, list[str]]] = []
    try:
        candidates.append(("utf-8", [unicodedata.normalize("NFC", r.decode()) for r in raws]))
    except UnicodeDecodeError:
        pass
    try:
        candidates.append(("cp1258", [decode_cp1258(r) for r in raws]))
    except UnicodeDecodeError:
        pass
    candidates.append(("tcvn3", [decode_tcvn3(r) for r in raws]))
    candidates.append(("vni", [decode_vni(r) for r in raws]))
    candidates.append(("latin-1", [r.decode("latin-1") for r in raws]))
    best = None
    for name, texts in candidates:
        s = score(texts)
        if best is None or s > best[2] + 1e-9:
            best = (name, texts, s)
    assert best is not None
    return best


def raw_bytes(text: str) -> bytes | None:
    """Return the bytes `text` was read from if it was read as Latin-1 or Windows-1252
    (a legacy or UTF-8 file read with the wrong encoding); None when it cannot have been."""
    for codec in ("latin-1", "cp1252"):
        try:
            return text.encode(codec)
        except UnicodeEncodeError:
            continue
    return None


def encode_tcvn3(text: str) -> bytes:
    """Return `text` in TCVN3 bytes (upper-case toned vowels as their small letters, as a
    capitals font would show them); characters TCVN3 lacks raise UnicodeEncodeError."""
    inverse = {t: b for b, t in TCVN3.items()}
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) < 128:
            out.append(ord(ch))
        elif ch in inverse:
            out.append(inverse[ch])
        elif ch.lower() in inverse:
            out.append(inverse[ch.lower()])
        else:
            raise UnicodeEncodeError("tcvn3", ch, 0, 1, "not a TCVN3 letter")
    return bytes(out)


def encode_vni(text: str) -> bytes:
    """Return `text` in VNI-Windows bytes."""
    inverse = {v: k for k, v in VNI.items()}
    out = []
    for ch in unicodedata.normalize("NFC", text):
        out.append(ch if ord(ch) < 128 else inverse[ch])
    return "".join(out).encode("latin-1")


def name_case(text: str) -> str:
    """Return a TCVN3 name with its words' first letters capitalised like the others.

    TCVN3 has no upper-case toned vowels (a capitals font showed the small ones), so
    "Nguyệt Ấn" comes out "Nguyệt ấn"; a word is capitalised when every word that starts with
    an ASCII letter is.
    """
    words = text.split(" ")
    ascii_initials = [w[0] for w in words if w and w[0].isascii() and w[0].isalpha()]
    if not ascii_initials or not all(c.isupper() for c in ascii_initials):
        return text
    return " ".join(w[:1].upper() + w[1:] if w else w for w in words)
