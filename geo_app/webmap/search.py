"""The search box: units by today's names and codes, and by former (pre-July 2025) names."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from geo_app.core.names import search_key

if TYPE_CHECKING:
    from geo_app.webmap.maps import UnitGeometry

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchEntry:
    """One unit as the search box sees it."""

    code: str
    kind: str
    name: str
    name_key: str
    full_key: str


@dataclass(frozen=True)
class FormerEntry:
    """A former (old-division) unit as the search box sees it: its old kind and name, and the
    unit of today it went into (one entry per unit of today for a unit that was split)."""

    division: str
    old_code: str
    kind: str
    name: str
    name_key: str
    full_key: str
    code: str


def former_index(geometry: UnitGeometry, pairs: Iterable[Mapping[str, Any]]) -> list[FormerEntry]:
    """Return the search entries of the former units of the crosswalk `pairs`
    (``old_division``, ``old_code``, ``new_code``, ``name``, ``kind``), those that went into a
    unit of `geometry` and whose name is known."""
    out = []
    for p in pairs:
        code, name, kind = str(p["new_code"]), str(p.get("name") or ""), str(p.get("kind") or "")
        if code not in geometry.code_set or not name:
            continue
        out.append(
            FormerEntry(
                str(p["old_division"]),
                str(p["old_code"]),
                kind,
                name,
                search_key(name),
                search_key(f"{kind} {name}"),
                code,
            )
        )
    return out


def _rank(q: str, name_key: str, full_key: str, code: str) -> int | None:
    if q in (name_key, full_key) or q == code:
        return 0
    if name_key.startswith(q) or full_key.startswith(q):
        return 1
    if f" {q}" in f" {full_key}":
        return 2
    if q in full_key:
        return 3
    return None


def search(
    geometry: UnitGeometry,
    query: str,
    limit: int = 10,
    former: Iterable[FormerEntry] = (),
) -> list[dict[str, Any]]:
    """Return the units whose name matches `query`, typed with or without diacritics.

    A unit matches when its "kind name" (diacritics folded, as `names.search_key` does)
    contains the query; exact names rank first, then names starting with it, then matches at
    the start of a word. A 5-digit code matches its unit. A former unit (`former_index`)
    matches the same way by its old kind and name ("Thị trấn Mường Lát") and gives the unit of
    today it is now part of, after the units matched by their own name; a unit already found
    by its own name is not given again for a former name.

    Returns
    -------
    list
        Up to `limit` dicts with ``code``, ``kind``, ``name`` and ``exact`` (the folded name is
        the query); a match by a former name also has ``former``: ``division``, ``code``,
        ``kind`` and ``name`` of the former unit.
    """
    q = search_key(query)
    if not q:
        return []
    hits: list[tuple[int, str, str, SearchEntry]] = []
    for e in geometry.search_index:
        rank = _rank(q, e.name_key, e.full_key, e.code)
        if rank is not None:
            hits.append((rank, e.name_key, e.code, e))
    hits.sort(key=lambda h: h[:3])
    out = [
        {"code": e.code, "kind": e.kind, "name": e.name, "exact": rank == 0}
        for rank, _, _, e in hits
    ]
    found = {m["code"] for m in out}
    old_hits: list[tuple[int, str, str, FormerEntry]] = []
    for f in former:
        if f.code in found:
            continue
        rank = _rank(q, f.name_key, f.full_key, f.old_code)
        if rank is not None:
            old_hits.append((rank, f.name_key, f.old_code, f))
    old_hits.sort(key=lambda h: h[:3])
    for rank, _, _, f in old_hits:
        unit = geometry.unit(f.code)
        if unit is None:
            continue
        out.append(
            {
                **unit,
                "exact": rank == 0,
                "former": {
                    "division": f.division,
                    "code": f.old_code,
                    "kind": f.kind,
                    "name": f.name,
                },
            }
        )
    return out[:limit]
