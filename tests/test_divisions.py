"""Two divisions at once: crosswalks, overlay, old-division records, roll-up."""

import pytest
from click.testing import CliRunner

from geo_app.cli import main
from geo_app.core import records
from geo_app.errors import BoundaryError
from geo_app.geodata import boundaries
from tests.conftest import THANH_HOA

CROSSWALK = THANH_HOA / "crosswalk_2024units_to_2025_vietnamadminunits.csv"


@pytest.fixture(scope="module")
def new_units():
    u = boundaries.load(THANH_HOA).units
    return [
        {"code": c, "name": n, "kind": k} for c, n, k in zip(u.code, u.name, u.kind, strict=True)
    ]


def test_the_shared_crosswalk_maps_547_old_units_with_10_split(new_units):
    old, pairs = boundaries.read_crosswalk(CROSSWALK, new_units)
    assert len(old) == 547
    assert len({p["old_code"] for p in pairs if p["split"]}) == 10
    into = {}
    for p in pairs:
        into.setdefault(p["old_code"], set()).add(p["new_code"])
    # the four units DESIGN.md names, in their new units
    assert into["14806"] == {"16522"}  # Phường Quảng Thành → Phường Quảng Phú
    assert into["14803"] == {"16417"}  # Phường Quảng Thắng → Phường Đông Quang
    assert into["16438"] == {"16438"}  # Thị trấn Tân Phong → Xã Lưu Vệ
    assert into["15187"] == {"15187"}  # Thị trấn Kim Tân → Xã Kim Tân
    names = {o["code"]: (o["kind"], o["name"], o["parent"]) for o in old}
    assert names["16438"] == ("Thị trấn", "Tân Phong", "Huyện Quảng Xương")
    assert all(
        len(v) > 1 for k, v in into.items() if any(p["split"] for p in pairs if p["old_code"] == k)
    )


def test_a_crosswalk_naming_unknown_new_units_is_refused(tmp_path, new_units):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "old_code,old_name,new_code,new_name,split\n"
        "1,Xã A,99999,Xã B,False\n2,Xã C,16522,Phường Đông Quang,False\n"
        "3,Xã D,16522,,maybe\n",
        encoding="utf-8",
    )
    with pytest.raises(BoundaryError) as info:
        boundaries.read_crosswalk(bad, new_units)
    assert "row 2: new_code '99999'" in info.value.message
    assert "row 3: new_code 16522 is Phường Quảng Phú" in info.value.message
    assert "row 4: split must be True or False" in info.value.message


def test_overlay_finds_the_same_units_as_the_polygons_say():
    new = boundaries.load(THANH_HOA).units
    # an "old" division: two new units merged into one, and one unit kept as it was
    import geopandas as gpd
    import shapely

    a, b, c = (new.set_index("code").geometry[k] for k in ("16522", "16417", "15187"))
    old = gpd.GeoDataFrame({"code": ["m1", "k1"]}, geometry=[shapely.union(a, b), c], crs=new.crs)
    pairs = boundaries.overlay_crosswalk(old, new)
    got = {(p["old_code"], p["new_code"]): p for p in pairs}
    assert set(got) == {("m1", "16522"), ("m1", "16417"), ("k1", "15187")}
    assert got[("m1", "16522")]["split"] and not got[("k1", "15187")]["split"]
    assert got[("k1", "15187")]["share"] > 0.99


@pytest.mark.parametrize(
    "own, former, expected",
    [
        ({}, {"a": "transformed", "b": "relapsed"}, "relapsed"),
        ({}, {"a": "transformed", "b": "hotspot"}, "hotspot"),
        ({}, {"a": "transformed", "b": "in_progress"}, "in_progress"),
        ({}, {"a": "transformed", "b": "transformed"}, "transformed"),
        ({"N": "transformed"}, {"a": "hotspot"}, "hotspot"),
        ({"N": "relapsed"}, {"a": "transformed"}, "relapsed"),
        ({}, {}, "not_listed"),
    ],
)
def test_rollup_of_former_units(own, former, expected):
    pairs = [{"old_division": "2024", "old_code": k, "new_code": "N"} for k in ("a", "b")]
    statuses = records.rolled_up(
        ["N", "M"], own, pairs, {("2024", k): v for k, v in former.items()}
    )
    assert statuses["N"] == expected
    assert statuses["M"] == "not_listed"


