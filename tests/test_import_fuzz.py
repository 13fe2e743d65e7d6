"""Property tests: whatever bytes or cells arrive, the importer raises only its own error
and never writes on error."""

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_app.errors import ImportFailed
from geo_app.io.importer import HEADERS, run_import
from geo_app.store import Store

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory):
    s = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.sqlite3'}")
    s.upgrade()
    yield s
    s.dispose()


def state(store):
    return store.count(), store.history_count(), store.revision()


def attempt(store, units, data, filename):
    before = state(store)
    try:
        result = run_import(store, data, filename, units, dry_run=False)
    except ImportFailed as exc:
        assert exc.details, "an import error must list its problems"
        assert state(store) == before
        return None
    return result


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".csv", ".xlsx", ".txt", ".ods"]))
def test_random_bytes_only_raise_the_import_error(fuzz_store, units, data, suffix):
    attempt(fuzz_store, units, data, "random" + suffix)


cell = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "16522",
            "16417",
            "99999",
            "hotspot",
            "Đã chuyển hóa",
            "31/02/2023",
            "2023-05-19",
            "Phường",
            "Quảng Phú",
            "Xã",
            "",
            "relapsed",
        ]
    ),
)
row = st.lists(cell, min_size=0, max_size=len(HEADERS) + 2)


@FUZZ
@given(
    header=st.lists(st.sampled_from(list(HEADERS) + ["Mã", "x", ""]), max_size=12),
    rows=st.lists(row, max_size=6),
)
def test_random_cells_only_raise_the_import_error(fuzz_store, units, header, rows):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    result = attempt(fuzz_store, units, buf.getvalue().encode("utf-8"), "cells.csv")
    if result is not None:
        assert result.rows == result.created + result.updated + result.unchanged
