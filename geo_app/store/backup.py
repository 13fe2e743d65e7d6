"""Backup of every table to one JSON document, and restore from it.

Mixed into `geo_app.store.Store`.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError, ProgrammingError, StatementError
from sqlalchemy.types import Date, LargeBinary

from geo_app import clock
from geo_app.errors import GeoAppError
from geo_app.store.models import (
    Base,
    DataRevision,
    UTCDateTime,
)
from geo_app.store.records import _revision_expr

#: Tables a backup leaves out and a restore leaves alone: login sessions are the running
#: state of this installation (a restore never brings an ended session back), and the data
#: revision's base only ever moves forward (`Store.restore`).
_NOT_BACKED_UP = ("sessions", "data_revision")

BACKUP_FORMAT = "geo-app-backup/1"


def _backed_up() -> list:
    """Return the tables a backup holds, in dependency order."""
    return [t for t in Base.metadata.sorted_tables if t.name not in _NOT_BACKED_UP]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, bytes | memoryview):
            value = base64.b64encode(bytes(value)).decode("ascii")
        out[key] = value
    return out


def _from_json(table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for col in table.columns:
        value = row.get(col.name)
        if value is not None and isinstance(col.type, UTCDateTime):
            value = dt.datetime.fromisoformat(value)
        elif value is not None and isinstance(col.type, Date):
            value = dt.date.fromisoformat(value)
        elif value is not None and isinstance(col.type, LargeBinary):
            value = base64.b64decode(value)
        out[col.name] = value
    return out


class BackupMixin:
    """Backup of every table to one JSON document, and restore from it."""

    # -- backup and restore -----------------------------------------------------------
    def schema_revision(self) -> str | None:
        def run():
            with self.engine.connect() as conn:
                try:
                    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                except (OperationalError, ProgrammingError):
                    return None

        return self._guard(run)

    def backup(self) -> dict[str, Any]:
        """Return every table's rows as one JSON-ready object, read in one transaction."""

        def run():
            out: dict[str, Any] = {
                "format": BACKUP_FORMAT,
                "schema_revision": self.schema_revision(),
                "made_at": clock.now().isoformat(),
                "tables": {},
            }
            with self.engine.connect() as conn, conn.begin():
                if self.engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                for table in _backed_up():
                    rows = conn.execute(select(table).order_by(table.c.id)).mappings()
                    out["tables"][table.name] = [_jsonable(dict(r)) for r in rows]
            return out

        return self._guard(run)

    def restore(self, data: dict[str, Any]) -> dict[str, int]:
        """Replace every table's rows with those of a backup, in one transaction.

        The data revision moves forward, past every revision served before the restore (the
        restored ids may be lower than the discarded ones): every worker serves the restored
        data on its next request. Login sessions are left as they are.

        Raises
        ------
        GeoAppError
            When the backup is not one of ours or was made under another schema revision;
            nothing is changed.
        """
        if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT:
            raise GeoAppError("not a geo-app backup file")
        if data.get("schema_revision") != self.schema_revision():
            raise GeoAppError(
                f"the backup has schema revision {data.get('schema_revision')}, the database "
                f"{self.schema_revision()}; run `geo-app db upgrade` on a matching version"
            )
        tables = data.get("tables") or {}

        def run():
            counts: dict[str, int] = {}
            with self.engine.begin() as conn:
                base = DataRevision.__table__
                # one restore (or writer) at a time moves the base; the old revision is read
                # under that lock, in this transaction
                locked = select(base.c.base).where(base.c.id == 1)
                if self.engine.dialect.name == "postgresql":
                    locked = locked.with_for_update()
                conn.execute(locked)
                before = int(conn.scalar(select(_revision_expr())))
                for table in reversed(_backed_up()):
                    conn.execute(table.delete())
                for table in _backed_up():
                    rows = [_from_json(table, r) for r in tables.get(table.name, [])]
                    if rows:
                        conn.execute(table.insert(), rows)
                    counts[table.name] = len(rows)
                    if self.engine.dialect.name == "postgresql":
                        conn.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                restored = int(conn.scalar(select(_revision_expr(with_base=False))))
                new_base = before + 1 - restored
                moved = conn.execute(update(base).where(base.c.id == 1).values(base=new_base))
                if moved.rowcount != 1:
                    conn.execute(base.insert().values(id=1, base=new_base))
            return counts

        try:
            return self._guard(run)
        except (KeyError, TypeError, ValueError, StatementError) as exc:
            raise GeoAppError(f"the backup file is damaged ({exc}); nothing was restored") from None
