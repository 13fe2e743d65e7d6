"""Time the roll-up of former units against reading the current division's records alone.

Usage: .venv/bin/python scripts/bench_rollup.py [--runs N] [--quick]

Sets up a temporary SQLite store with both bundled sample files (62 records of the 2025 units,
38 of the 2024 units) and the shared 2024 → 2025 crosswalk (558 pairs), then times, alternating:

* the baseline: ``store.records("2025")``, what the views read before the roll-up;
* the roll-up: ``store.standing("2025").statuses(codes)`` (own records, the crosswalk, the
  2024 records, and the gravest status of every unit), what the views read now, once per data
  revision;
* the same on a past day (``as_of``), rebuilt from the history of both divisions.

Medians are printed with their ratio to the baseline (the machines are shared and noisy), as
a Markdown section (see scripts/bench_all.py). Nothing here is a pass/fail test. `--quick`:
3 runs.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from pathlib import Path

from benchlib import command, parser, say, secs, section, settings, table, temporary_folder, times

from geo_app import config
from geo_app.geodata import boundaries
from geo_app.io import importer
from geo_app.store import Store

CROSSWALK = "crosswalk_2024units_to_2025_vietnamadminunits.csv"


def setup(folder: Path) -> tuple[Store, list[str], int]:
    values = settings(folder, quick=True)  # nothing of the display cache is needed
    store = Store(values["DATABASE_URL"])
    store.upgrade()
    units = boundaries.load(values["BOUNDARIES"]).units
    sample = config.SAMPLE_STATUS_FILE
    importer.run_import(store, sample.read_bytes(), sample.name, importer.unit_refs(units))
    new = [
        {"code": c, "name": n, "kind": k}
        for c, n, k in zip(units["code"], units["name"], units["kind"], strict=True)
    ]
    old, pairs = boundaries.read_crosswalk(Path(values["BOUNDARIES"]) / CROSSWALK, new)
    store.save_division(
        "2024", old, valid_from=None, valid_to=dt.date(2025, 6, 30), source="bench", actor="bench"
    )
    store.save_crosswalk("2024", "2025", pairs, actor="bench", source="bench")
    old_sample = config.SAMPLE_DIR / "status_sample_2024.csv"
    refs = [importer.UnitRef(u["code"], u["name"], u["kind"]) for u in old]
    importer.run_import(store, old_sample.read_bytes(), old_sample.name, refs, division="2024")
    return store, [str(c) for c in units["code"]], len(pairs)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=50, help="alternating runs (medians)")
    args = p.parse_args(argv)
    runs = 3 if args.quick else args.runs
    say(f"bench_rollup: {runs} runs")
    with temporary_folder() as tmp:
        store, codes, n_pairs = setup(tmp)
        day = dt.date(2024, 6, 30)
        cases = {
            "records": lambda: store.records("2025"),
            "now": lambda: store.standing("2025").statuses(codes),
            "as of": lambda: store.standing("2025", day).statuses(codes),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, run in cases.items():
                start = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - start)
        med = {name: statistics.median(ts) for name, ts in samples.items()}
        own = len(store.records("2025"))
        old = len(store.records("2024"))
        shown = store.standing("2025").statuses(codes)
        listed = sum(1 for s in shown.values() if s != "not_listed")
        store.dispose()
    base = med["records"]
    print(
        section(
            "Roll-up of former units",
            f"Command: `{command('bench_rollup.py', argv)}` ({runs} alternating runs, medians; "
            f"both sample files ({own} records of 2025 units, {old} of 2024 units) and the "
            f"{n_pairs}-pair crosswalk in a temporary SQLite store).",
            table(
                ["read", "median", "× baseline"],
                [
                    [
                        '`store.records("2025")` (**baseline**: own records only)',
                        secs(base),
                        "1",
                    ],
                    [
                        '`store.standing("2025").statuses(codes)` (own + crosswalk + 2024 '
                        "records, gravest)",
                        secs(med["now"]),
                        times(med["now"] / base),
                    ],
                    [
                        f"the same as of {day.isoformat()} (rebuilt from both histories)",
                        secs(med["as of"]),
                        times(med["as of"] / base),
                    ],
                ],
            ),
            "The roll-up is read once per data revision and day (`geo_app.readmodel`) and kept "
            "in memory with the page, so a warm map page costs the same as without it; the first "
            f"load after a change pays about {secs(med['now'] - base)} more. The sample's {own} "
            f"own records become {listed} listed units once the {old} old-division records are "
            "rolled up.",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
