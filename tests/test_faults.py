"""A process killed during an import leaves the store exactly as before (SQLite, PostgreSQL)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from geo_app.geodata import boundaries
from tests.conftest import VIETNAM

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def national_csv(tmp_path_factory):
    units = boundaries.read(VIETNAM).units
    statuses = ["hotspot", "in_progress", "transformed", "relapsed"]
    lines = ["code,status,notes"]
    lines += [f"{c},{statuses[i % 4]},row {i}" for i, c in enumerate(units["code"])]
    path = tmp_path_factory.mktemp("big") / "national.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(units)


def _start(store, csv_path):
    env = dict(os.environ, GEO_APP_DATABASE_URL=store.url, GEO_APP_BOUNDARIES=str(VIETNAM))
    return subprocess.Popen(
        [sys.executable, "-m", "geo_app.cli", "status", "import", str(csv_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_killed_import_writes_all_or_nothing(store, national_csv):
    csv_path, n = national_csv
    # how long a whole import takes here, to kill the next ones at points inside it
    t0 = time.perf_counter()
    p = _start(store, csv_path)
    out, err = p.communicate(timeout=300)
    full = time.perf_counter() - t0
    assert p.returncode == 0, err.decode()
    assert store.count() == n
    baseline = (store.count(), store.history_count(), store.revision())
    # every later import changes every row (new notes), so a partial write would show
    text = csv_path.read_text(encoding="utf-8").replace(",row ", ",dòng ")
    changed = csv_path.with_name("changed.csv")
    changed.write_text(text, encoding="utf-8")
    outcomes = set()
    for fraction in (0.8, 0.92, 0.98):
        p = _start(store, changed)
        time.sleep(full * fraction)
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        state = (store.count(), store.history_count(), store.revision())
        if state == baseline:
            outcomes.add("before")
        else:
            assert state[0] == n and state[1] == 2 * n, state  # the whole import, once
            notes = {r.record.get("notes") for r in store.records("2025").values()}
            assert all(x.startswith("dòng ") for x in notes)
            outcomes.add("after")
            break
    assert "before" in outcomes
