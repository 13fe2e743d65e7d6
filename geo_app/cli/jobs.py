"""`geo-app jobs`: start background jobs, follow them, fetch their results, run a worker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from geo_app import jobs
from geo_app.cli.common import Context, fail, pass_ctx
from geo_app.errors import GeoAppError

#: Seconds between two looks at a job being followed.
POLL = 0.5


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs: briefing packs, display preparation, overlays."""


def _line(job: dict) -> str:
    pct = f"{100 * job['progress']:3.0f} %"
    text = job["error"] if job["state"] == "failed" else job["message"]
    return f"{job['id']}  {job['kind']:<8} {job['state']:<8} {pct}  {text}".rstrip()


def _follow(ctx: Context, uid: str, timeout: float | None = None) -> dict:
    """Print a job's progress until it is done or failed; return it."""
    end = None if timeout is None else time.monotonic() + timeout
    shown = None
    while True:
        job = ctx.store.job(uid)
        line = _line(job)
        if line != shown:
            click.echo(line, err=True)
            shown = line
        if job["state"] in ("done", "failed"):
            return job
        if end is not None and time.monotonic() > end:
            raise GeoAppError(f"job {uid} is still {job['state']} after {timeout:g} s")
        time.sleep(POLL)


@jobs_group.command("start")
@click.argument("kind", type=click.Choice(jobs.KINDS))
@click.option("--param", "params", multiple=True, help="NAME=VALUE, e.g. lang=en, area=16522.")
@click.option("--wait", is_flag=True, help="Follow the job until it ends (progress shown).")
@click.option("--out", type=click.Path(path_type=Path), help="With --wait: write the result here.")
@pass_ctx
def jobs_start(ctx: Context, kind: str, params: tuple[str, ...], wait: bool, out) -> None:
    """Queue a job (pack, prepare, overlay) and print its id; a worker runs it."""
    values: dict = {}
    try:
        for p in params:
            name, sep, value = p.partition("=")
            if not sep or not name:
                raise GeoAppError(f"--param {p!r}: write NAME=VALUE")
            if name == "area":
                values.setdefault("area", []).append(value)
            else:
                values[name] = value
        queue = jobs.Queue(ctx.settings, ctx.store)
        job = queue.submit(kind, values, "cli")
        click.echo(job["id"])
        if wait:
            job = _follow(ctx, job["id"])
            if job["state"] == "failed":
                raise GeoAppError(f"job {job['id']} failed: {job['error']}")
            if out is not None:
                _write_result(ctx, job["id"], out)
    except GeoAppError as exc:
        fail(exc, False)


@jobs_group.command("show")
@click.argument("uid")
@click.option("--follow", is_flag=True, help="Follow the job's progress until it ends.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as one JSON object.")
@pass_ctx
def jobs_show(ctx: Context, uid: str, follow: bool, as_json: bool) -> None:
    """Show a job's state, progress and message (started on any server)."""
    try:
        job = _follow(ctx, uid) if follow else ctx.store.job(uid)
    except GeoAppError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps(job, ensure_ascii=False, indent=2))
    elif not follow:
        click.echo(_line(job))
    if job["state"] == "failed":
        raise SystemExit(1)


@jobs_group.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@pass_ctx
def jobs_list(ctx: Context, limit: int) -> None:
    """List the newest jobs."""
    try:
        for job in ctx.store.jobs(limit=limit):
            click.echo(_line(job))
    except GeoAppError as exc:
        fail(exc, False)


def _write_result(ctx: Context, uid: str, out: Path) -> None:
    body, name, _mimetype = ctx.store.job_result(uid)
    target = out / name if out.is_dir() else out
    target.write_bytes(body)
    click.echo(f"{target}: {len(body)} bytes", err=True)


@jobs_group.command("fetch")
@click.argument("uid")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="File (or folder) to write."
)
@pass_ctx
def jobs_fetch(ctx: Context, uid: str, out: Path) -> None:
    """Write the file a finished job made."""
    try:
        _write_result(ctx, uid, out)
    except GeoAppError as exc:
        fail(exc, False)


def _exit_with_parent(parent: int) -> None:
    """Stop this worker (as SIGTERM would) once process `parent`, which started it, is gone."""
    import os
    import signal
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


@jobs_group.command("worker")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 16))
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    hidden=True,
    help="Stop when this process, which started the worker, ends (what `geo-app serve` asks).",
)
@pass_ctx
def jobs_worker(ctx: Context, threads: int, parent_pid: int | None) -> None:
    """Run the queued jobs (Redis when GEO_APP_REDIS_URL is set, else SQLite) until stopped."""
    queue = jobs.Queue(ctx.settings, ctx.store)
    where = ctx.settings["REDIS_URL"] and "Redis" or ctx.settings["JOBS_DB"]
    click.echo(f"job worker on {where} ({queue.huey.name}), {threads} thread(s)", err=True)
    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    queue.worker(threads).run()
