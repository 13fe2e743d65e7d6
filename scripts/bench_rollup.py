"""Time the roll-up of former units against reading the current division's records alone.

Usage: .venv/bin/python scripts/bench_rollup.py [--runs N]

Sets up a temporary SQLite store with both bundled sample files (62 records of the 2025 units,
38 of the 2024 units) and the shared 2024 → 2025 crosswalk (558 pairs), then times, alternating:

* the baseline: ``store.records("2025")``, what the views read before the roll-up;
* the roll-up: ``store.standing("2025").statuses(codes)`` (own records, the crosswalk, the
  2024 records, and the gravest status of every unit), what the views read now, once per data
  revision;
* the same on a past day (``as_of``), rebuilt from the history of both divisions.

Medians are printed with their ratio to the baseline (the machines are shared and noisy).
Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo_app import config  # noqa: E402
from geo_app.geodata import boundaries  # noqa: E402
from geo_app.io import importer  # noqa: E402
from geo_app.store import Store  # noqa: E402

CROSSWALK = "crosswalk_2024units_to_2025_vietnamadminunits.csv"


def setup(folder: Path) -> tuple[Store, list[str]]:
    settings = config.load()
    store = Store(f"sqlite:///{folder / 'bench.sqlite3'}")
    store.upgrade()
    units = boundaries.load(settings["BOUNDARIES"]).units
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(store, sample.read_bytes(), sample.name, importer.unit_refs(units))
    new = [
        {"code": c, "name": n, "kind": k}
        for c, n, k in zip(units["code"], units["name"], units["kind"], strict=True)
    ]
    old, pairs = boundaries.read_crosswalk(Path(settings["BOUNDARIES"]) / CROSSWALK, new)
    store.save_division(
        "2024", old, valid_from=None, valid_to=dt.date(2025, 6, 30), source="bench", actor="bench"
    )
    store.save_crosswalk("2024", "2025", pairs, actor="bench", source="bench")
    old_sample = config.SAMPLE_DIR / "status_sample_2024.csv"
    refs = [importer.UnitRef(u["code"], u["name"], u["kind"]) for u in old]
    importer.run_import(store, old_sample.read_bytes(), old_sample.name, refs, division="2024")
    return store, [str(c) for c in units["code"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, codes = setup(Path(tmp))
        day = dt.date(2024, 6, 30)
        cases = {
            "records (baseline)": lambda: store.records("2025"),
            "roll-up, now": lambda: store.standing("2025").statuses(codes),
            "roll-up, as of 2024-06-30": lambda: store.standing("2025", day).statuses(codes),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, run in cases.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        base = statistics.median(times["records (baseline)"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:<28} {med * 1000:7.2f} ms  {med / base:5.1f}× baseline")
        shown = store.standing("2025").statuses(codes)
        listed = sum(1 for s in shown.values() if s != "not_listed")
        print(f"units listed: {len(store.records('2025'))} own records → {listed} with the roll-up")
        store.dispose()


if __name__ == "__main__":
    main()
