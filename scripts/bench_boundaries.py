"""Time boundary preparation cold (read + validate + clean + simplify) against the disk cache.

Usage: .venv/bin/python scripts/bench_boundaries.py [PATH ...]
Prints, per boundary set, the median of several runs of each and their ratio (one run, one
machine: the ratio is what to compare), and the vertex counts before and after.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import shapely

from geo_app.config import PROJECT_ROOT
from geo_app.geodata import boundaries

DEFAULT = PROJECT_ROOT.parent / "shared" / "boundaries" / "thanh-hoa-2025"


def bench(path: Path, runs: int) -> None:
    cold: list[float] = []
    warm: list[float] = []
    display = None
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            display = boundaries.prepare(path, cache)
            cold.append(time.perf_counter() - t0)
            for _ in range(3):
                t0 = time.perf_counter()
                boundaries.prepare(path, cache, cached_only=True)
                warm.append(time.perf_counter() - t0)
    source = boundaries.load(path).units.geometry.values
    st = display.stats
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"{path.name}: {st['units']} units")
    print(f"  cold (read+validate+clean+simplify): {c:8.3f} s  (clean {st['seconds_clean']} s)")
    print(f"  cached (hash source + read cache):   {w:8.3f} s")
    print(f"  ratio cold / cached:                 {c / w:8.1f}x")
    print(
        f"  vertices: source {int(shapely.get_num_coordinates(source).sum())}, "
        f"display {st['vertices_display']}"
    )


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or [DEFAULT]
    for p in paths:
        bench(p, runs=3 if "vietnam" not in p.name else 1)
