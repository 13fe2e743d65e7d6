"""Background jobs on a real queue (Huey): briefing packs, display preparation, overlays.

The queue carries a job's id only; what was asked, how far it got and the result live in the
store (`Store.create_job`, `job`, `job_result`), so a job started through one app server is
followed and fetched through any other sharing the database. The queue is Huey: SQLite in
``instance/jobs.sqlite3`` by default (one machine), Redis when ``GEO_APP_REDIS_URL`` is set
(several servers; keys under ``GEO_APP_REDIS_PREFIX``). `geo-app serve` starts a worker
beside the web server; `geo-app jobs worker` runs one on its own.

Kinds:

* ``pack`` — the briefing pack PDF (params: the export's options, ``as_of``); progress per page;
* ``map`` — a briefing map (params: the export's options, ``format`` png, pdf or svg, ``as_of``):
  a PNG at a high resolution takes seconds;
* ``prepare`` — the display geometry of the current division's set in force (minutes for the
  country), kept in the store for every server;
* ``overlay`` — the crosswalk OLD → NEW from polygons (in SQL with PostGIS), saved as
  `geo-app divisions overlay` does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey

from geo_app import config
from geo_app.errors import BadRequest, GeoAppError
from geo_app.geodata import boundaries, divisions
from geo_app.outputs import printmap, registry
from geo_app.readmodel import ReadModel
from geo_app.store import Store

LOGGER = logging.getLogger(__name__)
KINDS = ("pack", "prepare", "overlay", "map")
#: The permission each kind needs (`geo_app.accounts.ROLES`).
PERMISSION = {"pack": "export", "prepare": "admin", "overlay": "admin", "map": "export"}
#: The export each print kind makes (`geo_app.outputs.registry`).
PRINT_KINDS = ("pack", "map")
TASK_NAME = "geo_app.jobs.run"


def make_huey(settings: dict[str, Any]):
    """Return the Huey queue of the settings: Redis when ``REDIS_URL`` is set, else SQLite."""
    name = settings.get("REDIS_PREFIX") or "geo-app"
    if settings.get("REDIS_URL"):
        huey = RedisHuey(name, url=settings["REDIS_URL"], results=False)
    else:
        path = Path(settings.get("JOBS_DB") or config.INSTANCE_DIR / "jobs.sqlite3")
        path.parent.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(name, filename=str(path), results=False)
    huey.immediate = bool(settings.get("JOBS_IMMEDIATE"))
    return huey


class Queue:
    """The job queue of one app or worker: submit jobs, and the task the worker runs."""

    def __init__(self, settings: dict[str, Any], store: Store | None = None):
        self.settings = settings
        self.store = store or Store(settings["DATABASE_URL"])
        self.huey = make_huey(settings)
        self.task = self.huey.task(name=TASK_NAME)(self._run)

    def _run(self, uid: str) -> None:
        run(self.store, self.settings, uid)

    def submit(self, kind: str, params: dict[str, Any], actor: str) -> dict[str, Any]:
        """Queue a job, or return the job already made for the same thing (queued, running or
        done: a second click, or a second server, never renders the same pack twice). The job
        says ``joined``: True when it was made already (the caller joins it), False when new.

        Raises
        ------
        BadRequest
            When the kind or its parameters are wrong (nothing is queued).
        """
        if kind not in KINDS:
            raise BadRequest(f"kind must be one of {', '.join(KINDS)} (got {str(kind)[:40]!r})")
        params = check_params(kind, params)
        key = job_key(self.store, self.settings, kind, params)
        existing = self.store.job_for_key(key)
        if existing is not None and not _stale(existing):
            return {**existing, "joined": True}
        uid = self.store.create_job(kind, key, params, actor)
        self.task(uid)
        return {**self.store.job(uid), "joined": False}

    def worker(self, workers: int = 1):
        """Return a Huey consumer running this queue's jobs in `workers` threads."""
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=False)


#: A job queued or running for longer than this is taken for lost (its worker was stopped):
#: the same thing asked again makes a new job.
STALE_AFTER = dt.timedelta(hours=1)


