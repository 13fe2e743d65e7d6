"""A programme, read from its definition file: statuses, palette, record fields, figures, texts.

The police run several commune-level programmes of the same shape (the transformation of
security hotspots, the classification of communes by drug situation...): a list of units, a
status per unit with a fixed palette, dated records with their own fields, a map, a record and a
briefing. Each is a TOML file (``geo_app/programmes/*.toml``, and any folder named by
``GEO_APP_PROGRAMMES_DIR``), never code: the importer's headers, the edit form and the panel,
the legend and figures, the exports' record blocks and texts and the GIS layer's fields are all
made from it. ``hotspot.toml`` documents every key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo_app.core.names import match_key
from geo_app.errors import BadRequest, GeoAppError

#: What a unit without a record shows, in every programme.
NOT_LISTED = "not_listed"
#: The programme every URL and command uses unless told otherwise.
DEFAULT = "hotspot"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "programmes"
FIELD_TYPES = ("date", "text", "longtext", "list", "number")
#: Fields every record has besides the programme's own (a programme may not redefine them).
RESERVED = ("code", "name", "kind", "status", "division", "programme", "status_since", "version")
#: The texts every definition gives, in Vietnamese and English.
TEXT_KEYS = (
    "map_title",
    "subtitle",
    "description",
    "listed",
    "not_listed_note",
    "headline_note",
    "print_title",
    "print_listed",
    "print_headline",
    "print_target",
    "print_labels_note",
    "print_source",
    "print_record",
    "print_pack_subtitle",
    "file_map",
    "file_pack",
)
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
#: The hatch marks a status may have (matplotlib's line hatches; the web map draws the same
#: lines as an SVG pattern): / \\ diagonals, x both, - | + horizontal and vertical; repeated
#: for denser lines.
HATCH_CHARS = "/\\x-|+"
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_LAYER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,9}$")
_PUNCT = re.compile(r"[\s,.;:_\-–—]+")
_LIST_SPLIT = re.compile(r"[;\n]")


class ProgrammeError(GeoAppError):
    """A definition file cannot be used; the message names the file and the key."""

    status = 500


class UnknownProgramme(BadRequest):
    """No programme has this code."""


def status_key(text: str) -> str:
    """Return how a status is matched: case, tone marks' place and punctuation ignored."""
    return match_key(_PUNCT.sub(" ", text or ""))


#: What an office may write before a status ("Địa bàn trọng điểm"), as `status_key` gives it.
_PLACE_PREFIX = status_key("địa bàn") + " "


@dataclass(frozen=True)
class Status:
    """One status of a programme (or its "not listed")."""

    code: str
    label_vi: str
    label_en: str
    color: str  # fill colour, hex
    hatch: str = ""  # matplotlib hatch pattern for printed exports ("" = none)
    gravity: int = 0  # higher = graver; the roll-up keeps the gravest
    listed: bool = False  # counts as listed in the figures
    aliases: tuple[str, ...] = ()
    dated_by: str | None = None  # the field an imported row's date comes from
    stamps: str | None = None  # the field a change to this status fills when empty
    print_color: str = ""  # fill on printed exports when it differs ("" = `color`)

    def label(self, lang: str = "vi") -> str:
        return self.label_en if lang == "en" else self.label_vi

    @property
    def print_fill(self) -> str:
        """Return the fill printed exports use: `print_color`, or `color` without one."""
        return self.print_color or self.color


