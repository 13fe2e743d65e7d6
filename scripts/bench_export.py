"""Time briefing exports against a bare geopandas plot of the same data, in the same run.

Usage: .venv/bin/python scripts/bench_export.py [--runs N] [--pages N]

Sets up a temporary SQLite store holding the bundled sample data (62 listed units) on the
configured boundary set (GEO_APP_BOUNDARIES, default the Thanh Hóa layer), then times:

* the baseline: ``gdf.plot(color=status colours)`` + ``savefig`` of the same units in the same
  metric CRS, as an A4 landscape PNG at 300 dpi (matplotlib Figure + Agg, like the export);
* the export: `geo_app.printmap.render_map` of the province, A4 landscape PNG at 300 dpi (title,
  legend with counts, hatching, labels placed without overlaps, scale bar, north arrow...);
* the same map as PDF and SVG, and a briefing pack of N pages (province + N-1 units).

Baseline and export runs alternate; medians are printed with the ratio export / baseline
(the figure to compare: the machines are shared and noisy). Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # geopandas' plot imports pyplot; never open a window

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from geo_app import config  # noqa: E402
from geo_app.core.records import BY_CODE, OUTLINE_COLOR, join_units  # noqa: E402
from geo_app.geodata import boundaries  # noqa: E402
from geo_app.io import importer  # noqa: E402
from geo_app.outputs import printmap  # noqa: E402
from geo_app.store import Store  # noqa: E402


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each map timing")
    parser.add_argument("--pages", type=int, default=30, help="pages of the timed pack")
    args = parser.parse_args()

    settings = config.load()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        store.upgrade()
        display = boundaries.prepare_from_settings({**settings, "CACHE_DIR": tmp})
        sample = config.SAMPLE_STATUS_FILE
        importer.run_import(
            store, sample.read_bytes(), sample.name, importer.unit_refs(display.units)
        )
        data = printmap.load_data(display, store, "2025", printmap.source_label(settings))
        store.dispose()

    png = printmap.parse_options({"dpi": "300"}, "png")
    width_in, height_in = (v / 25.4 for v in png.page_mm())
    metric = display.units.to_crs(display.units.estimate_utm_crs())
    joined = join_units(metric, data.records)
    colours = [BY_CODE[s].color for s in joined["status"]]

    def bare() -> bytes:
        fig = Figure(figsize=(width_in, height_in))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        joined.plot(ax=ax, color=colours, edgecolor=OUTLINE_COLOR, linewidth=0.25)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=300)
        return buf.getvalue()

    first = _timed(lambda: printmap.render_map(data, png))  # fonts, projection, label points
    bare()
    base_t: list[float] = []
    export_t: list[float] = []
    for _ in range(args.runs):
        base_t.append(_timed(bare))
        export_t.append(_timed(lambda: printmap.render_map(data, png)))
    pdf = printmap.parse_options({}, "pdf")
    svg = printmap.parse_options({}, "svg")
    pdf_t = statistics.median(_timed(lambda: printmap.render_map(data, pdf)) for _ in range(3))
    svg_t = statistics.median(_timed(lambda: printmap.render_map(data, svg)) for _ in range(3))

    codes = printmap.pack_codes(data, pdf)[: max(args.pages - 1, 0)]
    pack_opts = printmap.parse_options({"area": codes}, "pdf")
    pack_bytes = b""

    def pack() -> None:
        nonlocal pack_bytes
        pack_bytes = printmap.render_pack(data, pack_opts)

    pack_t = [_timed(pack) for _ in range(2)]

    b, e = statistics.median(base_t), statistics.median(export_t)
    px = png.pixels()
    print(f"boundary set: {len(display.units)} units; sample records: {len(data.records)}")
    print(f"A4 landscape PNG, 300 dpi ({px[0]}×{px[1]} px), medians of {args.runs} runs:")
    print(f"  bare geopandas plot + savefig:  {b:6.2f} s")
    print(f"  printmap.render_map (province):   {e:6.2f} s   ratio {e / b:4.2f}x")
    print(f"  first export in a process:      {first:6.2f} s   (fonts, projection, label points)")
    print(f"A4 landscape PDF (vector):        {pdf_t:6.2f} s")
    print(f"A4 landscape SVG (glyph paths):   {svg_t:6.2f} s")
    p = statistics.median(pack_t)
    pages = 1 + len(codes)
    print(
        f"briefing pack, {pages} pages (A4 PDF): {p:6.2f} s, {p / pages:4.2f} s/page, "
        f"{len(pack_bytes) / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