def _stale(job: dict[str, Any]) -> bool:
    from geo_app import clock

    if job["state"] not in ("queued", "running"):
        return False
    return clock.now() - dt.datetime.fromisoformat(job["created_at"]) > STALE_AFTER


def check_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return the parameters of a job of `kind`, checked (see the module's docstring).

    Raises
    ------
    BadRequest
        Naming the parameter that is wrong.
    """
    if not isinstance(params, dict):
        raise BadRequest("params must be an object")
    if kind in PRINT_KINDS:
        as_of = params.get("as_of") or None
        if as_of is not None:
            try:
                day = dt.date.fromisoformat(str(as_of))
            except ValueError:
                raise BadRequest(
                    f"as_of must be a date written YYYY-MM-DD (got {as_of!r})"
                ) from None
            from geo_app import clock

            if day > clock.today():
                raise BadRequest(f"as_of {as_of} is in the future; history only goes up to today")
        options = {k: v for k, v in params.items() if k not in ("as_of", "format")}
        if kind == "map":
            fmt = str(params.get("format") or "png")
            registry.get("map").parse(options, fmt)  # raises on a bad option or format
            return {**options, "format": fmt, "as_of": as_of}
        registry.get("pack").parse(options, "pdf")  # raises on a bad option
        return {**options, "as_of": as_of}
    if kind == "overlay":
        old = str(params.get("old") or "")
        if not old:
            raise BadRequest("old: the old division to derive the crosswalk from is required")
        try:
            share = float(params.get("min_share", 0.05))
        except (TypeError, ValueError):
            raise BadRequest("min_share must be a number between 0.001 and 1") from None
        if not 0.001 <= share <= 1:
            raise BadRequest("min_share must be a number between 0.001 and 1")
        return {"old": old, "new": str(params.get("new") or ""), "min_share": share}
    return {}


def job_key(store: Store, settings: dict[str, Any], kind: str, params: dict[str, Any]) -> str:
    """Return what a job's result depends on: the same key, the same result."""
    if kind in PRINT_KINDS:
        source, options, as_of = _pack_source(store, settings, params, kind)
        view = source.view
        key = pack_key(source.display_key, view.revision, view.figures_date, as_of, options)
        return key if kind == "pack" else "map" + key[len("pack") :]
    if kind == "prepare":
        current = boundaries.import_default(store, settings)
        return "prepare:" + boundaries.display_key(
            current["content_hash"], settings["GAP_WIDTH_M"], settings["SIMPLIFY_M"]
        )
    return f"overlay:{params['old']}:{params['new']}:{params['min_share']}:{store.revision()}"


def pack_key(
    display_key: str,
    revision: int,
    figures_date: dt.date,
    as_of: dt.date | None,
    options: printmap.ExportOptions,
) -> str:
    """Return the key of a pack: boundary set, data revision, figures' date, as-of, options.

    The web's ``GET /export/pack.pdf`` computes it too, and sends a finished job's file.
    """
    digest = hashlib.sha256(repr(options).encode()).hexdigest()[:16]
    day = as_of.isoformat() if as_of else "now"
    return f"pack:{display_key}:{revision}:{figures_date.isoformat()}:{day}:{digest}"


# -- running a job -------------------------------------------------------------------------------
class _Progress:
    """Writes a job's progress to the store, at most every half second."""

    def __init__(self, store: Store, uid: str):
        self.store = store
        self.uid = uid
        self.last = 0.0
        self.lock = threading.Lock()

    def __call__(self, fraction: float | None = None, message: str | None = None) -> None:
        import time

        now = time.monotonic()
        if now - self.last < 0.5 and fraction not in (None, 1.0):
            return
        self.last = now
        values: dict[str, Any] = {}
        if fraction is not None:
            values["progress"] = max(0.0, min(1.0, float(fraction)))
        if message is not None:
            values["message"] = message[:500]
        if values:
            with self.lock:
                self.store.update_job(self.uid, **values)


def run(store: Store, settings: dict[str, Any], uid: str) -> None:
    """Run job `uid` once (a job not queued any more is left alone), recording its progress,
    its result or its error in the store."""
    job = store.job(uid)
    if job["state"] != "queued":
        LOGGER.info("job %s is %s: not run again", uid, job["state"])
        return
    store.update_job(uid, state="running", started=True)
    progress = _Progress(store, uid)
    try:
        result = _RUNNERS[job["kind"]](store, settings, job["params"], progress)
    except GeoAppError as exc:
        LOGGER.warning("job %s (%s) failed: %s", uid, job["kind"], exc.message)
        store.update_job(uid, state="failed", error=exc.message, finished=True)
        return
    except Exception:
        LOGGER.exception("job %s (%s) failed", uid, job["kind"])
        store.update_job(
            uid,
            state="failed",
            error="an unexpected error occurred; it has been logged",
            finished=True,
        )
        return
    body, name, mimetype, message = result
    store.update_job(
        uid,
        state="done",
        progress=1.0,
        message=message,
        result=body,
        result_name=name,
        result_type=mimetype,
        finished=True,
    )
    LOGGER.info("job %s (%s) done: %s", uid, job["kind"], message)


def _pack_source(
    store: Store, settings: dict[str, Any], params: dict[str, Any], kind: str = "pack"
) -> tuple[registry.Source, printmap.ExportOptions, dt.date | None]:
    """Return what a pack (or map) job draws (as the web and the command line read it), its
    options and its as-of day."""
    output = registry.get(kind)
    fmt = "pdf" if kind == "pack" else str(params.get("format") or "png")
    options = output.parse({k: v for k, v in params.items() if k not in ("as_of", "format")}, fmt)
    as_of = dt.date.fromisoformat(params["as_of"]) if params.get("as_of") else None
    display = boundaries.active_display(store, settings)
    reader = ReadModel(store, settings["DIVISION"])
    view = reader.view(list(display.units["code"]), as_of, programme=options.programme)

    def own_units():
        current = store.boundary_set(settings["DIVISION"])
        return boundaries.stored_set(store, current).units

    label = registry.source_label(settings)
    source = registry.Source(view, display.units, display.key, own_units, label, reader)
    return source, options, as_of


def _run_pack(store: Store, settings: dict[str, Any], params: dict[str, Any], progress):
    progress(0.0, "pack: reading the records")
    source, options, _as_of = _pack_source(store, settings, params)

    def pages(done: int, total: int) -> None:
        progress(done / total, f"pack: page {done} of {total}")

    body = registry.render_pack(source, options, progress=pages)
    name = registry.get("pack").file_name(source, options)
    return body, name, printmap.MIME_TYPES["pdf"], f"{name}: {len(body)} bytes"


def _run_map(store: Store, settings: dict[str, Any], params: dict[str, Any], progress):
    progress(0.0, "map: reading the records")
    source, options, _as_of = _pack_source(store, settings, params, "map")
    progress(0.2, "map: drawing")
    output = registry.get("map")
    body = output.render(source, options)
    name = output.file_name(source, options)
    return body, name, output.formats[options.fmt], f"{name}: {len(body)} bytes"


def _run_prepare(store: Store, settings: dict[str, Any], params: dict[str, Any], progress):
    steps = iter((0.05, 0.1, 0.6, 0.95))

    def say(message: str) -> None:
        progress(next(steps, None), message)

    display = boundaries.active_display(store, settings, say, compute=True)
    st = display.stats
    message = f"{len(display.units)} units ready for display"
    if "vertices_display" in st:
        message += f" ({st.get('vertices_source')} → {st['vertices_display']} vertices)"
    return None, None, None, message


def _run_overlay(store: Store, settings: dict[str, Any], params: dict[str, Any], progress):
    new = params.get("new") or settings["DIVISION"]
    progress(0.1, f"overlay {params['old']} → {new}")
    pairs, how = divisions.overlay(store, params["old"], new, settings, params["min_share"])
    store.save_crosswalk(params["old"], new, pairs, actor="job", source=f"job:overlay:{how}")
    split = len({p["old_code"] for p in pairs if p["split"]})
    return (
        None,
        None,
        None,
        f"crosswalk {params['old']} → {new}: {len(pairs)} pairs, {split} split ({how})",
    )


_RUNNERS = {
    "pack": _run_pack,
    "prepare": _run_prepare,
    "overlay": _run_overlay,
    "map": _run_map,
}
