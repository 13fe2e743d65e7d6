"""Time and weigh reading a status workbook, against openpyxl's own read-only read.

Usage: .venv/bin/python scripts/bench_import.py [--rows N] [--runs N] [--quick]

Makes a workbook of N rows (default 20,000, the default GEO_APP_IMPORT_MAX_ROWS) and 10
columns, then times, alternating, the median of --runs reads:

* the baseline: ``openpyxl.load_workbook(read_only=True, data_only=True)`` and every row of
  ``iter_rows(values_only=True)`` (what a lazy reader cannot do with less);
* the importer's read: ``importer.read_table`` (the pre-scan of the sheet's XML, the header
  search, then every row cut to the header's width, merged cells filled down);
* the same two on a dimension bomb: the same workbook's sheet declaring ``A1:XFD1048576``.

Peak memory (tracemalloc) is printed beside each. Ratios are to the baseline; the machines are
shared and noisy, so nothing here is a pass/fail test. ``--quick`` (500 rows, 1 run) is what
the test suite runs, so the script never rots.
"""

from __future__ import annotations

import io
import re
import statistics
import sys
import time
import tracemalloc
import zipfile

import openpyxl
from benchlib import command, parser, say, secs, section, table, times

from geo_app.io import importer


def workbook(rows: int) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["code", "status", "designated_on", "unit", "notes", *[f"x{i}" for i in range(5)]])
    for i in range(rows):
        ws.append(
            [16000 + i % 900, "hotspot", "19/05/2023", "Công an xã", f"ghi chú {i}", *[i] * 5]
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def dimension_bomb(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = re.sub(
                    rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', body
                )
            dst.writestr(info.filename, body)
    return out.getvalue()


def plain(data: bytes) -> int:
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    ws = wb.worksheets[0]
    ws.reset_dimensions()  # without it, the bomb builds every declared row
    n = sum(1 for _ in ws.iter_rows(values_only=True))
    wb.close()
    return n


def ours(data: bytes) -> int:
    table, close = importer.read_table(data, "bench.xlsx")
    try:
        return sum(1 for _ in table.rows)
    finally:
        close()


def measure(fn, data: bytes, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    try:
        fn(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return statistics.median(times), peak / 2**20


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=20_000, help="rows of the workbook")
    p.add_argument("--runs", type=int, default=3, help="alternating reads (medians)")
    args = p.parse_args(argv)
    rows, runs = (500, 1) if args.quick else (args.rows, args.runs)
    data = workbook(rows)
    bomb = dimension_bomb(data)
    say(f"bench_import: {rows:,} rows, {runs} run(s)")
    base = None
    lines = []
    for label, fn, payload in (
        ("openpyxl read-only (**baseline**)", plain, data),
        ("`importer.read_table`", ours, data),
        ("openpyxl read-only, dimension bomb", plain, bomb),
        ("`importer.read_table`, dimension bomb", ours, bomb),
    ):
        seconds, peak = measure(fn, payload, runs)
        base = base or seconds
        lines.append([label, secs(seconds), times(seconds / base), f"{peak:.1f} MB"])
    print(
        section(
            "Reading status workbooks",
            f"Command: `{command('bench_import.py', argv)}` (a workbook of {rows:,} rows × 10 "
            f"columns, {len(data) / 1024:.0f} KB; medians of {runs} alternating reads; peak "
            "memory by tracemalloc). The dimension bomb is the same workbook whose sheet "
            "declares `A1:XFD1048576`.",
            table(["read", "median", "× baseline", "peak memory"], lines),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
