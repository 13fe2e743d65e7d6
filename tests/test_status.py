import datetime as dt

import pytest
from conftest import BY_CODE, HOTSPOT, STATUSES

from geo_app import i18n
from geo_app.core import records


@pytest.mark.parametrize(
    "text, code",
    [
        ("hotspot", "hotspot"),
        ("Trọng điểm, phức tạp", "hotspot"),
        ("TRỌNG ĐIỂM PHỨC TẠP", "hotspot"),
        ("in progress", "in_progress"),
        ("Đang chuyển hoá", "in_progress"),
        ("Đã chuyển hóa", "transformed"),
        ("Phức tạp trở lại", "relapsed"),
        ("Relapsed", "relapsed"),
    ],
)
def test_status_codes_and_labels_parse(text, code):
    assert HOTSPOT.parse_status(text) == code


@pytest.mark.parametrize("text", ["", "Không thuộc diện", "not_listed", "Da chuyen hoa", "x"])
def test_unknown_status_lists_the_accepted_values(text):
    with pytest.raises(ValueError, match="Đã chuyển hóa"):
        HOTSPOT.parse_status(text)


def test_dates():
    assert records.parse_date("19/05/2023") == dt.date(2023, 5, 19)
    assert records.parse_date("2023-5-9") == dt.date(2023, 5, 9)
    assert records.parse_date(dt.datetime(2023, 5, 19, 8)) == dt.date(2023, 5, 19)
    assert records.parse_date(" ") is None
    assert records.parse_date("19.05.2023") == dt.date(2023, 5, 19)  # offices write it so
    assert records.parse_date("5/1/2023") == dt.date(2023, 1, 5)  # day first, always
    for bad in ("29/02/2023", "2023-13-01", "31.04.2023", "May 2023", "12345", 99999):
        with pytest.raises(ValueError):
            records.parse_date(bad)
    assert i18n.format_date(dt.date(2023, 5, 9)) == "09/05/2023"
    assert i18n.format_date(dt.date(2023, 5, 9), "en") == "2023-05-09"


def test_palette_is_fixed_distinct_and_hatches_the_grave_statuses():
    colors = [s.color for s in STATUSES]
    assert len(set(colors)) == len(colors) == 5
    assert {s.code for s in STATUSES if s.hatch} == {"hotspot", "relapsed"}
    assert BY_CODE["not_listed"].label_vi == "Không thuộc diện"


def test_summary_counts_and_percentage():
    fig = HOTSPOT.summary(["transformed", "hotspot", "hotspot", "in_progress"], 166)
    assert fig["listed"] == 4
    assert fig["counts"] == {
        "hotspot": 2,
        "in_progress": 1,
        "transformed": 1,
        "relapsed": 0,
        "not_listed": 162,
    }
    assert fig["transformed_pct"] == 25.0
    assert HOTSPOT.summary([], 10)["transformed_pct"] == 0.0


@pytest.mark.parametrize(
    "statuses, expected",
    [
        (["transformed", "relapsed", "hotspot"], "relapsed"),
        (["transformed", "hotspot", "in_progress"], "hotspot"),
        (["transformed", "in_progress"], "in_progress"),
        (["transformed", "transformed"], "transformed"),
        ([], "not_listed"),
    ],
)
def test_rollup_keeps_the_gravest(statuses, expected):
    assert HOTSPOT.rollup(statuses) == expected
