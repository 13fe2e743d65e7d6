"""Boundary sets in the store: units with WKB geometry, and what is prepared from them once for
every server (display geometry, the map's encoded data), keyed by content hash.

On PostgreSQL with PostGIS (``CREATE EXTENSION postgis`` in the database, or in a schema on the
connection's search path), overlays and neighbour look-ups run in SQL; elsewhere the caller
computes them with shapely (`geo_app.geodata`). Both give the same answers (tests/test_geostore.py).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from geo_app import clock
from geo_app.errors import NotFound
from geo_app.store.models import BoundarySet, BoundaryUnit, Prepared

LOGGER = logging.getLogger(__name__)

#: Units inserted per statement (a national set is 3,321 rows and 7 MB of WKB).
_BATCH = 500


class GeometryStore:
    """Boundary sets and prepared geometry (mixed into `geo_app.store.Store`)."""

    _postgis: bool | None = None

    # -- boundary sets -----------------------------------------------------------------
    def save_boundary_set(
        self,
        division: str,
        content_hash: str,
        units: list[dict[str, Any]],
        *,
        origin: str,
        source: str,
        source_crs: str,
        fields: dict[str, str] | None,
        repaired: list[str],
        warnings: list[str],
        actor: str,
        session=None,
    ) -> int:
        """Store a boundary set of `division` (units: code, name, kind, wkb); return its id.

        It becomes the division's set in force (the newest). Given `session`, it is written in
        that transaction (with the division it belongs to); else in its own.
        """

        def write(s) -> int:
            row = BoundarySet(
                division=division,
                content_hash=content_hash,
                origin=origin,
                source=source,
                source_crs=source_crs,
                fields=fields,
                repaired=list(repaired),
                warnings=list(warnings),
                units=len(units),
                actor=actor,
                created_at=clock.now(),
            )
            s.add(row)
            s.flush()
            for i in range(0, len(units), _BATCH):
                s.execute(
                    BoundaryUnit.__table__.insert(),
                    [
                        {
                            "set_id": row.id,
                            "code": u["code"],
                            "name": u["name"],
                            "kind": u["kind"],
                            "geom": bytes(u["wkb"]),
                        }
                        for u in units[i : i + _BATCH]
                    ],
                )
            if origin == "settings":  # the deployment's configuration, not a user's act
                LOGGER.info("boundary set of %s imported from the settings", division)
                return row.id
            self._audit(
                s,
                actor,
                "boundaries.add",
                origin,
                division,
                {"units": len(units), "source": source, "hash": content_hash[:16]},
            )
            return row.id

        if session is not None:
            return write(session)

        def run() -> int:
            with self.session() as s, s.begin():
                return write(s)

        return self._guard(run)

    def boundary_set(
        self, division: str, content_hash: str | None = None, origin: str | None = None
    ) -> dict[str, Any] | None:
        """Return the newest stored set of `division` (with that hash, of that origin), or None."""

        def run():
            q = select(BoundarySet).where(BoundarySet.division == division)
            if content_hash is not None:
                q = q.where(BoundarySet.content_hash == content_hash)
            if origin is not None:
                q = q.where(BoundarySet.origin == origin)
            with self.session() as s:
                row = s.scalar(q.order_by(BoundarySet.id.desc()).limit(1))
                return _set_dict(row) if row else None

        return self._guard(run)

    def boundary_set_by_hash(self, content_hash: str) -> dict[str, Any] | None:
        """Return the newest stored set with that content, whatever its division, or None."""

        def run():
            with self.session() as s:
                row = s.scalar(
                    select(BoundarySet)
                    .where(BoundarySet.content_hash == content_hash)
                    .order_by(BoundarySet.id.desc())
                    .limit(1)
                )
                return _set_dict(row) if row else None

        return self._guard(run)

    def boundary_sets(self, division: str | None = None) -> list[dict[str, Any]]:
        """Return the stored sets (of `division`), newest first."""

        def run():
            q = select(BoundarySet).order_by(BoundarySet.id.desc())
            if division is not None:
                q = q.where(BoundarySet.division == division)
            with self.session() as s:
                return [_set_dict(r) for r in s.scalars(q)]

        return self._guard(run)

    def boundary_units(self, set_id: int) -> list[dict[str, Any]]:
        """Return the units of a stored set in the order they were read: code, name, kind, wkb.

        Raises
        ------
        NotFound
            When there is no such set.
        """

        def run():
            with self.session() as s:
                if s.get(BoundarySet, set_id) is None:
                    raise NotFound(f"no stored boundary set {set_id}")
                rows = s.execute(
                    select(
                        BoundaryUnit.code, BoundaryUnit.name, BoundaryUnit.kind, BoundaryUnit.geom
                    )
                    .where(BoundaryUnit.set_id == set_id)
                    .order_by(BoundaryUnit.id)
                )
                return [{"code": c, "name": n, "kind": k, "wkb": bytes(g)} for c, n, k, g in rows]

        return self._guard(run)

    # -- prepared geometry -------------------------------------------------------------
    def prepared(self, key: str) -> tuple[dict[str, Any], bytes] | None:
        """Return (meta, body) of what was prepared under `key`, or None."""

        def run():
            with self.session() as s:
                row = s.execute(
                    select(Prepared.meta, Prepared.body).where(Prepared.key == key)
                ).first()
                return (row[0], bytes(row[1])) if row else None

        return self._guard(run)

    def has_prepared(self, key: str) -> bool:
        def run() -> bool:
            with self.session() as s:
                return s.scalar(select(Prepared.id).where(Prepared.key == key)) is not None

        return self._guard(run)

    def save_prepared(
        self,
        key: str,
        kind: str,
        set_hash: str,
        params_hash: str,
        meta: dict[str, Any],
        body: bytes,
    ) -> bool:
        """Keep what was prepared under `key` (once: a second server's copy is dropped).

        Returns
        -------
        bool
            Whether it was written (False when another process had written it first).
        """

        def run() -> bool:
            try:
                with self.session() as s, s.begin():
                    if s.scalar(select(Prepared.id).where(Prepared.key == key)) is not None:
                        return False
                    s.add(
                        Prepared(
                            key=key,
                            kind=kind,
                            set_hash=set_hash,
                            params_hash=params_hash,
                            meta=meta,
                            body=body,
                            created_at=clock.now(),
                        )
                    )
                return True
            except IntegrityError:  # written meanwhile by another server: same content
                return False

        return self._guard(run)

    def active_prepared(self, division: str, kind: str, params_hash: str) -> str | None:
        """Return the key of the newest set of `division` prepared as `kind` with those
        settings: what the map of that division shows (None when nothing is prepared)."""

        def run():
            with self.session() as s:
                return s.scalar(
                    select(Prepared.key)
                    .join(BoundarySet, BoundarySet.content_hash == Prepared.set_hash)
                    .where(
                        BoundarySet.division == division,
                        Prepared.kind == kind,
                        Prepared.params_hash == params_hash,
                    )
                    .order_by(BoundarySet.id.desc())
                    .limit(1)
                )

        return self._guard(run)

    # -- PostGIS -------------------------------------------------------------------------
    def has_postgis(self) -> bool:
        """Tell whether the database is PostgreSQL with PostGIS reachable on the search path."""
        if self._postgis is None:
            found = False
            if self.engine.dialect.name == "postgresql":
                try:
                    with self.engine.connect() as conn:
                        found = bool(conn.exec_driver_sql("SELECT postgis_version()").scalar())
                except (OperationalError, ProgrammingError):
                    found = False
            self._postgis = found
        return self._postgis

    def neighbours_sql(self, set_id: int, code: str, within_m: float) -> list[str]:
        """Return the codes of the units of a set within `within_m` metres of unit `code`, in
        SQL (PostGIS only): the gap-closing width keeps units apart by a sliver neighbours."""
        sql = text(
            """
            WITH a AS (
                SELECT ST_MakeValid(ST_GeomFromWKB(geom, 4326)) AS g
                FROM boundary_units WHERE set_id = :set AND code = :code
            )
            SELECT u.code FROM boundary_units u, a
            WHERE u.set_id = :set AND u.code <> :code
              AND ST_GeomFromWKB(u.geom, 4326) && ST_Expand(a.g, :deg)
              AND ST_DWithin(ST_MakeValid(ST_GeomFromWKB(u.geom, 4326))::geography,
                             a.g::geography, :m)
            ORDER BY u.code
            """
        )

        def run():
            with self.engine.connect() as conn:
                # a degree of latitude is 111 km; longitude degrees are shorter: pad twice
                deg = 2 * within_m / 111_000
                rows = conn.execute(sql, {"set": set_id, "code": code, "deg": deg, "m": within_m})
                return [r[0] for r in rows]

        return self._guard(run)

    def overlay_sql(self, old_set: int, new_set: int, min_share: float) -> list[dict[str, Any]]:
        """Return old → new pairs where a new unit covers at least `min_share` of an old one's
        area (on the spheroid), in SQL (PostGIS only); see `geodata.boundaries.overlay_crosswalk`.
        """
        sql = text(
            """
            WITH a AS MATERIALIZED (
                SELECT code, ST_MakeValid(ST_GeomFromWKB(geom, 4326)) AS g
                FROM boundary_units WHERE set_id = :old
            ), b AS MATERIALIZED (
                SELECT code, ST_MakeValid(ST_GeomFromWKB(geom, 4326)) AS g
                FROM boundary_units WHERE set_id = :new
            ), parts AS (
                SELECT a.code AS old_code, b.code AS new_code,
                       ST_Area(ST_CollectionExtract(ST_Intersection(a.g, b.g), 3)::geography)
                         / NULLIF(ST_Area(a.g::geography), 0) AS share
                FROM a JOIN b ON a.g && b.g AND ST_Intersects(a.g, b.g)
            )
            SELECT old_code, new_code, share FROM parts WHERE share >= :min_share
            ORDER BY old_code, share DESC
            """
        )

        def run():
            with self.engine.connect() as conn:
                rows = conn.execute(sql, {"old": old_set, "new": new_set, "min_share": min_share})
                kept = [(r[0], r[1], float(r[2])) for r in rows]
            counts: dict[str, int] = {}
            for old_code, _new, _share in kept:
                counts[old_code] = counts.get(old_code, 0) + 1
            return [
                {
                    "old_code": o,
                    "new_code": n,
                    "split": counts[o] > 1,
                    "share": round(share, 4),
                    "method": "overlay",
                }
                for o, n, share in kept
            ]

        return self._guard(run)


def _set_dict(row: BoundarySet) -> dict[str, Any]:
    return {
        "id": row.id,
        "division": row.division,
        "content_hash": row.content_hash,
        "origin": row.origin,
        "source": row.source,
        "source_crs": row.source_crs,
        "fields": row.fields,
        "repaired": list(row.repaired or []),
        "warnings": list(row.warnings or []),
        "units": row.units,
        "actor": row.actor,
        "created_at": row.created_at.isoformat(),
    }