@dataclass(frozen=True)
class Field:
    """One field of a programme's records."""

    name: str
    type: str
    label_vi: str
    label_en: str
    headers: tuple[str, ...] = ()
    layer: str = ""
    required: bool = False
    max_length: int = 5000
    not_before: str | None = None
    print_vi: str = ""
    print_en: str = ""
    ahead: bool = False

    def label(self, lang: str = "vi") -> str:
        return self.label_en if lang == "en" else self.label_vi

    def print_label(self, lang: str = "vi") -> str:
        text = self.print_en if lang == "en" else self.print_vi
        return text or self.label(lang)

    def empty(self) -> Any:
        return [] if self.type == "list" else ("" if self.type in ("text", "longtext") else None)

    def clean(self, value: Any) -> Any:
        """Return `value` as this field keeps it (dates as `date`, lists as lists of text).

        Raises
        ------
        ValueError
            When the value is not of the field's type; the message says what is expected.
        """
        if value is None or (isinstance(value, str) and not value.strip()):
            return self.empty()
        if self.type == "date":
            from geo_app.core.records import parse_date

            return parse_date(value)
        if self.type == "number":
            if isinstance(value, bool):
                raise ValueError("not a number")
            if isinstance(value, int | float):
                return float(value)
            try:
                return float(str(value).strip().replace(",", "."))
            except ValueError:
                raise ValueError("not a number; write it with digits, e.g. 0.5") from None
        if self.type == "list":
            items = value if isinstance(value, list | tuple) else _LIST_SPLIT.split(str(value))
            return [str(p).strip() for p in items if str(p).strip()]
        return str(value).strip()

    def to_json(self, value: Any) -> Any:
        if self.type == "date":
            return value.isoformat() if value else None
        if self.type == "list":
            return list(value or [])
        return value if value is not None else self.empty()

    def to_text(self, value: Any) -> str:
        """Return the value as a spreadsheet cell writes it (ISO dates, lists joined by "; ")."""
        if value is None or value == "" or value == []:
            return ""
        if self.type == "date":
            return value.isoformat()
        if self.type == "list":
            return "; ".join(value)
        if self.type == "number":
            return f"{value:g}"
        return str(value)


@dataclass(frozen=True)
class DefaultTarget:
    """A target (chỉ tiêu) a newly listed unit starts with."""

    title_vi: str
    title_en: str
    #: "deadline": due on the unit's deadline field; a number: that many days after listing
    due: str | int = "deadline"

    def title(self, lang: str = "vi") -> str:
        return self.title_en if lang == "en" else self.title_vi


