"""The store: status records and their append-only history, users, audit, divisions.

SQLite under instance/ by default; PostgreSQL when GEO_APP_DATABASE_URL says so. The schema
is made and upgraded by Alembic (`geo-app db upgrade`), never by `create_all` at run time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from geo_app.errors import StoreUnavailable
from geo_app.store.accounts import AccountsMixin
from geo_app.store.backup import BackupMixin
from geo_app.store.divisions import DivisionsMixin
from geo_app.store.geometry import GeometryStore
from geo_app.store.jobs import JobStore
from geo_app.store.records import (
    RecordsMixin,
    _revision_expr,
)
from geo_app.store.targets import TargetsMixin

LOGGER = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Store(
    RecordsMixin,
    AccountsMixin,
    DivisionsMixin,
    BackupMixin,
    GeometryStore,
    JobStore,
    TargetsMixin,
):
    """Access to the status store at one database URL."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            _private_sqlite_file(Path(url.removeprefix("sqlite:///").split("?", 1)[0]))
        try:
            self.engine: Engine = create_engine(url, pool_pre_ping=True, future=True)
        except (ArgumentError, ImportError) as exc:
            raise StoreUnavailable(
                f"GEO_APP_DATABASE_URL is not a database URL this app can use ({exc})"
            ) from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()

    def display_url(self) -> str:
        """Return the database URL without its password (for messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    def session(self) -> Session:
        return self._sessions()

    def upgrade(self, revision: str = "head") -> None:
        """Create or upgrade the schema to the newest migration, or to `revision` (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))

        def run() -> None:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)

        self._guard(run)

    def head_revision(self) -> str:
        """Return the newest migration this code knows (what `upgrade` brings a database to)."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return ScriptDirectory.from_config(cfg).get_current_head() or ""

    def _guard(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (OperationalError, ProgrammingError) as exc:
            text = str(exc.orig or exc).lower()
            if "no such table" in text or ("relation" in text and "does not exist" in text):
                raise StoreUnavailable(
                    "the status database has no tables yet; run `geo-app db upgrade`"
                ) from None
            if isinstance(exc, ProgrammingError):
                raise
            down = StoreUnavailable("the status database is unavailable; try again in a moment")
            down.reason = f"{self.display_url()}: {_first_line(exc.orig or exc)}"
            LOGGER.warning("store unavailable: %s", down.reason)
            raise down from None

    # -- reads -------------------------------------------------------------------------
    def revision(self) -> int:
        """Return the data revision: the cache key of everything the views show.

        It is the id of the newest history entry plus that of the newest audit entry for a
        crosswalk or division change or a repaired history entry, plus that of the newest
        target change (0 when none), plus the base kept in ``data_revision``. The ids only
        grow, so every status change, every change of what units were made of and every change
        of a checklist gives a new, higher revision; a restore brings older ids back, so it sets
        the base to put the revision past every value served before (`restore`): a revision is
        never reused, and each worker's caches, keyed by it, never serve a discarded timeline.
        """

        def run() -> int:
            with self.session() as s:
                return int(s.scalar(select(_revision_expr())))

        return self._guard(run)


def _first_line(exc: BaseException) -> str:
    """Return the first line of a driver's error (the reason, without SQL or traceback)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _private_sqlite_file(path: Path) -> None:
    """Make a new SQLite file's folder (0700) and the file itself (0600) private.

    An existing folder or file keeps its permissions (`geo-app doctor` reports them).

    Raises
    ------
    StoreUnavailable
        When the folder cannot be made or the file cannot be created there.
    """
    if str(path) in ("", ":memory:"):
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # e.g. instance/: private
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreUnavailable(
            f"the status database {path} cannot be created ({exc.strerror})"
        ) from None
    os.close(fd)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
