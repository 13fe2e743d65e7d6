"""Run `geo-app` with the app's clock started at a given instant (for tests only).

    python tests/frozen_cli.py 2026-11-30T20:00:00+00:00 serve --port 8123

The clock moves on from that instant (time-machine, ``tick=True``), in this process and in
the workers it forks, so a test can run a real server at the hour it needs, whatever the hour
of the machine.
"""

from __future__ import annotations

import sys

import time_machine

from geo_app.cli import main

if __name__ == "__main__":
    instant, *args = sys.argv[1:]
    with time_machine.travel(instant, tick=True):
        main(args, prog_name="geo-app")