@dataclass(frozen=True)
class Programme:
    """A programme as its definition file gives it (see ``geo_app/programmes/hotspot.toml``)."""

    code: str
    name_vi: str
    name_en: str
    statuses: tuple[Status, ...]  # legend order, "not listed" last
    fields: tuple[Field, ...]
    headline_status: str
    headline_of: str  # "listed" or "units"
    target_pct: float | None
    texts: Mapping[str, Mapping[str, str]]
    relapse_from: tuple[str, ...] = ()
    relapse_to: tuple[str, ...] = ()
    relapse_becomes: str | None = None
    listing_field: str | None = None
    listing_status: str | None = None
    criteria: tuple[Mapping[str, Any], ...] = ()
    deadline_field: str | None = None  # the record's deadline (hotspot: target_on)
    done_status: str | None = None  # reaching it meets the deadline (hotspot: transformed)
    done_field: str | None = None  # the day it was reached (hotspot: transformed_on)
    soon_days: int = 30
    targets: tuple[DefaultTarget, ...] = ()
    order: int = 100
    source: str = ""
    short_vi: str = ""
    short_en: str = ""
    by_code: Mapping[str, Status] = field(default_factory=dict, compare=False, repr=False)
    by_field: Mapping[str, Field] = field(default_factory=dict, compare=False, repr=False)
    _by_key: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    # -- statuses --------------------------------------------------------------------------
    @property
    def record_statuses(self) -> tuple[str, ...]:
        """The statuses a record can hold, in legend order (not "not listed")."""
        return tuple(s.code for s in self.statuses if s.code != NOT_LISTED)

    def label(self, code: str, lang: str = "vi") -> str:
        """Return the label of a status code (``not_listed`` included) in `lang`."""
        return self.by_code[code].label(lang)

    def name(self, lang: str = "vi") -> str:
        return self.name_en if lang == "en" else self.name_vi

    def short_name(self, lang: str = "vi") -> str:
        """Return the programme's short name (the switcher's), its name when it has none."""
        short = self.short_en if lang == "en" else self.short_vi
        return short or self.name(lang)

    def text(self, key: str, lang: str = "vi", **params: Any) -> str:
        """Return one of the programme's texts in `lang`, its {placeholders} filled in."""
        text = self.texts["en" if lang == "en" else "vi"][key]
        return text.format(**params) if params else text

    def parse_status(self, text: str) -> str:
        """Return the status code for a code, label or alias, in either language.

        Case, tone-mark placement and punctuation are ignored: "Đã chuyển hoá", "in progress"
        and "Trọng điểm phức tạp" are accepted, and so are the aliases offices write, with or
        without "Địa bàn" before them ("Địa bàn trọng điểm").

        Raises
        ------
        ValueError
            When the text names no status; the message lists the accepted values.
        """
        key = status_key(text)
        code = self._by_key.get(key)
        if code is None and key.startswith(_PLACE_PREFIX):
            code = self._by_key.get(key[len(_PLACE_PREFIX) :])
        if code is None:
            accepted = ", ".join(
                f"{s.code} / {s.label_vi}" for s in self.statuses if s.code != NOT_LISTED
            )
            raise ValueError(f"unknown status; use one of: {accepted}")
        return code

    def gravity(self, code: str) -> int:
        return self.by_code[code].gravity

    def rollup(self, statuses: Iterable[str]) -> str:
        """Return the gravest of `statuses` (``not_listed`` when there is none)."""
        return max(statuses, key=self.gravity, default=NOT_LISTED)

    def relapse(self, old: str | None, new: str) -> str:
        """Return the status to record when a unit goes from `old` to `new` (the relapse rule)."""
        if self.relapse_becomes and old in self.relapse_from and new in self.relapse_to:
            return self.relapse_becomes
        return new

    def listed(self, code: str) -> bool:
        return self.by_code[code].listed

    @property
    def has_deadlines(self) -> bool:
        """Whether the programme's units have deadlines or targets (hotspot: yes; drugs: no)."""
        return bool(self.deadline_field or self.targets)

    # -- records ---------------------------------------------------------------------------
    def field(self, name: str) -> Field:
        return self.by_field[name]

    def empty_values(self) -> dict[str, Any]:
        return {f.name: f.empty() for f in self.fields}

    def summary(self, statuses: Iterable[str], total_units: int) -> dict[str, Any]:
        """Return the figures: count per status, units listed, the headline share.

        Parameters
        ----------
        statuses:
            The status of every unit that has one (not ``not_listed``).
        total_units:
            Number of units in the boundary set (the rest are "not listed").

        Returns
        -------
        dict
            ``units``, ``listed`` (units in a listed status), ``counts`` (every record status
            and ``not_listed``), ``headline`` (``status``, ``n``, ``of`` and its ``total``,
            ``pct``, ``target_pct``) and ``<headline status>_pct`` (e.g. ``transformed_pct``).
        """
        counts = {s: 0 for s in self.record_statuses}
        for s in statuses:
            counts[s] += 1
        with_record = sum(counts.values())
        listed = sum(n for s, n in counts.items() if self.listed(s))
        counts[NOT_LISTED] = max(total_units - with_record, 0)
        of = listed if self.headline_of == "listed" else total_units
        n = counts[self.headline_status]
        pct = round(100.0 * n / of, 1) if of else 0.0
        return {
            "units": total_units,
            "listed": listed,
            "counts": counts,
            f"{self.headline_status}_pct": pct,
            "headline": {
                "status": self.headline_status,
                "n": n,
                "of": self.headline_of,
                "total": of,
                "pct": pct,
                "target_pct": self.target_pct,
            },
        }

    def describe(self, lang: str = "vi") -> dict[str, Any]:
        """Return what a page or a client needs to know of the programme, in `lang`."""
        return {
            "code": self.code,
            "name": self.name(lang),
            "statuses": [
                {
                    "code": s.code,
                    "label": s.label(lang),
                    "color": s.color,
                    "hatch": s.hatch,
                    "print_color": s.print_fill,
                    "listed": s.listed,
                }
                for s in self.statuses
            ],
            "fields": [
                {"name": f.name, "type": f.type, "label": f.label(lang), "required": f.required}
                for f in self.fields
            ],
            "headline": {
                "status": self.headline_status,
                "of": self.headline_of,
                "target_pct": self.target_pct,
            },
        }


