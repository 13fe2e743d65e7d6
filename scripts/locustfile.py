"""Load of officers before a provincial conference: log in, open the map, read records and the
figures, and now and then edit an assigned unit. Run by scripts/load.py (or by hand:
`locust -f scripts/locustfile.py --headless -u 50 -r 25 -t 60s --host URL`).

Users are load01..loadNN with password LOAD_PASSWORD; user i may edit the unit in
LOAD_CODES[i-1] (made by scripts/load.py). When all LOAD_USERS users have logged in, the
seconds since the start and the failed requests so far are written to LOAD_LOGIN_FILE, and with
LOAD_RESET_AFTER_LOGIN=1 the statistics start again from there (capacity is measured without
the burst of logins).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import time
from pathlib import Path

from locust import HttpUser, between, constant, events, task

from geo_app import clock

PASSWORD = os.environ.get("LOAD_PASSWORD", "load-test-password")
CODES = [c for c in os.environ.get("LOAD_CODES", "").split(",") if c]
ALL_CODES = [c for c in os.environ.get("LOAD_ALL_CODES", "").split(",") if c] or CODES
USERS = int(os.environ.get("LOAD_USERS", "0"))
LOGIN_FILE = os.environ.get("LOAD_LOGIN_FILE", "")
RESET_AFTER_LOGIN = os.environ.get("LOAD_RESET_AFTER_LOGIN") == "1"
_numbers = itertools.count(1)
_logged_in = itertools.count(1)
_started = [time.perf_counter()]
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


@events.test_start.add_listener
def _on_test_start(**_kwargs) -> None:
    _started[0] = time.perf_counter()


class Officer(HttpUser):
    # people pause between clicks; LOAD_WAIT=0 sends requests back to back (capacity)
    wait_time = constant(0) if os.environ.get("LOAD_WAIT") == "0" else between(0.5, 2.0)

    def on_start(self) -> None:
        n = next(_numbers)
        self.username = f"load{n:02d}"
        self.code = CODES[n - 1] if n <= len(CODES) else None
        page = self.client.get("/login", name="/login")
        m = _TOKEN.search(page.text)
        token = (m.group(1) or m.group(2)) if m else ""
        with self.client.post(
            "/login",
            data={"username": self.username, "password": PASSWORD, "csrf_token": token},
            name="/login",
            allow_redirects=False,
            catch_response=True,
        ) as r:
            if r.status_code != 302:
                r.failure(f"login failed: {r.status_code}")
        self.csrf = self.client.get("/api/me", name="/api/me").json()["csrf_token"]
        if next(_logged_in) == USERS:  # the last one in
            stats = self.environment.runner.stats
            failed = stats.total.num_failures  # kept when the statistics start again
            if RESET_AFTER_LOGIN:
                stats.reset_all()
            if LOGIN_FILE:
                seconds = time.perf_counter() - _started[0]
                Path(LOGIN_FILE).write_text(f"{seconds:.3f} {failed}\n")

    @task(4)
    def open_map(self) -> None:
        self.client.get("/", name="/")

    @task(4)
    def summary(self) -> None:
        self.client.get("/api/summary", name="/api/summary")

    @task(6)
    def details(self) -> None:
        self.client.get(f"/api/communes/{random.choice(ALL_CODES)}", name="/api/communes/<code>")

    @task(1)
    def edit(self) -> None:
        if not self.code:
            return
        record = self.client.get(f"/api/communes/{self.code}", name="/api/communes/<code>").json()
        current = (record.get("record") or {}).get("status")
        new = "in_progress" if current == "hotspot" else "hotspot"
        self.client.post(
            f"/api/communes/{self.code}/status",
            json={
                "status": new,
                "effective_on": clock.today().isoformat(),
                "note": f"load test edit by {self.username}",
                "version": (record.get("record") or {}).get("version"),
            },
            headers={"X-CSRFToken": self.csrf},
            name="/api/communes/<code>/status",
        )
