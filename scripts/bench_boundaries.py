"""Time boundary preparation cold (read + validate + clean + simplify) against the disk cache.

    .venv/bin/python scripts/bench_boundaries.py [PATH ...] [--national] [--runs N] [--quick]

Default: the configured boundary set (the Thanh Hóa layer); ``--national`` adds the country
(../shared/boundaries/vietnam-2025, about a minute per cold run). For each set, in the same run:
cold = prepare into an empty cache (what the first start does), cached = hash the source files
and read the cache (what every later start does); medians of `--runs` cold runs (1 for the
country) and of 3 cached reads after each; the ratio cold / cached is the figure to compare.
Prints a Markdown section (see scripts/bench_all.py). Writes only in temporary folders.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import shapely
from benchlib import (
    NATIONAL,
    command,
    configured_boundaries,
    parser,
    say,
    secs,
    section,
    table,
    timed,
    times,
)

from geo_app.geodata import boundaries


def bench(path: Path, runs: int) -> list[str]:
    say(f"bench_boundaries: {path.name}, {runs} cold run(s)")
    cold: list[float] = []
    warm: list[float] = []
    display = None
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            display = boundaries.prepare(path, cache)
            cold.append(time.perf_counter() - t0)
            for _ in range(3):
                warm.append(timed(lambda c=cache: boundaries.prepare(path, c, cached_only=True)))
    assert display is not None
    source = boundaries.load(path).units.geometry.values
    st = display.stats
    c, w = statistics.median(cold), statistics.median(warm)
    return [
        f"`{path.name}`",
        f"{st['units']:,}",
        f"{secs(c)} (clean {secs(float(st['seconds_clean']))})",
        secs(w),
        f"**{times(c / w)}**",
        f"{int(shapely.get_num_coordinates(source).sum()):,} → {int(st['vertices_display']):,}",
    ]


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("paths", nargs="*", type=Path, help="boundary sets (default: configured)")
    p.add_argument("--national", action="store_true", help=f"also {NATIONAL.name}")
    p.add_argument("--runs", type=int, default=3, help="cold runs per set (1 for the country)")
    args = p.parse_args(argv)
    paths = list(args.paths) or [configured_boundaries()]
    if args.national and not args.quick:
        paths.append(NATIONAL)
    runs = 1 if args.quick else args.runs
    rows = [bench(path, 1 if "vietnam" in path.name else runs) for path in paths]
    print(
        section(
            "Boundary preparation",
            f"Command: `{command('bench_boundaries.py', argv)}`. Cold = read with fiona + "
            "validate + repair + `coverage_clean` (100 m) + `coverage_simplify` (150 m) + write "
            "the cache (what the first start on a new boundary file does); cached = hash the "
            "source files + read the cache (what every later start does), the baseline. Median "
            f"of {runs} cold run{'s' if runs > 1 else ''}"
            + (" (1 for the country)" if any("vietnam" in p.name for p in paths) else "")
            + " and of 3 cached reads after each.",
            table(
                [
                    "boundary set",
                    "units",
                    "cold",
                    "cached (baseline)",
                    "cold / cached",
                    "vertices source → display",
                ],
                rows,
            ),
            "Cleaning dominates and runs once per file content; the web app only ever reads "
            "the cache.",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
