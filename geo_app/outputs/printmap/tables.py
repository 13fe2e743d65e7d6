"""Table pages of the briefing pack: the list of listed units, the changes in the period, and
the figures per responsible unit. Drawn with matplotlib on the pack's page layout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from geo_app.i18n import format_date
from geo_app.outputs.printmap.blocks import _since_text
from geo_app.outputs.printmap.furniture import _header
from geo_app.outputs.printmap.layout import INK, MUTED, MapData, _Geometry, _new_figure, _panel_axes
from geo_app.outputs.printmap.options import ExportOptions, _texts

#: Column labels of the tables, by language.
LABELS = {
    "vi": {
        "name": "Đơn vị",
        "status": "Trạng thái",
        "deadline": "Thời hạn",
        "target_on": "Hạn",
        "targets": "Chỉ tiêu",
        "unit": "Đơn vị phụ trách",
        "last": "Thay đổi",
        "before": "Trước",
        "after": "Sau",
        "date": "Ngày",
        "source": "Qua",
        "listed": "Trong diện",
        "done": "Đạt",
        "overdue": "Quá hạn",
        "overdue_n": "Quá hạn {n} ngày",
        "left_n": "Còn {n} ngày",
        "met_early": "Đạt sớm",
        "met_late": "Đạt muộn",
        "none": "—",
        "no_change": "Không có đơn vị nào thay đổi trong kỳ.",
        "states": {
            "overdue": "quá hạn",
            "due_soon": "sắp đến hạn",
            "on_track": "đúng tiến độ",
            "met_early": "đạt sớm",
            "met_late": "đạt muộn",
            "none": "không có hạn",
        },
        "period": "Từ {start} đến {end}",
        "sources": {"web": "web", "import": "nhập tệp", "cli": "dòng lệnh", "deadline": "thời hạn"},
    },
    "en": {
        "name": "Unit",
        "status": "Status",
        "deadline": "Deadline",
        "target_on": "Due",
        "targets": "Targets",
        "unit": "Responsible unit",
        "last": "Last change",
        "before": "Before",
        "after": "After",
        "date": "Date",
        "source": "Through",
        "listed": "Listed",
        "done": "Done",
        "overdue": "Overdue",
        "overdue_n": "{n} days overdue",
        "left_n": "{n} days left",
        "met_early": "Met early",
        "met_late": "Met late",
        "none": "—",
        "no_change": "No unit changed in the period.",
        "states": {
            "overdue": "overdue",
            "due_soon": "due soon",
            "on_track": "on track",
            "met_early": "met early",
            "met_late": "met late",
            "none": "no deadline",
        },
        "period": "From {start} to {end}",
        "sources": {
            "web": "web",
            "import": "file import",
            "cli": "command line",
            "deadline": "deadline",
        },
    },
}


@dataclass(frozen=True)
class Column:
    label: str
    width: float  # share of the table's width
    align: str = "left"


def _only(
    columns: list[Column], body: list[list[str]], drop: set[int]
) -> tuple[list[Column], list[list[str]]]:
    """Return the table without the columns at `drop`, the others widened to fill the page."""
    if not drop:
        return columns, body
    kept = [c for i, c in enumerate(columns) if i not in drop]
    total = sum(c.width for c in kept)
    kept = [Column(c.label, c.width / total, c.align) for c in kept]
    return kept, [[v for i, v in enumerate(row) if i not in drop] for row in body]


def deadline_text(deadline: dict[str, Any], lang: str) -> str:
    """Return a deadline as the pack prints it ("Quá hạn 45 ngày", "Còn 12 ngày")."""
    t = LABELS[lang]
    state, days = deadline["state"], deadline["days"]
    if state == "overdue":
        return t["overdue_n"].format(n=-days)
    if state in ("due_soon", "on_track"):
        return t["left_n"].format(n=days)
    if state in ("met_early", "met_late"):
        return t[state]
    return t["none"]


def _day(iso: str | None, lang: str) -> str:
    return format_date(dt.date.fromisoformat(iso), lang) if iso else ""


def summary_table(data: MapData, options: ExportOptions) -> tuple[list[Column], list[list[str]]]:
    """Return the list of listed units: the pack's second page."""
    t, lang, prog = LABELS[options.lang], options.lang, options.prog
    columns = [
        Column(t["name"], 0.22),
        Column(t["status"], 0.17),
        Column(t["deadline"], 0.13),
        Column(t["target_on"], 0.09),
        Column(t["targets"], 0.07, "right"),
        Column(t["unit"], 0.22),
        Column(t["last"], 0.10),
    ]
    rows = sorted(
        data.rows or [],
        key=lambda r: (-prog.gravity(r["status"]), r["deadline"]["days"] or 0, r["name"]),
    )
    body = [
        [
            f"{r['kind']} {r['name']}",
            r["status_label"],
            deadline_text(r["deadline"], lang),
            _day(r["target_on"], lang),
            f"{r['targets_met']}/{r['targets_total']}",
            r["unit"],
            _day(r["last_change"], lang),
        ]
        for r in rows
    ]
    return _only(columns, body, set() if prog.has_deadlines else {2, 3, 4})


