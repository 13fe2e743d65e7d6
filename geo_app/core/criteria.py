"""A programme's criteria, checked against a unit's indicator values (pure rules).

A definition's ``[[criteria]]`` (``drugs.toml``: Decision 28/2025/QĐ-TTg) are either an
indicator with a threshold (``indicator``, ``op``, ``threshold``: users with records ≥ 0.5 % of
the population) or a count of other criteria (``count``, ``op``, ``threshold``: "at least 3 of
points a to đ"); others are text only, and cannot be checked. A unit meets a status when the
criterion whose id is that status's code holds. The status the criteria give is the gravest one
met; when a record says another listed status, the two disagree and the app says so.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from geo_app.core.programme import Programme

_OPS = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Assessment:
    """What the criteria say of one unit."""

    suggested: str | None  # the gravest status whose criteria hold (None: none, or unknown)
    met: tuple[Mapping[str, Any], ...] = ()  # the measurable criteria that hold
    measured: bool = False  # the unit has at least one indicator value
    results: Mapping[str, bool | None] = field(default_factory=dict)

    def disagrees_with(self, prog: Programme, status: str) -> bool:
        """Tell whether a recorded `status` differs from the one the criteria give."""
        return (
            self.suggested is not None
            and status in prog.by_code
            and prog.listed(status)
            and status != self.suggested
        )


def assess(prog: Programme, values: Mapping[str, Any] | None) -> Assessment:
    """Check every criterion of `prog` against a unit's field `values`."""
    criteria = {c["id"]: c for c in prog.criteria}
    if not criteria or not values:
        return Assessment(None)
    results: dict[str, bool | None] = {}

    def holds(cid: str, seen: frozenset = frozenset()) -> bool | None:
        if cid in results:
            return results[cid]
        c = criteria.get(cid)
        result: bool | None = None
        if c is not None and cid not in seen and "op" in c and "threshold" in c:
            compare = _OPS.get(c["op"])
            if compare is None:
                result = None
            elif c.get("indicator"):
                value = values.get(c["indicator"])
                result = None if value is None else bool(compare(value, c["threshold"]))
            elif c.get("count"):
                parts = [holds(p, seen | {cid}) for p in c["count"]]
                true = sum(1 for p in parts if p is True)
                unknown = sum(1 for p in parts if p is None)
                if compare(true, c["threshold"]):
                    result = True
                elif any(compare(true + k, c["threshold"]) for k in range(1, unknown + 1)):
                    result = None  # the unknown points could still make it hold
                else:
                    result = False
        results[cid] = result
        return result

    for cid in criteria:
        holds(cid)
    listed = sorted((s for s in prog.statuses if s.code in criteria), key=lambda s: -s.gravity)
    suggested = next((s.code for s in listed if results.get(s.code) is True), None)
    met = tuple(
        criteria[cid]
        for cid, ok in results.items()
        if ok and criteria[cid].get("indicator") and cid not in prog.by_code
    )
    measured = any(
        values.get(c["indicator"]) is not None for c in prog.criteria if c.get("indicator")
    )
    return Assessment(suggested, met, measured, results)
