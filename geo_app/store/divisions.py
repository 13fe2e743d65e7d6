"""Administrative divisions: their units, and the crosswalk from old units to new.

Mixed into `geo_app.store.Store`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from geo_app import clock
from geo_app.store.models import (
    CrosswalkRow,
    Division,
    UnitRow,
)
from geo_app.store.records import Conflict


class DivisionsMixin:
    """Administrative divisions: their units and the crosswalk from old units to new."""

    # -- divisions and crosswalks -----------------------------------------------------
    def save_division(
        self,
        name: str,
        units: list[dict[str, str]],
        *,
        valid_from: dt.date | None,
        valid_to: dt.date | None,
        source: str,
        actor: str,
        boundary_path: str | None = None,
        fields: dict[str, str] | None = None,
        replace: bool = False,
        door: str = "cli",
        boundary_set: dict[str, Any] | None = None,
    ) -> None:
        """Register a division with its units (code, name, kind, parent), in one transaction.

        `door` ("cli" or "web") is the audit entry's source. `boundary_set` (the arguments of
        `save_boundary_set` but the division) stores its polygons in the same transaction.

        Raises
        ------
        Conflict
            When the division exists and `replace` is not set.
        """

        def run():
            with self.session() as s, s.begin():
                old = s.scalar(select(Division).where(Division.name == name))
                if old is not None and not replace:
                    raise Conflict(f"division {name!r} exists already; replace it or choose a name")
                if old is not None:
                    s.delete(old)
                    s.execute(UnitRow.__table__.delete().where(UnitRow.division == name))
                    s.flush()
                s.add(
                    Division(
                        name=name,
                        valid_from=valid_from,
                        valid_to=valid_to,
                        source=source,
                        boundary_path=boundary_path,
                        fields=fields,
                        created_at=clock.now(),
                    )
                )
                s.execute(
                    UnitRow.__table__.insert(),
                    [
                        {
                            "division": name,
                            "code": u["code"],
                            "name": u["name"],
                            "kind": u["kind"],
                            "parent": u.get("parent", ""),
                        }
                        for u in units
                    ],
                )
                self._audit(
                    s,
                    actor,
                    "division.replace" if old else "division.add",
                    door,
                    name,
                    {
                        "units": len(units),
                        "source": source,
                        "valid_from": valid_from and valid_from.isoformat(),
                        "valid_to": valid_to and valid_to.isoformat(),
                    },
                )
                if boundary_set is not None:
                    self.save_boundary_set(name, session=s, **boundary_set)

        self._guard(run)

    def divisions(self) -> list[dict[str, Any]]:
        """Return every registered division, oldest first, with its unit count."""

        def run():
            with self.session() as s:
                counts = dict(
                    s.execute(
                        select(UnitRow.division, func.count()).group_by(UnitRow.division)
                    ).all()
                )
                rows = s.scalars(select(Division).order_by(Division.valid_from, Division.name))
                return [
                    {
                        "name": d.name,
                        "valid_from": d.valid_from and d.valid_from.isoformat(),
                        "valid_to": d.valid_to and d.valid_to.isoformat(),
                        "source": d.source,
                        "boundary_path": d.boundary_path,
                        "fields": d.fields,
                        "units": counts.get(d.name, 0),
                    }
                    for d in rows
                ]

        return self._guard(run)

    def division_units(self, name: str) -> list[dict[str, str]]:
        """Return the units of a registered division (empty when it is not registered)."""

        def run():
            with self.session() as s:
                rows = s.scalars(
                    select(UnitRow).where(UnitRow.division == name).order_by(UnitRow.code)
                )
                return [
                    {"code": u.code, "name": u.name, "kind": u.kind, "parent": u.parent}
                    for u in rows
                ]

        return self._guard(run)

    def save_crosswalk(
        self,
        old_division: str,
        new_division: str,
        rows: list[dict[str, Any]],
        actor: str,
        source: str,
    ) -> None:
        """Replace the crosswalk from `old_division` to `new_division` (one transaction)."""

        def run():
            with self.session() as s, s.begin():
                s.execute(
                    CrosswalkRow.__table__.delete().where(
                        CrosswalkRow.old_division == old_division,
                        CrosswalkRow.new_division == new_division,
                    )
                )
                if rows:  # an empty crosswalk clears it (an empty INSERT is not valid SQL)
                    s.execute(
                        CrosswalkRow.__table__.insert(),
                        [
                            {"old_division": old_division, "new_division": new_division, **r}
                            for r in rows
                        ],
                    )
                self._audit(
                    s,
                    actor,
                    "crosswalk.import",
                    source,
                    f"{old_division}->{new_division}",
                    {"pairs": len(rows), "split": sum(1 for r in rows if r["split"])},
                )

        self._guard(run)

    def crosswalk_into(self, new_division: str) -> list[dict[str, Any]]:
        """Return every pair (old unit → unit of `new_division`), with the old unit's name."""

        def run():
            with self.session() as s:
                q = (
                    select(CrosswalkRow, UnitRow.name, UnitRow.kind, UnitRow.parent)
                    .outerjoin(
                        UnitRow,
                        (UnitRow.division == CrosswalkRow.old_division)
                        & (UnitRow.code == CrosswalkRow.old_code),
                    )
                    .where(CrosswalkRow.new_division == new_division)
                    .order_by(CrosswalkRow.new_code, CrosswalkRow.old_code)
                )
                return [
                    {
                        "old_division": c.old_division,
                        "old_code": c.old_code,
                        "new_code": c.new_code,
                        "split": c.split,
                        "share": c.share,
                        "method": c.method,
                        "name": name or "",
                        "kind": kind or "",
                        "parent": parent or "",
                    }
                    for c, name, kind, parent in s.execute(q)
                ]

        return self._guard(run)
