"""The import template and guide of a programme: its columns as the importer reads them
(`geo_app.io.importer.header_keys`), what each means and accepts, and one example row the
importer accepts. Made from the programme's definition (``programmes/*.toml``), never written
per programme.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from geo_app.core.programme import NOT_LISTED, Programme
from geo_app.io.rows import BASE_HEADERS, VI_HEADERS

#: How the template writes a date (the importer also reads ISO dates and spreadsheet dates).
DATE_FORMAT = "%d/%m/%Y"


@dataclass(frozen=True)
class Column:
    """One column of a programme's status files."""

    key: str  # the English header (the field's name)
    kind: str  # code, name, kind, status, status_since, or the field's type
    label_vi: str
    label_en: str
    headers: tuple[str, ...]  # the other headers the importer accepts (Vietnamese)
    required: str  # "yes", "no", or "code_or_name"
    statuses: list[dict[str, Any]] = field(default_factory=list)
    example: str = ""

    def label(self, lang: str = "vi") -> str:
        return self.label_en if lang == "en" else self.label_vi

    def header(self, lang: str = "vi") -> str:
        """Return the header the template writes: the first Vietnamese one, or the English."""
        return self.headers[0] if lang == "vi" and self.headers else self.key


_BASE_LABELS = {
    "code": ("Mã đơn vị hành chính", "Official unit code"),
    "name": ("Tên đơn vị hành chính", "Unit name"),
    "kind": ("Loại đơn vị (xã, phường)", "Unit kind (commune, ward)"),
    "status": ("Trạng thái", "Status"),
    "status_since": ("Trạng thái từ ngày", "Status since"),
}


def _example_dates(prog: Programme, today: dt.date) -> dict[str, dt.date]:
    """Return a plausible day for each date field: in the past in the fields' order (so a field
    that may not precede another does not), a deadline ahead."""
    days: dict[str, dt.date] = {}
    past = today - dt.timedelta(days=400)
    for f in prog.fields:
        if f.type != "date":
            continue
        if f.ahead:
            days[f.name] = today + dt.timedelta(days=365)
        else:
            days[f.name] = past
            past += dt.timedelta(days=60)
    return days


def example_status(prog: Programme) -> str:
    """Return the status of the example row: the headline's (transformed, drug-free)."""
    return prog.headline_status


def columns(
    prog: Programme, unit: dict[str, str], today: dt.date, lang: str = "vi"
) -> list[Column]:
    """Return the columns of `prog`'s status files, in file order, each with an example value
    (the example row is about `unit`: its code, name and kind).

    Parameters
    ----------
    unit:
        ``code``, ``name`` and ``kind`` of a unit of the current division.
    today:
        The app's today (the example dates are before it, a deadline after it).
    lang:
        The language of the example texts and of the status label written (``vi`` or ``en``).
    """
    days = _example_dates(prog, today)
    status = prog.by_code[example_status(prog)]
    dated = status.dated_by if status.dated_by in days else None
    since = days[dated] if dated else today - dt.timedelta(days=200)
    statuses = [
        {
            "code": s.code,
            "vi": s.label_vi,
            "en": s.label_en,
            "aliases": list(s.aliases),
            "listed": s.listed,
        }
        for s in prog.statuses
        if s.code != NOT_LISTED
    ]
    out: list[Column] = []
    for key in (*BASE_HEADERS, "status_since"):
        vi, en = _BASE_LABELS[key]
        required = "code_or_name" if key in ("code", "name") else "no"
        example = unit.get(key, "")
        if key == "status":
            required = "yes"
            example = status.label(lang)
        elif key == "status_since":
            example = since.strftime(DATE_FORMAT)
        out.append(
            Column(
                key,
                key,
                vi,
                en,
                VI_HEADERS.get(key, ()),
                required,
                statuses if key == "status" else [],
                example,
            )
        )
    for f in prog.fields:
        out.append(
            Column(
                f.name,
                f.type,
                f.label_vi,
                f.label_en,
                f.headers,
                "yes" if f.required else "no",
                example=_example_value(f, days, unit, lang),
            )
        )
    return out


def _example_value(f, days: dict[str, dt.date], unit: dict[str, str], lang: str) -> str:
    if f.type == "date":
        return days[f.name].strftime(DATE_FORMAT)
    if f.type == "number":
        return "0"
    vi = lang != "en"
    if f.type == "list":
        return "Ví dụ 1; ví dụ 2" if vi else "Example 1; example 2"
    return f"{f.label(lang)}: ví dụ" if vi else f"{f.label(lang)}: example"


def template_bytes(cols: list[Column], lang: str = "vi") -> bytes:
    """Return the XLSX template: a header row and the filled example row, every cell text."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "status"
    for j, col in enumerate(cols, start=1):
        head = ws.cell(row=1, column=j, value=col.header(lang))
        head.data_type = "s"
        head.font = Font(bold=True)
        cell = ws.cell(row=2, column=j, value=col.example)
        cell.data_type = "s"
        cell.number_format = "@"
        ws.column_dimensions[head.column_letter].width = max(14, min(48, len(col.header(lang))))
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