def changes_table(data: MapData, options: ExportOptions) -> tuple[list[Column], list[list[str]]]:
    """Return what changed since ``options.since``: the page "Những thay đổi trong kỳ"."""
    t, lang, prog = LABELS[options.lang], options.lang, options.prog
    columns = [
        Column(t["name"], 0.24),
        Column(t["before"], 0.19),
        Column(t["after"], 0.19),
        Column(t["deadline"], 0.14),
        Column(t["date"], 0.11),
        Column(t["source"], 0.13),
    ]
    body = []
    for e in (data.changes or {}).get("changes", []):
        deadline = ""
        if e["deadline_before"] != e["deadline_after"]:  # the font has no arrow: "›"
            states = t["states"]
            deadline = f"{states[e['deadline_before']]} › {states[e['deadline_after']]}"
        body.append(
            [
                f"{e['kind']} {e['name']}",
                prog.label(e["status_before"], lang),
                prog.label(e["status_after"], lang),
                deadline,
                _day(e["date"], lang),
                t["sources"].get(e["source"], e["source"]),
            ]
        )
    return _only(columns, body, set() if prog.has_deadlines else {3})


def by_unit_table(data: MapData, options: ExportOptions) -> tuple[list[Column], list[list[str]]]:
    """Return the figures per responsible unit."""
    t, prog = LABELS[options.lang], options.prog
    done = prog.label(prog.done_status, options.lang) if prog.done_status else t["done"]
    columns = [
        Column(t["unit"], 0.46),
        Column(t["listed"], 0.13, "right"),
        Column(done, 0.15, "right"),
        Column(t["overdue"], 0.12, "right"),
        Column(t["targets"], 0.14, "right"),
    ]
    body = [
        [
            g["unit"] or "—",
            str(g["listed"]),
            str(g["done"]) if prog.done_status else "",
            str(g["overdue"]),
            f"{g['targets_met']}/{g['targets_total']}",
        ]
        for g in data.by_unit or []
    ]
    drop = (set() if prog.done_status else {2}) | (set() if prog.has_deadlines else {3, 4})
    return _only(columns, body, drop)


def rows_per_page(options: ExportOptions) -> int:
    """How many table rows a page holds."""
    return 26 if options.orientation == "landscape" else 40


def page_count(body: Sequence[Sequence[str]], options: ExportOptions) -> int:
    per = rows_per_page(options)
    return max(1, -(-len(body) // per))


def table_pages(
    data: MapData,
    options: ExportOptions,
    geo: _Geometry,
    title: str,
    columns: Sequence[Column],
    body: Sequence[Sequence[str]],
    first_page: int,
    total: int,
    empty: str = "",
) -> list[Figure]:
    """Draw a table over as many pages as it needs; return the figures."""
    texts = _texts(options)
    per = rows_per_page(options)
    chunks = [body[i : i + per] for i in range(0, len(body), per)] or [[]]
    figures = []
    for k, chunk in enumerate(chunks):
        fig, page = _new_figure(options)
        s = page.s
        subtitle = texts["as_of"].format(date=format_date(data.figures_date, options.lang))
        if options.since is not None and data.changes is not None:
            subtitle += "  ·  " + LABELS[options.lang]["period"].format(
                start=_since_text(options),
                end=format_date(data.view.as_of or data.figures_date, options.lang),
            )
        heading = title + (" " + texts["continued"] if k else "")
        bottom, top = _header(
            page,
            options,
            data,
            heading,
            subtitle,
            (first_page + k, total),
            geo,
            kicker=options.title_text,
        )
        margin = 9.0 * s
        width = page.w - 2 * margin
        ax = _panel_axes(page, margin, bottom, width, top - bottom)
        row_h = (top - bottom) / (per + 1.5)
        y = top - bottom - row_h
        x = 0.0
        for col in columns:
            _cell(ax, col, x, y, width, row_h, col.label, s, bold=True)
            x += col.width * width
        ax.plot([0, width], [y - 0.3 * row_h] * 2, color=INK, linewidth=0.8)
        y -= row_h
        if not chunk and empty:
            ax.text(0, y, empty, fontsize=9 * s, color=MUTED, va="center", parse_math=False)
        for n, row in enumerate(chunk):
            if n % 2:
                ax.add_patch(
                    Rectangle(
                        (0, y - 0.5 * row_h), width, row_h, facecolor="#F2F4F7", edgecolor="none"
                    )
                )
            x = 0.0
            for col, value in zip(columns, row, strict=True):
                _cell(ax, col, x, y, width, row_h, value, s)
                x += col.width * width
            y -= row_h
        figures.append(fig)
    return figures


def _cell(
    ax, col: Column, x: float, y: float, width: float, row_h: float, text: str, s, bold=False
):
    """Write one cell, shortened with "…" to fit its column."""
    room = col.width * width - 2.0
    size = 7.4 * s
    chars = max(int(room / (size * 0.19)), 4)  # about 0.19 mm a point per character
    shown = text if len(text) <= chars else text[: chars - 1].rstrip() + "…"
    ax.text(
        x + (col.width * width - 1.0 if col.align == "right" else 1.0),
        y,
        shown,
        fontsize=size,
        fontweight="bold" if bold else "normal",
        color=INK,
        ha="right" if col.align == "right" else "left",
        va="center",
        parse_math=False,
        clip_on=True,
    )