def test_a_split_old_unit_counts_in_every_new_unit_it_went_into():
    pairs = [
        {"old_division": "2024", "old_code": "s", "new_code": "N1"},
        {"old_division": "2024", "old_code": "s", "new_code": "N2"},
        {"old_division": "2024", "old_code": "t", "new_code": "N2"},
    ]
    out = records.rolled_up(
        ["N1", "N2"], {}, pairs, {("2024", "s"): "hotspot", ("2024", "t"): "transformed"}
    )
    assert out == {"N1": "hotspot", "N2": "hotspot"}


@pytest.fixture
def cli(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("GEO_APP_DATABASE_URL", f"sqlite:///{tmp_path / 'd.sqlite3'}")
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", str(cache_dir))
    monkeypatch.setattr("geo_app.config.INSTANCE_DIR", tmp_path / "instance")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    return runner


def test_old_division_records_keep_their_codes(cli, tmp_path):
    from geo_app.store import Store

    r = cli.invoke(
        main,
        ["divisions", "crosswalk", str(CROSSWALK), "--old", "2024", "--valid-to", "2025-06-30"],
    )
    assert r.exit_code == 0, r.output
    assert "547 old units, 558 pairs, 10 split" in r.output
    old = tmp_path / "old.csv"
    old.write_text(
        "code,name,kind,status,transformed_on\n"
        "14806,Quảng Thành,Phường,transformed,2023-04-01\n"
        ",Quảng Thắng,Phường,transformed,2023-04-01\n"
        ",Tân Phong,Thị trấn,transformed,2023-04-01\n"
        "15187,Kim Tân,Thị trấn,transformed,2023-04-01\n"
        "16417,Đông Văn,Xã,hotspot,\n",  # old 16417 is Xã Đông Văn, not Phường Đông Quang
        encoding="utf-8",
    )
    r = cli.invoke(main, ["status", "import", str(old), "--division", "2024"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(main, ["status", "import", str(old)])  # in the current division: refused
    assert r.exit_code == 1 and "code 16417 is Phường Đông Quang" in r.output
    r = cli.invoke(main, ["status", "import", str(old), "--division", "1999"])
    assert r.exit_code == 1 and "unknown division '1999'" in r.output
    store = Store(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    assert set(store.records("2024")) == {"14806", "14803", "16438", "15187", "16417"}
    assert store.records("2025") == {}
    pairs = store.crosswalk_into("2025")
    own = {c: r.record.status for c, r in store.records("2025").items()}
    former = {("2024", c): r.record.status for c, r in store.records("2024").items()}
    rolled = records.rolled_up(["16522", "16417", "16438", "15187"], own, pairs, former)
    # Đông Quang took in both Quảng Thắng (transformed) and Đông Văn (hotspot): the gravest
    assert rolled == {
        "16522": "transformed",
        "16417": "hotspot",
        "16438": "transformed",
        "15187": "transformed",
    }
    listed = [p for p in pairs if p["new_code"] == "16417"]
    assert {p["old_code"] for p in listed} >= {"14803", "16417"}
    assert next(p for p in listed if p["old_code"] == "14803")["name"] == "Quảng Thắng"
    store.dispose()
    r = cli.invoke(main, ["divisions", "list"])
    assert "2024" in r.output and "547 units" in r.output


def test_a_second_boundary_set_with_other_field_names_imports(cli, tmp_path):
    layer = boundaries.load(THANH_HOA).units
    src = tmp_path / "other.gpkg"
    layer.rename(columns={"code": "ma_xa", "name": "ten_xa", "kind": "loai"}).to_file(
        src, driver="GPKG", engine="fiona"
    )
    r = cli.invoke(
        main, ["boundaries", "import", str(src), "--name", "2026", "--valid-from", "2026-01-01"]
    )
    assert r.exit_code == 1 and "no field code" in r.output
    r = cli.invoke(
        main,
        [
            "boundaries",
            "import",
            str(src),
            "--name",
            "2026",
            "--valid-from",
            "2026-01-01",
            "--code-field",
            "ma_xa",
            "--name-field",
            "ten_xa",
            "--kind-field",
            "loai",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "division 2026: 166 units" in r.output
    assert not (tmp_path / "instance" / "boundaries").exists()  # in the store, not on disk
    r = cli.invoke(
        main,
        [
            "boundaries",
            "import",
            str(src),
            "--name",
            "2026",
            "--valid-from",
            "2026-01-01",
            "--code-field",
            "ma_xa",
            "--name-field",
            "ten_xa",
        ],
    )
    assert r.exit_code == 1 and "exists already" in r.output
    r = cli.invoke(main, ["divisions", "overlay", "2026"])
    assert r.exit_code == 0, r.output
    assert "166 pairs, 0 split" in r.output  # the same polygons: each unit into itself
    bad_dates = cli.invoke(
        main, ["boundaries", "import", str(src), "--name", "2027", "--valid-from", "31/02/2027"]
    )
    assert bad_dates.exit_code == 1 and "--valid-from" in bad_dates.output


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".zip"])
def test_the_joined_layer_downloads_with_every_unit_and_its_status(cli, tmp_path, suffix):
    import fiona

    from tests.conftest import SAMPLE

    assert cli.invoke(main, ["status", "import", str(SAMPLE)]).exit_code == 0
    assert (
        cli.invoke(main, ["divisions", "crosswalk", str(CROSSWALK), "--old", "2024"]).exit_code == 0
    )
    old = tmp_path / "old.csv"
    old.write_text("code,status\n15214,relapsed\n", encoding="utf-8")  # Xã Thạch Định
    r = cli.invoke(main, ["status", "import", str(old), "--division", "2024"])
    assert r.exit_code == 0, r.output
    out = tmp_path / f"layer{suffix}"
    r = cli.invoke(main, ["status", "export", "--out", str(out)])
    assert r.exit_code == 0, r.output
    path = f"zip://{out}" if suffix == ".zip" else str(out)
    with fiona.open(path) as layer:
        feats = {f.properties["code"]: dict(f.properties) for f in layer}
        assert layer.crs.to_epsg() == 4326
    assert len(feats) == 166
    assert feats["16522"]["status"] == "transformed"
    assert feats["16522"]["status_vi"] == "Đã chuyển hóa"
    assert feats["16522"]["transf_on"] == "2023-03-16"
    assert "2024:14806" in feats["16522"]["former"]
    listed = sum(1 for f in feats.values() if f["status"] != "not_listed")
    assert listed == 62
    # Thạch Định went into Xã Kim Tân: its relapse is the gravest, so Kim Tân shows it
    assert "2024:15214 relapsed" in feats["15187"]["former"]
    assert feats["15187"]["status"] == "relapsed"
    assert feats["15187"]["status_vi"] == "Phức tạp trở lại"
    assert feats["15187"]["own_status"] == "transformed"


def test_the_old_division_sample_lands_in_the_right_new_units(cli, tmp_path):
    from geo_app.config import SAMPLE_DIR
    from geo_app.store import Store

    sample_2024 = SAMPLE_DIR / "status_sample_2024.csv"
    args = ["divisions", "crosswalk", str(CROSSWALK), "--old", "2024"]
    assert cli.invoke(main, args).exit_code == 0
    again = cli.invoke(main, args)  # loading it again changes nothing
    assert "already loaded" in again.output
    r = cli.invoke(main, ["status", "import", "--division", "2024", str(sample_2024)])
    assert r.exit_code == 0 and "(sample data)" in r.output
    r = cli.invoke(main, ["status", "import", "--if-empty", "--division", "2024", str(sample_2024)])
    assert "already has records" in r.output
    store = Store(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    old = store.records("2024")
    for code in ("14806", "14803", "16438", "15187"):  # DESIGN.md's four, by their old codes
        assert old[code].record.status == "transformed" and old[code].sample
    out = tmp_path / "layer.gpkg"
    assert cli.invoke(main, ["status", "export", "--out", str(out)]).exit_code == 0
    import fiona

    with fiona.open(out) as layer:
        feats = {f.properties["code"]: dict(f.properties) for f in layer}
    for new, old_code in (
        ("16522", "14806"),
        ("16417", "14803"),
        ("16438", "16438"),
        ("15187", "15187"),
    ):
        assert f"2024:{old_code}" in feats[new]["former"]
    split = [f for f in feats.values() if " split" in f["former"]]
    assert split, "the sample names split old units"
    store.dispose()
