"""Time briefing exports against a bare geopandas plot of the same data, in the same run.

    .venv/bin/python scripts/bench_export.py [--runs N] [--pages N] [--dpi N] [--quick]

Sets up a temporary SQLite store holding the bundled sample data (62 listed units) on the
configured boundary set (GEO_APP_BOUNDARIES, default the Thanh Hóa layer), then times:

* the baseline: ``gdf.plot(color=status colours)`` + ``savefig`` of the same units in the same
  metric CRS, as an A4 landscape PNG at 300 dpi (matplotlib Figure + Agg, like the export);
* the export: `geo_app.outputs.printmap.render_map` of the province, A4 landscape PNG at 300 dpi
  (title, legend with counts, hatching, labels placed without overlaps, scale bar, north
  arrow...);
* the same map as PDF and SVG, and a briefing pack with N-1 unit pages (the province, its
  table pages — the list of listed units and the figures per responsible unit — then the units),
  its data read as the app reads it (`geo_app.outputs.registry.Source.map_data`).

Baseline and export runs alternate; medians are printed with the ratio export / baseline (the
figure to compare: the machines are shared and noisy), as a Markdown section (see
scripts/bench_all.py). Nothing here is a pass/fail test. `--quick`: 1 run, 72 dpi, 1 unit page.
"""

from __future__ import annotations

import io
import statistics
import sys

import matplotlib

matplotlib.use("Agg")  # geopandas' plot imports pyplot; never open a window

