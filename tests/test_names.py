import unicodedata

import pytest

from geo_app.core.names import canonical_kind, match_key, search_key, split_kind


@pytest.mark.parametrize(
    "a, b",
    [
        ("Hoà", "Hòa"),
        ("Xuân Hoà", "Xuân Hòa"),
        ("Cẩm Thuỷ", "Cẩm Thủy"),
        ("QUẢNG PHÚ", "quảng phú"),
        (unicodedata.normalize("NFD", "Định Hòa"), "Định Hòa"),
        ("  Hoằng   Hóa ", "Hoằng Hoá"),
    ],
)
def test_spellings_of_one_name_share_a_key(a, b):
    assert match_key(a) == match_key(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Đông Tiến", "Đồng Tiến"),  # folded, both are "dong tien"
        ("Quảng Phú", "Quang Phú"),
        ("Hòa", "Hoa"),
        ("Đông", "Dong"),
        ("Hóa", "Hòa"),
    ],
)
def test_different_names_keep_different_keys(a, b):
    assert match_key(a) != match_key(b)


def test_search_key_drops_every_diacritic():
    assert search_key("Phường Quảng Phú") == "phuong quang phu"
    assert search_key("Đồng Tiến") == search_key("Đông Tiến") == "dong tien"


def test_kind_prefix_is_split_off():
    assert split_kind("Phường Quảng Phú") == ("Phường", "Quảng Phú")
    assert split_kind("thị trấn Kim Tân") == ("Thị trấn", "Kim Tân")
    assert split_kind("Quảng Phú") == (None, "Quảng Phú")
    assert split_kind("Xã") == (None, "Xã")
    assert canonical_kind("PHƯỜNG") == "Phường"
    assert canonical_kind("Phuong") is None