# -- reading a definition -------------------------------------------------------------------
def _need(data: Mapping[str, Any], key: str, where: str, kind: type | tuple = str) -> Any:
    if key not in data:
        raise ProgrammeError(f"{where}: {key!r} is missing")
    value = data[key]
    if not isinstance(value, kind):
        raise ProgrammeError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _labels(data: Mapping[str, Any], where: str) -> tuple[str, str]:
    return _need(data, "vi", where), _need(data, "en", where)


def parse(data: Mapping[str, Any], source: str = "") -> Programme:
    """Return the programme a definition's data describe, checked.

    Raises
    ------
    ProgrammeError
        Naming the file and the key at fault.
    """
    where = source or "programme definition"
    code = _need(data, "code", where)
    if not _CODE.match(code):
        raise ProgrammeError(f"{where}: code {code!r} must be 1-32 lower-case letters, digits, _")
    names = _need(data, "name", where, dict)
    name_vi, name_en = _labels(names, f"{where} [name]")
    fields: list[Field] = []
    for i, f in enumerate(_need(data, "fields", where, list)):
        at = f"{where} [[fields]] #{i + 1}"
        fname = _need(f, "name", at)
        ftype = _need(f, "type", at)
        if ftype not in FIELD_TYPES:
            raise ProgrammeError(f"{at}: type {ftype!r} is not one of {', '.join(FIELD_TYPES)}")
        if fname in RESERVED or not _CODE.match(fname):
            raise ProgrammeError(f"{at}: {fname!r} cannot be a field name")
        layer = f.get("layer", fname[:10])
        if not _LAYER.match(layer):
            raise ProgrammeError(f"{at}: layer {layer!r} must be 1-10 letters, digits or _")
        vi, en = _labels(f, at)
        printed = f.get("print", {})
        fields.append(
            Field(
                fname,
                ftype,
                vi,
                en,
                tuple(f.get("headers", ())),
                layer,
                bool(f.get("required", False)),
                int(f.get("max_length", 5000)),
                f.get("not_before"),
                printed.get("vi", ""),
                printed.get("en", ""),
                bool(f.get("ahead", False)),
            )
        )
    by_field = {f.name: f for f in fields}
    if len(by_field) != len(fields):
        raise ProgrammeError(f"{where}: a field name is given twice")
    layers = [f.layer for f in fields]
    if len(set(layers)) != len(layers):
        raise ProgrammeError(f"{where}: a layer name is given twice")
    for f in fields:
        if f.ahead and f.type != "date":
            raise ProgrammeError(f"{where}: field {f.name}: only a date field can be ahead")
        if f.not_before and (f.not_before not in by_field or by_field[f.not_before].type != "date"):
            raise ProgrammeError(f"{where}: field {f.name}: not_before names no date field")

    statuses: list[Status] = []
    for i, s in enumerate(_need(data, "statuses", where, list)):
        at = f"{where} [[statuses]] #{i + 1}"
        scode = _need(s, "code", at)
        if scode == NOT_LISTED or not _CODE.match(scode):
            raise ProgrammeError(f"{at}: {scode!r} cannot be a status code")
        color = _need(s, "color", at)
        if not _COLOR.match(color):
            raise ProgrammeError(f"{at}: color {color!r} is not #RRGGBB")
        print_color = s.get("print_color", "")
        if print_color and not (isinstance(print_color, str) and _COLOR.match(print_color)):
            raise ProgrammeError(f"{at}: print_color {print_color!r} is not #RRGGBB")
        hatch = s.get("hatch", "")
        if not isinstance(hatch, str) or set(hatch) - set(HATCH_CHARS):
            raise ProgrammeError(f"{at}: hatch {hatch!r} may only use {HATCH_CHARS}")
        for key in ("dated_by", "stamps"):
            if s.get(key) and (s[key] not in by_field or by_field[s[key]].type != "date"):
                raise ProgrammeError(f"{at}: {key} {s[key]!r} names no date field")
        vi, en = _labels(s, at)
        statuses.append(
            Status(
                scode,
                vi,
                en,
                color,
                hatch,
                int(_need(s, "gravity", at, int)),
                bool(s.get("listed", True)),
                tuple(s.get("aliases", ())),
                s.get("dated_by"),
                s.get("stamps"),
                print_color,
            )
        )
    if not statuses:
        raise ProgrammeError(f"{where}: no status")
    unlisted = _need(data, "not_listed", where, dict)
    vi, en = _labels(unlisted, f"{where} [not_listed]")
    statuses.append(
        Status(
            NOT_LISTED,
            vi,
            en,
            unlisted.get("color", "#E8E8E8"),
            gravity=0,
            print_color=unlisted.get("print_color", ""),
        )
    )
    by_code = {s.code: s for s in statuses}
    if len(by_code) != len(statuses):
        raise ProgrammeError(f"{where}: a status code is given twice")
    if len({s.gravity for s in statuses}) != len(statuses):
        raise ProgrammeError(f"{where}: two statuses have the same gravity")

    headline = _need(data, "headline", where, dict)
    h_status = _need(headline, "status", f"{where} [headline]")
    h_of = headline.get("of", "listed")
    if h_status not in by_code or h_status == NOT_LISTED or h_of not in ("listed", "units"):
        raise ProgrammeError(f"{where} [headline]: status must be a status, of listed or units")
    relapse = data.get("relapse") or {}
    relapse_names = [*relapse.get("from", ()), *relapse.get("to", ())]
    if relapse:
        relapse_names.append(_need(relapse, "becomes", f"{where} [relapse]"))
    listing = data.get("listing") or {}
    for name in relapse_names + ([listing["status"]] if listing.get("status") else []):
        if name not in by_code or name == NOT_LISTED:
            raise ProgrammeError(f"{where}: {name!r} is not a status of the programme")
    if listing and (listing.get("field") not in by_field):
        raise ProgrammeError(f"{where} [listing]: field names no field")

    texts = _need(data, "texts", where, dict)
    for lang in ("vi", "en"):
        got = _need(texts, lang, f"{where} [texts]", dict)
        missing = [k for k in TEXT_KEYS if not isinstance(got.get(k), str)]
        if missing:
            raise ProgrammeError(f"{where} [texts.{lang}]: missing {', '.join(missing)}")
    deadline = data.get("deadline") or {}
    for key in ("field", "done_on"):
        name = deadline.get(key)
        if name and (name not in by_field or by_field[name].type != "date"):
            raise ProgrammeError(f"{where} [deadline]: {key} {name!r} names no date field")
    if deadline.get("done") and deadline["done"] not in by_code:
        raise ProgrammeError(f"{where} [deadline]: done {deadline['done']!r} is not a status")
    defaults: list[DefaultTarget] = []
    for i, t in enumerate(data.get("targets", ())):
        at = f"{where} [[targets]] #{i + 1}"
        vi, en = _labels(t, at)
        due = t.get("due", "deadline")
        if not (due == "deadline" or (isinstance(due, int) and due >= 0)):
            raise ProgrammeError(f'{at}: due must be "deadline" or a number of days')
        defaults.append(DefaultTarget(vi, en, due))
    criteria = tuple(data.get("criteria", ()))
    for i, c in enumerate(criteria):
        at = f"{where} [[criteria]] #{i + 1}"
        if c.get("status") not in by_code:
            raise ProgrammeError(f"{at}: status {c.get('status')!r} is not a status")
        if c.get("indicator") and c["indicator"] not in by_field:
            raise ProgrammeError(f"{at}: indicator {c['indicator']!r} names no field")

    keys: dict[str, str] = {}
    for s in statuses:
        if s.code == NOT_LISTED:
            continue
        for text in (s.code, s.label_vi, s.label_en, *s.aliases):
            key = status_key(text)
            if keys.get(key, s.code) != s.code:
                raise ProgrammeError(f"{where}: {text!r} names two statuses")
            keys[key] = s.code
    return Programme(
        code=code,
        name_vi=name_vi,
        name_en=name_en,
        statuses=tuple(statuses),
        fields=tuple(fields),
        headline_status=h_status,
        headline_of=h_of,
        target_pct=headline.get("target_pct"),
        texts={lang: dict(texts[lang]) for lang in ("vi", "en")},
        relapse_from=tuple(relapse.get("from", ())),
        relapse_to=tuple(relapse.get("to", ())),
        relapse_becomes=relapse.get("becomes"),
        listing_field=listing.get("field"),
        listing_status=listing.get("status"),
        criteria=criteria,
        deadline_field=deadline.get("field"),
        done_status=deadline.get("done"),
        done_field=deadline.get("done_on"),
        soon_days=int(deadline.get("soon_days", 30)),
        targets=tuple(defaults),
        order=int(data.get("order", 100)),
        source=source,
        short_vi=names.get("short_vi", ""),
        short_en=names.get("short_en", ""),
        by_code=by_code,
        by_field=by_field,
        _by_key=keys,
    )