from benchlib import (  # noqa: E402
    command,
    load_sample,
    parser,
    say,
    secs,
    section,
    settings,
    table,
    temporary_folder,
    timed,
    times,
)
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from geo_app.core.records import OUTLINE_COLOR  # noqa: E402
from geo_app.geodata import boundaries  # noqa: E402
from geo_app.outputs import printmap, registry  # noqa: E402
from geo_app.readmodel import ReadModel  # noqa: E402
from geo_app.store import Store  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=7, help="runs of each map timing")
    p.add_argument(
        "--pages",
        type=int,
        default=30,
        help="province + unit pages of the timed pack (its table pages come besides)",
    )
    p.add_argument("--dpi", type=int, default=300, help="resolution of the PNGs")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.pages, args.dpi = 1, 2, 72
    say(
        f"bench_export: {args.runs} run(s), {args.dpi} dpi, "
        f"a pack of the province and {max(args.pages - 1, 0)} unit page(s)"
    )

    with temporary_folder() as tmp:
        values = settings(tmp, args.quick)
        store = Store(values["DATABASE_URL"])
        store.upgrade()
        display = boundaries.prepare_from_settings(values)
        load_sample(store, display.units)
        codes = [str(c) for c in display.units["code"]]
        reader = ReadModel(store, values["DIVISION"])
        view = reader.view(codes)
        _ = view.figures, view.shown  # read now: the store goes away with the folder
        source = registry.Source(
            view,
            display.units,
            display.key,
            lambda: display.units,
            registry.source_label(values),
            reader,
        )
        data = source.map_data()
        # the pack's data as the app reads it: its table pages need the list's rows
        pack_opts = printmap.parse_options({}, "pdf")
        areas = printmap.pack_codes(data, pack_opts)[: max(args.pages - 1, 0)]
        pack_opts = printmap.parse_options({"area": areas}, "pdf")
        pack_data = source.map_data(pack_opts, tables=True)
        store.dispose()

    png = printmap.parse_options({"dpi": str(args.dpi)}, "png")
    width_in, height_in = (v / 25.4 for v in png.page_mm())
    metric = display.units.to_crs(display.units.estimate_utm_crs())
    statuses = data.statuses()
    by_code = view.programme.by_code
    colours = [by_code[statuses[str(c)]].color for c in metric["code"]]

    def bare(fmt: str = "png") -> bytes:
        fig = Figure(figsize=(width_in, height_in))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        metric.plot(ax=ax, color=colours, edgecolor=OUTLINE_COLOR, linewidth=0.25)
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=args.dpi)
        return buf.getvalue()

    first = timed(lambda: printmap.render_map(data, png))  # fonts, projection, label points
    bare()
    base_t: list[float] = []
    raw_t: list[float] = []
    export_t: list[float] = []
    for _ in range(args.runs):
        base_t.append(timed(bare))
        export_t.append(timed(lambda: printmap.render_map(data, png)))
        raw_t.append(timed(lambda: bare("rgba")))  # the same drawing, no PNG encoding
    pdf = printmap.parse_options({}, "pdf")
    svg = printmap.parse_options({}, "svg")
    vector_runs = 1 if args.quick else 3
    pdf_t = statistics.median(
        timed(lambda: printmap.render_map(data, pdf)) for _ in range(vector_runs)
    )
    svg_t = statistics.median(
        timed(lambda: printmap.render_map(data, svg)) for _ in range(vector_runs)
    )

    pack_bytes = b""

    def pack() -> None:
        nonlocal pack_bytes
        pack_bytes = printmap.render_pack(pack_data, pack_opts)

    pack_t = statistics.median(timed(pack) for _ in range(1 if args.quick else 2))
    pages = printmap.page_count(pack_data, pack_opts)
    table_pages = pages - 1 - len(areas)

    b, e = statistics.median(base_t), statistics.median(export_t)
    encoding = max(b - statistics.median(raw_t), 0.0)
    px = png.pixels()
    vertices = int(display.stats["vertices_display"])
    print(
        section(
            "Briefing exports",
            f"Command: `{command('bench_export.py', argv)}`. It loads the bundled sample data "
            f"({len(view.listed)} listed units) into a temporary SQLite store on the configured "
            f"layer ({len(display.units)} units, {vertices:,} display vertices) and, alternating "
            "in the same run, times a bare `gdf.plot(color=status colours, edgecolor=...)` + "
            "`savefig` of the same units in the same metric CRS as an A4 landscape PNG at "
            f"{args.dpi} dpi (matplotlib `Figure` + Agg, as the export uses) — the baseline — "
            "and `printmap.render_map` of the province, same size and dpi, with everything a "
            "briefing map carries (title, legend with counts, hatching, labels placed without "
            "overlaps, scale bar, north arrow, marking, sample banner). "
            + (f"Medians of {args.runs} runs" if args.runs > 1 else "One run")
            + (f" ({vector_runs} for PDF and SVG)." if vector_runs > 1 else "."),
            table(
                ["what", "time", "ratio"],
                [
                    [
                        f"bare geopandas `.plot()` + `savefig`, A4 PNG {args.dpi} dpi "
                        f"({px[0]} × {px[1]}) (**baseline**)",
                        secs(b),
                        "1",
                    ],
                    [
                        f"`printmap.render_map`, province, A4 PNG {args.dpi} dpi",
                        secs(e),
                        f"**{times(e / b)}** (target ≤ 2×)",
                    ],
                    [
                        "the first export in a process (fonts, projection, label points)",
                        secs(first),
                        times(first / b),
                    ],
                    [
                        "the same map as PDF (vector) / SVG (glyph outlines)",
                        f"{secs(pdf_t)} / {secs(svg_t)}",
                        f"{times(pdf_t / b)} / {times(svg_t / b)}",
                    ],
                    [
                        f"briefing pack, **{pages} pages** (province + {table_pages} table "
                        f"pages + {len(areas)} unit{'s' if len(areas) != 1 else ''}), A4 PDF",
                        f"**{secs(pack_t)}** ({secs(pack_t / pages)}/page, "
                        f"{len(pack_bytes) / 1e6:.1f} MB)",
                        f"{times(pack_t / pages / b)} per page",
                    ],
                ],
            ),
            f"The PNG encoder (Pillow, default compression) takes about {secs(encoding)} of "
            "the baseline (its `savefig` as PNG against as raw RGBA, same run); the export's "
            "PNG, of the same size, pays about as much, and the rest of its extra time is text "
            "(labels, legend). PNG labels draw their halo in the same pass as their glyphs; PDFs "
            "draw the halo as a separate outline so that their labels stay searchable text. The "
            "web app renders a file once per data revision and serves it from memory "
            "afterwards. Renders in one process take turns (matplotlib's settings are global), "
            "so a long pack delays other exports of the "
            "same worker.",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
