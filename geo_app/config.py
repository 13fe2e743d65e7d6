"""Every setting once, with its default and its GEO_APP_* environment variable."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
#: The bundled sample status file of the current division (invented data, labelled as such).
SAMPLE_STATUS_FILE = SAMPLE_DIR / "status_sample_2025.csv"


@dataclass(frozen=True)
class Setting:
    key: str
    env: str
    default: Any
    doc: str
    cast: Any = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "GEO_APP_DATABASE_URL",
        f"sqlite:///{INSTANCE_DIR / 'geo_app.sqlite3'}",
        "SQLAlchemy URL of the store. SQLite under instance/ by default; for PostgreSQL "
        "e.g. postgresql+psycopg://user@host/dbname.",
    ),
    Setting(
        "BOUNDARIES",
        "GEO_APP_BOUNDARIES",
        str(PROJECT_ROOT.parent / "shared" / "boundaries" / "thanh-hoa-2025"),
        "Path of the default boundary set: a folder or .shp, a .zip holding one shapefile, "
        "or a GeoPackage.",
    ),
    Setting(
        "DIVISION",
        "GEO_APP_DIVISION",
        "2025",
        "Name of the administrative division the boundary set and new records belong to.",
    ),
    Setting(
        "TIMEZONE",
        "GEO_APP_TIMEZONE",
        "Asia/Ho_Chi_Minh",
        "IANA time zone of every date the app shows, stores, filters on or prints (one clock: "
        "geo_app/clock.py); the server's own time zone changes nothing.",
    ),
    Setting(
        "PROGRAMMES_DIR",
        "GEO_APP_PROGRAMMES_DIR",
        "",
        "A folder of programme definitions (*.toml) besides the app's own (hotspot, drugs); "
        "empty = only the app's own.",
    ),
    Setting("FIELD_CODE", "GEO_APP_FIELD_CODE", "code", "Attribute holding the unit code."),
    Setting("FIELD_NAME", "GEO_APP_FIELD_NAME", "name", "Attribute holding the unit name."),
    Setting(
        "FIELD_KIND",
        "GEO_APP_FIELD_KIND",
        "kind",
        "Attribute holding the unit kind (Xã, Phường, ...).",
    ),
    Setting(
        "ENCODING",
        "GEO_APP_ENCODING",
        "",
        "Encoding of a shapefile's .dbf when it has no .cpg (e.g. cp1258); empty = as declared.",
    ),
    Setting(
        "GAP_WIDTH_M",
        "GEO_APP_GAP_WIDTH_M",
        100.0,
        "Width in metres below which gaps between neighbours are closed for display.",
        float,
    ),
    Setting(
        "SIMPLIFY_M",
        "GEO_APP_SIMPLIFY_M",
        150.0,
        "Tolerance in metres of the coverage simplification of display geometry.",
        float,
    ),
    Setting(
        "CACHE_DIR",
        "GEO_APP_CACHE_DIR",
        str(INSTANCE_DIR / "cache"),
        "Folder of the on-disk cache of prepared display geometry.",
    ),
    Setting(
        "BOUNDARY_DIR",
        "GEO_APP_BOUNDARY_DIR",
        "",
        "Folder registered boundary sets are copied into, one folder per division; empty = "
        "instance/boundaries.",
    ),
    Setting(
        "UPLOAD_DIR",
        "GEO_APP_UPLOAD_DIR",
        "",
        "Private folder where boundary sets uploaded on the admin page wait to be accepted; "
        "empty = instance/uploads.",
    ),
    Setting(
        "BOUNDARY_MAX_BYTES",
        "GEO_APP_BOUNDARY_MAX_BYTES",
        200 * 1024 * 1024,
        "Largest boundary-set zip the admin page accepts, in bytes.",
        int,
    ),
    Setting(
        "IMPORT_MAX_ROWS",
        "GEO_APP_IMPORT_MAX_ROWS",
        20000,
        "Most rows below the header a status file may have (CSV or XLSX); a larger file is "
        "refused before anything is checked.",
        int,
    ),
    Setting(
        "TILES",
        "GEO_APP_TILES",
        "none",
        "Base map: 'none', 'osm', or a URL template of an intranet tile server.",
    ),
    Setting(
        "PROXIES",
        "GEO_APP_PROXIES",
        0,
        "Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host "
        "headers are trusted (1 behind nginx; 0 when users reach the app directly). The client's "
        "address is the right-most X-Forwarded-For entry that no trusted proxy added.",
        int,
    ),
    Setting(
        "REDIS_URL",
        "GEO_APP_REDIS_URL",
        "",
        "Redis URL of the job queue shared by several app servers (e.g. redis://127.0.0.1:6379/0); "
        "empty = a SQLite queue in GEO_APP_JOBS_DB (one machine).",
    ),
    Setting(
        "REDIS_PREFIX",
        "GEO_APP_REDIS_PREFIX",
        "geo-app",
        "Name of the job queue: the prefix of its Redis keys (one per deployment sharing a Redis).",
    ),
    Setting(
        "JOBS_DB",
        "GEO_APP_JOBS_DB",
        str(INSTANCE_DIR / "jobs.sqlite3"),
        "SQLite file of the job queue when GEO_APP_REDIS_URL is empty.",
    ),
    Setting(
        "JOBS_IMMEDIATE",
        "GEO_APP_JOBS_IMMEDIATE",
        False,
        "Run background jobs inside the request that starts them, with no worker (tests, "
        "debugging): 1 or 0.",
        lambda v: str(v).strip().lower() in ("1", "true", "yes", "on"),
    ),
    Setting(
        "SESSION_IDLE_HOURS",
        "GEO_APP_SESSION_IDLE_HOURS",
        8.0,
        "A login session unused for this many hours ends (the user logs in again); sessions also "
        "end at logout, when the password changes and when an administrator ends them.",
        float,
    ),
    Setting(
        "SECRET_KEY",
        "GEO_APP_SECRET_KEY",
        "",
        "Key signing sessions and CSRF tokens. When empty, a random key is made once and kept "
        "in instance/secret_key, so every worker and restart shares it.",
    ),
)


def load(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return every setting: overrides, else the environment, else the default.

    Parameters
    ----------
    overrides:
        Values by key (``DATABASE_URL``...), taking precedence over everything.
    """
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = os.environ.get(s.env)
        values[s.key] = s.cast(raw) if raw not in (None, "") else s.default
    for key, value in (overrides or {}).items():
        values[key] = value
    if not values["SECRET_KEY"]:
        values["SECRET_KEY"] = _instance_secret()
    return values


def _instance_secret() -> str:
    """Return the key kept in instance/secret_key, making it (once, race-free) if absent."""
    path = INSTANCE_DIR / "secret_key"
    make_dir(INSTANCE_DIR)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it this very moment
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty; delete it to make a new key") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)
    return key


def make_dir(path: str | Path) -> Path:
    """Make the folder `path` and its missing parents; instance/ itself, when it is among
    them, is made private to the app's user (0700): it holds the database and the secret key."""
    path = Path(path)
    if path == INSTANCE_DIR or INSTANCE_DIR in path.parents:
        INSTANCE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def describe() -> str:
    """Return the settings as a Markdown table (for the README)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        lines.append(f"| `{s.env}` | `{s.default}` | {s.doc} |")
    return "\n".join(lines)
