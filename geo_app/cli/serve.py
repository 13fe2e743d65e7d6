"""`geo-app serve`: the web app under gunicorn (or Flask's development server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import click

from geo_app.cli.common import Context, Ticker, fail, pass_ctx
from geo_app.errors import GeoAppError
from geo_app.geodata import boundaries


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes (each serves 4 threads).",
)
@click.option("--dev", is_flag=True, help="Run Flask's development server instead (debugging).")
@click.option(
    "--job-workers",
    default=1,
    show_default=True,
    type=click.IntRange(0, 16),
    help="Threads of the background job worker started beside the server (0: none; run "
    "`geo-app jobs worker` elsewhere).",
)
@pass_ctx
def serve(ctx: Context, host: str, port: int, workers: int, dev: bool, job_workers: int) -> None:
    """Serve the map and API on the configured data under gunicorn (production WSGI server)."""
    try:  # the database must answer before any worker starts
        ctx.store.schema_revision()
    except GeoAppError as exc:
        fail(exc, False)
    ticker = Ticker()
    try:  # requests never prepare geometry: do it now, with progress, if it is not cached
        display = boundaries.prepare_from_settings(ctx.settings, progress=ticker, store=ctx.store)
    except GeoAppError as exc:
        ticker.close()
        fail(exc, False)
    ticker.close()
    click.echo(
        f"{len(display.units)} units ready for display; serving on http://{host}:{port}/",
        err=True,
    )
    worker = _start_job_worker(job_workers) if job_workers else None
    try:
        if dev:
            from geo_app import create_app

            # stop on SIGTERM through `finally` (the job worker with it), as gunicorn does
            signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))
            app = create_app(warm=True)
            app.run(host=host, port=port, debug=False, use_reloader=False)
            return
        _run_gunicorn(host, port, workers)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


def _start_job_worker(threads: int) -> subprocess.Popen:
    """Start `geo-app jobs worker` beside the server (same settings, its own process)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "geo_app.cli",
            "jobs",
            "worker",
            "--threads",
            str(threads),
            "--parent-pid",
            str(os.getpid()),
        ]
    )


def _run_gunicorn(host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    from geo_app import create_app

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 60,
        "graceful_timeout": 20,
        # keep idle connections longer than clients (and nginx) pause between requests: a
        # request sent on a connection the server has just closed is reset
        "keepalive": 30,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "geo-app",
        "control_socket_disable": True,  # no socket in the home folder; signals suffice
    }

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(warm=True)  # each worker renders the map before its first request

    Server().run()