def load(path: str | Path) -> Programme:
    """Read and check one definition file.

    Raises
    ------
    ProgrammeError
        When the file cannot be read or is not a valid definition.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ProgrammeError(f"{path.name}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProgrammeError(f"{path.name}: not valid TOML ({exc})") from None
    return parse(data, path.name)


# -- the programmes of this installation -------------------------------------------------------
_registry: dict[str, Programme] | None = None
_dirs: tuple[str, ...] = ()


def configure(extra_dirs: Iterable[str | Path] = ()) -> None:
    """Load the package's definitions and those of `extra_dirs` (``GEO_APP_PROGRAMMES_DIR``).

    Raises
    ------
    ProgrammeError
        When a file is not a valid definition, or two files define the same code.
    """
    global _registry, _dirs
    found: dict[str, Programme] = {}
    folders = [PACKAGE_DIR, *(Path(d) for d in extra_dirs if str(d))]
    for folder in folders:
        if not folder.is_dir():
            raise ProgrammeError(f"{folder}: no such folder of programme definitions")
        for path in sorted(folder.glob("*.toml")):
            prog = load(path)
            if prog.code in found:
                raise ProgrammeError(f"{path.name}: programme {prog.code!r} is defined twice")
            found[prog.code] = prog
    if DEFAULT not in found:
        raise ProgrammeError(f"no definition of the default programme {DEFAULT!r}")
    _registry = found
    _dirs = tuple(str(d) for d in extra_dirs if str(d))


def _programmes() -> dict[str, Programme]:
    if _registry is None:
        configure()
    assert _registry is not None
    return _registry


def get(code: str | None = None) -> Programme:
    """Return the programme with `code` (the default one when None or empty).

    Raises
    ------
    UnknownProgramme
        Naming the programmes there are.
    """
    programmes = _programmes()
    prog = programmes.get(code or DEFAULT)
    if prog is None:
        known = ", ".join(p.code for p in all_programmes())
        raise UnknownProgramme(f"unknown programme {str(code)[:40]!r}; use one of: {known}")
    return prog


def all_programmes() -> list[Programme]:
    """Return every programme, in menu order."""
    return sorted(_programmes().values(), key=lambda p: (p.order, p.code))
