"""Blocks beside the map: legend, figures, subtitle; the unit panel with record, neighbours."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from geo_app.core.names import full_name, search_key
from geo_app.core.programme import NOT_LISTED, Programme
from geo_app.core.records import OUTLINE_COLOR, Record
from geo_app.i18n import format_date
from geo_app.outputs.printmap.furniture import (
    MARKS,
    _inset,
    _marks,
)
from geo_app.outputs.printmap.layout import (
    INK,
    MM_PER_PT,
    MUTED,
    PROVINCE_LINE,
    MapData,
    _Flow,
    _Geometry,
    _Page,
    _panel_axes,
    _pct,
)
from geo_app.outputs.printmap.options import (
    ExportOptions,
    _texts,
)

LOGGER = logging.getLogger(__name__)


def _legend_block(flow: _Flow, data: MapData, options: ExportOptions, counts: bool, area: bool):
    t = _texts(options)
    summ = data.summary()
    entries: list[tuple[str, str, int]] = []
    flow.line(t["legend"], 9.0, weight="bold", right=t["legend_counts"] if counts else None)
    if counts and flow.ax.texts:
        flow.ax.texts[-1].set_fontweight("normal")
        flow.ax.texts[-1].set_fontsize(6.5 * flow.page.s)
        flow.ax.texts[-1].set_color(MUTED)
    flow.space(0.8)
    for st in options.prog.statuses:
        n = int(summ["counts"][st.code])
        entries.append((st.code, st.label(options.lang), n))
        flow.swatch(st.code, st.label(options.lang), 8.2, right=str(n) if counts else None)
    flow.space(0.6)
    flow.line_sample(t["province_line"], 7.2, 1.1 * flow.page.s, PROVINCE_LINE)
    flow.line_sample(t["commune_line"], 7.2, 0.5, OUTLINE_COLOR)
    for name, codes in _marks(data, options).items():  # only the outlines this map draws
        if codes:
            style = MARKS[name]
            label = t[f"mark_{name}"].format(
                n=len(codes), date=_since_text(options), days=options.prog.soon_days
            )
            flow.line_sample(
                label,
                7.2,
                style["linewidth"] * flow.page.s,
                style["edgecolor"],
                style["linestyle"],
            )
    if area:
        flow.line_sample(t["chosen_line"], 7.2, 2.0 * flow.page.s, INK)
    return entries, summ


def _figures_block(flow: _Flow, summ: dict[str, Any], options: ExportOptions) -> None:
    t = _texts(options)
    lang = options.lang
    flow.line(t["figures"], 9.0, weight="bold")
    flow.space(0.5)
    flow.wrapped(t["listed"].format(listed=summ["listed"], units=summ["units"]), 7.8)
    head = summ["headline"]
    flow.wrapped(t["done"].format(n=head["n"], of=head["total"], pct=_pct(head["pct"], lang)), 7.8)
    flow.bar(head["pct"] / 100.0, head["status"])
    flow.wrapped(t["target"], 7.0, color=MUTED)


def _since_text(options: ExportOptions) -> str:
    return format_date(options.since, options.lang) if options.since else ""


def _subtitle(data: MapData, options: ExportOptions, geo: _Geometry, chosen: list[int]) -> str:
    t = _texts(options)
    text = t["as_of"].format(date=format_date(data.figures_date, options.lang))
    if options.since is not None and data.changes is not None:
        text += "  ·  " + t["since"].format(
            date=_since_text(options), n=len(data.changes["changes"])
        )
    if chosen:
        if len(chosen) == 1:
            i = chosen[0]
            area = t["area_one"].format(name=full_name(geo.kinds[i], geo.names[i]))
        else:
            area = t["area_many"].format(n=len(chosen))
        text += "  ·  " + area
    return text


def _panel(
    page: _Page,
    data: MapData,
    options: ExportOptions,
    geo: _Geometry,
    box: tuple[float, float, float, float],
    chosen: list[int],
    neighbours: list[int],
    statuses: Mapping[str, str],
    unit_page: bool,
    view,
    cands: Sequence[tuple[int, str, float, str, str]],
    shown: Sequence[str],
) -> list[tuple[str, str, int]]:
    """Fill the panel beside (landscape) or below (portrait) the map; return the legend rows.

    Landscape: one column, the inset locator at its foot. Portrait: two columns (legend,
    figures), three with an inset (area maps and pack pages).
    """
    px, py, pw, ph = box
    s = page.s
    t = _texts(options)
    pax = _panel_axes(page, px, py, pw, ph)
    portrait = options.orientation == "portrait"
    ncols = (3 if chosen else 2) if portrait else 1
    col_gap = 6.0 * s
    col_w = (pw - col_gap * (ncols - 1)) / ncols
    cols = [_Flow(pax, page, k * (col_w + col_gap), ph, col_w, 0.0) for k in range(ncols)]
    inset: tuple[float, float, float, float] | None = None  # x, y, w, h in panel mm
    title_h = 7.0 * s * MM_PER_PT * 1.6
    if chosen:
        if portrait:
            iw = col_w
            ih = min(ph - title_h - 1.0 * s, iw * 1.1)
            inset = (pw - iw, ph - title_h - ih, iw, ih)
        elif unit_page:
            iw = pw * 0.42
            ih = min(iw * 1.1, ph * 0.3)
            inset = (pw - iw, 0.0, iw, ih)
        else:
            iw = pw
            ih = min(pw * 0.72, ph * 0.32)
            inset = (0.0, 0.0, iw, ih)
    legend: list[tuple[str, str, int]]
    if unit_page:
        first = cols[0]
        if portrait:
            second = cols[1]
        else:
            bottom_h = inset[3] + title_h + 2.0 * s if inset else 0.0
            legend_h = (9.0 * 1.7 * MM_PER_PT + 5 * 4.4 + 2.0) * s
            first.bottom = max(bottom_h, legend_h) + 4.0 * s
            legend_w = pw - (inset[2] + 4.0 * s if inset else 0.0)
            second = _Flow(pax, page, 0.0, max(bottom_h, legend_h), legend_w, 0.0)
        _record_block(first, data, options, geo, chosen[0])
        _neighbours_block(second if portrait else first, options, geo, neighbours, statuses)
        if portrait:
            second.space(3.0)
        legend = _compact_legend(second, data, options)
    else:
        legend, summ = _legend_block(cols[0], data, options, counts=True, area=bool(chosen))
        if inset and not portrait:
            cols[0].bottom = inset[3] + title_h + 4.0 * s
        target = cols[1] if portrait else cols[0]
        if not portrait:
            target.space(3.5)
        _figures_block(target, summ, options)
        target.space(2.0)
        chosen_codes = {geo.codes[i] for i in chosen}
        total = sum(1 for c in cands if c[4] == INK and geo.codes[c[0]] not in chosen_codes)
        n_shown = sum(1 for c in shown if c not in chosen_codes)
        target.wrapped(
            t["labels_note"].format(shown=min(n_shown, total), total=total), 6.2, color=MUTED
        )
    if inset is not None:
        ix, iy, iw, ih = inset
        pax.text(
            ix,
            iy + ih + 1.2 * s,
            t["location"],
            fontsize=7.0 * s,
            fontweight="bold",
            color=INK,
            va="bottom",
            parse_math=False,
        )
        _inset(page, geo, px + ix, py + iy, iw, ih, view)
    for art in [*pax.patches, *pax.lines, *pax.texts]:  # strokes on the edge stay whole
        art.set_clip_on(False)
    return legend


def _compact_legend(flow: _Flow, data: MapData, options: ExportOptions):
    """Draw the status swatches without counts (pack unit pages); return the legend rows."""
    t = _texts(options)
    counts = data.summary()["counts"]
    flow.line(t["legend"], 7.6, weight="bold")
    flow.space(0.3)
    rows = []
    for st in options.prog.statuses:
        rows.append((st.code, st.label(options.lang), int(counts[st.code])))
        flow.swatch(st.code, st.label(options.lang), 6.8, row=4.4, box=(6.5, 3.4))
    return rows


def _record_block(
    flow: _Flow, data: MapData, options: ExportOptions, geo: _Geometry, i: int
) -> None:
    t = _texts(options)
    code = geo.codes[i]
    rec = data.record(code)
    own = rec.status if rec is not None else NOT_LISTED
    former = data.standing.former_units(code)
    status = data.standing.statuses([code])[code]
    flow.line(t["record"], 9.0, weight="bold")
    flow.space(0.5)
    prog = options.prog
    flow.swatch(status, prog.label(status, options.lang), 9.0, weight="bold")
    if status != own:  # the colour comes from a former unit's record
        flow.wrapped(t["own"].format(status=prog.label(own, options.lang)), 6.6, color=MUTED)
    flow.space(1.0)
    key_w = 28.0
    flow.pair(t["code"], code, key_w)
    if rec is not None:
        for f in prog.fields:  # the programme's fields, as its definition gives them
            value = rec.get(f.name)
            name = f.print_label(options.lang)
            if f.type == "date":
                flow.pair(name, format_date(value, "vi") or t["none"], key_w)
            elif f.type == "list":
                flow.pair(name, "\n".join(value[:6]) or t["none"], key_w, bullets=True)
            elif f.type == "text":
                flow.pair(name, value or t["none"], key_w)
            elif value not in (None, ""):  # long text and numbers only when given
                flow.pair(name, f.to_text(value), key_w)
    flow.space(2.0)
    if former and not flow.full:
        flow.line(t["former"].format(n=len(former)), 7.6, weight="bold")
        flow.space(0.3)
        for pair, old in former:
            old_rec = getattr(old, "record", old)
            st = old_rec.status if old_rec is not None else NOT_LISTED
            name = full_name(pair.get("kind", ""), pair.get("name", "")) or pair["old_code"]
            title = f"{name} ({pair['old_division']}: {pair['old_code']})"
            if not flow.swatch(st, title, 7.0, row=4.6, box=(6.5, 3.4)):
                break
            split = t["split"] if pair.get("split") else ""
            line = t["former_line"].format(status=prog.label(st, options.lang), split=split)
            dated = _former_date(prog, old_rec, options.lang)
            if dated is not None:
                line += f" · {dated[0]} {format_date(dated[1], 'vi')}"
            if not flow.wrapped(line, 6.2, indent=9.1, color=MUTED, max_lines=2):
                break
        flow.space(2.0)


def _former_date(prog: Programme, rec: Record | None, lang: str) -> tuple[str, dt.date] | None:
    """Return the date a former unit's line shows, with its label: the latest of the fields
    that date a status (hotspot: transformed_on, else designated_on) that it has."""
    if rec is None:
        return None
    names = [f.name for f in prog.fields if any(s.dated_by == f.name for s in prog.statuses)]
    for name in reversed(names):
        if rec.get(name):
            return prog.field(name).print_label(lang), rec.get(name)
    return None


def _neighbours_block(
    flow: _Flow,
    options: ExportOptions,
    geo: _Geometry,
    neighbours: Sequence[int],
    statuses: Mapping[str, str],
) -> None:
    t = _texts(options)
    if neighbours and not flow.full:
        flow.line(t["neighbours"].format(n=len(neighbours)), 7.6, weight="bold")
        flow.space(0.3)
        order = sorted(neighbours, key=lambda j: search_key(geo.names[j]))
        items = [(statuses[geo.codes[j]], full_name(geo.kinds[j], geo.names[j])) for j in order]
        flow.grid(items, 6.6, t["more"])
