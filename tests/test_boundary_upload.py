"""The admin page's boundary-set upload: check a zip, show its report, register only on accept."""

from __future__ import annotations

import datetime as dt
import html
import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from conftest import THANH_HOA, add_users, client_as, csrf_token
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from geo_app import config
from geo_app.errors import BoundaryError
from geo_app.geodata import boundaries, divisions
from geo_app.store import Store

UPLOAD = "/admin/boundaries"
ACCEPT = "/admin/boundaries/accept"
EN = {"lang": "en"}
FORM = {"name": "2026", "valid_from": "2026-01-01", "valid_to": "", "source": "Decision 1/2026"}


# -- zips ----------------------------------------------------------------------------------------
def zip_bytes(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def shapefile_parts(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg")
    }


@pytest.fixture(scope="module")
def thanh_hoa_zip() -> bytes:
    """The shared Thanh Hóa shapefile, zipped as a supplier would send it."""
    return zip_bytes(shapefile_parts(THANH_HOA))


@pytest.fixture(scope="module")
def renamed_zip(tmp_path_factory) -> bytes:
    """The same units in a shapefile whose fields are ma_xa, ten_xa and loai."""
    folder = tmp_path_factory.mktemp("renamed")
    layer = boundaries.load(THANH_HOA).units
    layer.rename(columns={"code": "ma_xa", "name": "ten_xa", "kind": "loai"}).to_file(
        folder / "ranh_gioi_2026.shp", engine="fiona", encoding="utf-8"
    )
    return zip_bytes(shapefile_parts(folder))


# -- apps ----------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def instance(tmp_path, monkeypatch) -> Path:
    """A private instance folder: uploads and installed boundary sets go there."""
    folder = tmp_path / "instance"
    monkeypatch.setattr(config, "INSTANCE_DIR", folder)
    return folder


@pytest.fixture
def web(store, settings):
    """An app on `store` (SQLite, then PostgreSQL) with the test accounts."""
    from geo_app import create_app

    add_users(store)
    application = create_app({**settings, "DATABASE_URL": store.url, "TESTING": True})
    yield application
    application.extensions["geo_app"].store.dispose()


def upload(client, data: bytes | None, filename: str = "ranh-gioi.zip", **form):
    fields = {**FORM, **form, "csrf_token": csrf_token(client)}
    if data is not None:
        fields["file"] = (io.BytesIO(data), filename)
    return client.post(UPLOAD, data=fields, query_string=EN)


def hidden_fields(page: str) -> dict[str, str]:
    """Return the hidden fields of the page's accept form (what the Accept button sends)."""
    form = re.search(r'<form[^>]*id="accept-form".*?</form>', page, re.S)
    assert form, "the report has no Accept button"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))
    return {k: html.unescape(v) for k, v in fields}


def accept(client, fields: dict[str, str], **changes):
    return client.post(ACCEPT, data={**fields, **changes}, query_string=EN)


def uploads(instance: Path) -> list[Path]:
    root = instance / "uploads"
    return sorted(root.iterdir()) if root.exists() else []


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def state(app, instance: Path):
    """What an upload must not change: divisions, units, audit, installed files."""
    store = app.extensions["geo_app"].store
    installed = instance / "boundaries"
    files = sorted(str(p) for p in installed.rglob("*")) if installed.exists() else []
    return store.divisions(), len(store.audit_entries()), files


# -- the flow ------------------------------------------------------------------------------------
def test_upload_shows_the_report_then_accept_registers_the_division(
    web, store, instance, thanh_hoa_zip
):
    admin = client_as(web, "admin")
    before = state(web, instance)
    r = upload(admin, thanh_hoa_zip, valid_to="2026-12-31")
    page = text(r)
    assert r.status_code == 200, page[:2000]
    assert 'id="report-units">166<' in page
    assert 'id="report-crs">EPSG:4326<' in page
    repaired = re.search(r'id="report-repaired">([^<]*)<', page).group(1)
    assert re.fullmatch(r"\d{5}", repaired), repaired  # the layer's one invalid geometry
    assert "invalid geometry repaired" in page
    sample = re.search(r'id="report-sample">.*?</table>', page, re.S).group(0)
    first = boundaries.load(THANH_HOA).units.iloc[0]
    assert f"<td>{first['code']}</td><td>{first['kind']}</td><td>{first['name']}</td>" in sample
    assert sample.count("<tr>") == 1 + divisions.SAMPLE_UNITS
    assert "Xã: 147" in page and "Phường: 19" in page
    assert "Division 2026, in force from 2026-01-01 to 2026-12-31" in page
    # nothing registered, nothing installed: only the upload waits, under its token
    assert state(web, instance) == before
    waiting = uploads(instance)
    fields = hidden_fields(page)
    assert [p.name for p in waiting] == [fields["token"]]
    assert fields["name"] == "2026" and fields["valid_to"] == "2026-12-31"

    r = accept(admin, fields)
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/boundaries")
    (row,) = store.divisions()
    assert row["name"] == "2026" and row["units"] == 166
    assert (row["valid_from"], row["valid_to"]) == ("2026-01-01", "2026-12-31")
    assert row["source"] == "Decision 1/2026"
    assert row["fields"] == {"code": "code", "name": "name", "kind": "kind"}
    # the set lives in the store (every server reads it there), not on this server's disk
    assert row["boundary_path"] is None
    assert not (instance / "boundaries").exists()
    stored = store.boundary_set("2026")
    assert stored["units"] == 166 and stored["origin"] == "web" and stored["actor"] == "admin"
    assert len(store.division_units("2026")) == 166
    assert uploads(instance) == []  # the upload is gone once registered
    entry = store.audit_entries(action="division.add")[0]
    assert entry["actor"] == "admin" and entry["target"] == "2026"
    page = text(admin.get(UPLOAD, query_string=EN))
    assert "Division 2026 registered: 166 units, in force from 2026-01-01." in page
    assert 'data-division="2026"' in page
    # the stored polygons are the file's
    units = boundaries.stored_set(store, stored).units
    source = boundaries.load(THANH_HOA).units
    assert list(units["code"]) == list(source["code"])
    assert units.geometry.geom_equals_exact(source.geometry, tolerance=0).all()
    # the same token again: gone
    r = accept(admin, fields)
    assert r.status_code == 404 and "unknown or has expired" in text(r)


def test_other_field_names_through_the_mapping(app, client, instance, renamed_zip):
    before = state(app, instance)
    r = upload(client, renamed_zip, "ranh_gioi_2026.zip")
    assert r.status_code == 400
    assert "no field code" in text(r) and "ma_xa" in text(r)
    assert uploads(instance) == [] and state(app, instance) == before
    mapping = {"code_field": "ma_xa", "name_field": "ten_xa", "kind_field": "loai"}
    r = upload(client, renamed_zip, "ranh_gioi_2026.zip", **mapping)
    assert r.status_code == 200, text(r)[:2000]
    assert 'id="report-units">166<' in text(r)
    fields = hidden_fields(text(r))
    assert {k: fields[k] for k in mapping} == mapping
    assert accept(client, fields).status_code == 303
    store = app.extensions["geo_app"].store
    row = next(d for d in store.divisions() if d["name"] == "2026")
    assert row["fields"] == {"code": "ma_xa", "name": "ten_xa", "kind": "loai"}
    assert row["units"] == 166 and row["valid_to"] is None
    units = {u["code"]: u for u in store.division_units("2026")}
    assert (units["16522"]["kind"], units["16522"]["name"]) == ("Phường", "Quảng Phú")
    assert store.boundary_set("2026")["fields"] == mapping_fields(mapping)
    assert not (instance / "boundaries").exists()  # in the store, not on this disk


def _no_prj(thanh_hoa_zip: bytes) -> bytes:
    parts = shapefile_parts(THANH_HOA)
    return zip_bytes({k: v for k, v in parts.items() if not k.endswith(".prj")})


BAD_UPLOADS = {
    "no .prj": (_no_prj, "ranh-gioi.zip", ".prj beside it"),
    "not a zip": (lambda z: b"code,name\n1,x\n", "ranh-gioi.zip", "is not a zip file"),
    "not .zip": (lambda z: z, "ranh-gioi.shp", "is not a .zip file"),
    "empty": (lambda z: b"", "ranh-gioi.zip", "ranh-gioi.zip is empty"),
    "truncated": (lambda z: z[: len(z) // 2], "ranh-gioi.zip", "broken or incomplete zip"),
    "no boundary file": (
        lambda z: zip_bytes({"readme.txt": b"hello"}),
        "ranh-gioi.zip",
        "exactly one shapefile or GeoPackage",
    ),
    "no file": (lambda z: None, "", "Choose a boundary set"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_a_bad_upload_is_400_names_the_problem_and_keeps_nothing(
    app, client, instance, thanh_hoa_zip, case
):
    make, filename, message = BAD_UPLOADS[case]
    before = state(app, instance)
    r = upload(client, make(thanh_hoa_zip), filename)
    page = text(r)
    assert r.status_code == 400, page[:2000]
    assert message in page, page[:3000]
    assert 'id="accept-form"' not in page
    assert uploads(instance) == []
    assert state(app, instance) == before


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "../evil"}, "The name '../evil' cannot be used"),
        ({"name": "x" * 33}, "cannot be used"),
        ({"name": ""}, "cannot be used"),
        ({"name": "2025"}, "2025 is the current division"),
        ({"valid_from": ""}, "Give the first day"),
        ({"valid_from": "31/02/2026"}, "Valid from must be a date"),
        ({"valid_to": "2025-12-31"}, "Valid to is before Valid from"),
        ({"encoding": "klingon"}, "Unknown encoding klingon"),
    ],
)
def test_a_bad_form_is_refused_before_the_file_is_kept(
    app, client, instance, thanh_hoa_zip, form, message
):
    before = state(app, instance)
    r = upload(client, thanh_hoa_zip, **form)
    assert r.status_code == 400 and message in text(r), text(r)[:2000]
    assert uploads(instance) == [] and state(app, instance) == before
    assert f'value="{html.escape(form.get("name", "2026"))}"' in r.get_data(as_text=True)


def test_an_existing_name_needs_replace(web, store, instance, thanh_hoa_zip, renamed_zip):
    admin = client_as(web, "admin")
    fields = hidden_fields(text(upload(admin, thanh_hoa_zip)))
    assert accept(admin, fields).status_code == 303
    before = state(web, instance)
    r = upload(admin, thanh_hoa_zip, valid_from="2026-07-01")
    assert r.status_code == 409
    assert "The division 2026 exists already" in text(r)
    assert uploads(instance) == [] and state(web, instance) == before
    # accepting an old report whose name was taken meanwhile is refused too
    r = upload(admin, thanh_hoa_zip, name="2027")
    late = hidden_fields(text(r))
    assert accept(admin, late, name="2026").status_code == 409
    assert state(web, instance) == before
    # with replace: the report says what it replaces, and accept replaces it
    mapping = {"code_field": "ma_xa", "name_field": "ten_xa", "kind_field": "loai"}
    r = upload(admin, renamed_zip, "v2.zip", valid_from="2026-07-01", replace="1", **mapping)
    assert r.status_code == 200
    assert "This replaces the division 2026 and its 166 units." in text(r)
    assert accept(admin, hidden_fields(text(r))).status_code == 303
    (row,) = [d for d in store.divisions() if d["name"] == "2026"]
    assert row["valid_from"] == "2026-07-01" and row["fields"]["code"] == "ma_xa"
    sets = store.boundary_sets("2026")  # the newest is in force, the older one kept
    assert len(sets) == 2 and sets[0]["fields"]["code"] == "ma_xa"
    assert sets[1]["fields"]["code"] == "code"
    assert [e["action"] for e in store.audit_entries(action="division.replace")] == [
        "division.replace"
    ]


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 400),
        ("", 400),
        ("../../etc/passwd", 400),
        ("A" * 32, 400),
        ("0" * 32 + "\n", 400),
        ("0" * 32, 404),
    ],
)
def test_a_forged_token_changes_nothing(app, client, instance, thanh_hoa_zip, token, status):
    r = upload(client, thanh_hoa_zip)
    fields = hidden_fields(text(r))
    before = state(app, instance)
    if token is None:
        fields.pop("token")
    else:
        fields["token"] = token
    r = accept(client, fields)
    assert r.status_code == status
    assert "This upload is unknown or has expired" in text(r)
    assert state(app, instance) == before
    assert len(uploads(instance)) == 1  # the real upload still waits


def test_an_upload_is_only_its_uploaders(app, instance, thanh_hoa_zip):
    store = app.extensions["geo_app"].store
    store.add_user("admin2", store.user("admin")["password_hash"], "admin", "t", "t")
    fields = hidden_fields(text(upload(client_as(app, "admin"), thanh_hoa_zip)))
    other = client_as(app, "admin2")
    before = state(app, instance)
    r = accept(other, {**fields, "csrf_token": csrf_token(other)})
    assert r.status_code == 404 and state(app, instance) == before


def test_an_expired_upload_is_refused_and_thrown_away(
    app, client, instance, thanh_hoa_zip, frozen_clock
):
    fields = hidden_fields(text(upload(client, thanh_hoa_zip)))
    assert len(uploads(instance)) == 1
    frozen_clock.shift(dt.timedelta(hours=3))  # two hours is the most an upload waits
    before = state(app, instance)
    r = accept(client, fields)
    assert r.status_code == 404 and "unknown or has expired" in text(r)
    assert uploads(instance) == [] and state(app, instance) == before


def test_a_file_broken_after_its_check_is_refused_at_accept(app, client, instance, thanh_hoa_zip):
    fields = hidden_fields(text(upload(client, thanh_hoa_zip)))
    (folder,) = uploads(instance)
    (folder / "ranh-gioi.zip").write_bytes(_no_prj(thanh_hoa_zip))
    before = state(app, instance)
    r = accept(client, fields)
    assert r.status_code == 400 and ".prj" in text(r)
    assert state(app, instance) == before


def test_accept_checks_the_form_again(app, client, instance, thanh_hoa_zip):
    fields = hidden_fields(text(upload(client, thanh_hoa_zip)))
    before = state(app, instance)
    r = accept(client, fields, name="../../x")
    assert r.status_code == 400 and "cannot be used" in text(r)
    r = accept(client, fields, code_field="nope")
    assert r.status_code == 400 and "no field nope" in text(r)
    assert state(app, instance) == before


def test_an_oversized_upload_is_413_and_keeps_nothing(sample_settings, instance, thanh_hoa_zip):
    from geo_app import create_app
    from geo_app.store import Store

    store = Store(sample_settings["DATABASE_URL"])
    add_users(store)
    store.dispose()
    app = create_app({**sample_settings, "TESTING": True, "BOUNDARY_MAX_BYTES": 100_000})
    admin = client_as(app, "admin")
    before = state(app, instance)
    r = upload(admin, thanh_hoa_zip)
    assert r.status_code == 413
    assert "The file is larger than 0.0954 MB; nothing was kept." in text(r)
    assert uploads(instance) == [] and state(app, instance) == before
    # a larger file than the app's usual 25 MB limit is let through for this upload only
    app.extensions["geo_app"].settings["BOUNDARY_MAX_BYTES"] = 40 * 1024 * 1024
    padded = zip_bytes({**shapefile_parts(THANH_HOA), "padding.bin": os.urandom(30 * 1024 * 1024)})
    # the body made here, in memory: the test client would leave its own temporary file open
    boundary, body = encode_multipart(
        {
            **FORM,
            "csrf_token": csrf_token(admin),
            "file": FileStorage(io.BytesIO(padded), "big.zip"),
        }
    )
    r = admin.post(
        UPLOAD,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        query_string=EN,
    )
    assert r.status_code == 200, re.findall(r"alert[^>]*>[^<]*|<li>[^<]*", text(r))
    app.extensions["geo_app"].store.dispose()


def test_the_page_lists_the_divisions_in_vietnamese(app, client, instance):
    store = app.extensions["geo_app"].store
    units = [{"code": "1", "name": "A", "kind": "Xã"}]
    import datetime as dt

    store.save_division(
        "2024",
        units,
        valid_from=None,
        valid_to=dt.date(2025, 6, 30),
        source="crosswalk x.csv",
        actor="t",
    )
    page = text(client.get(UPLOAD))
    assert "Bộ ranh giới" in page and 'data-division="2024"' in page
    assert "30/06/2025" in page and "crosswalk x.csv" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'href="/admin/boundaries"' in text(client.get("/admin"))


@pytest.mark.parametrize("user", ["chief", "officer", "staff", None])
def test_only_administrators_reach_the_page(app, instance, thanh_hoa_zip, user):
    from conftest import login

    c = app.test_client()
    if user:
        assert login(c, user).status_code == 302
        token = csrf_token(c)
    else:
        token = re.search(r'name="csrf_token" value="([^"]+)"', text(c.get("/login"))).group(1)
    before = state(app, instance)
    answers = [
        c.get(UPLOAD),
        c.post(
            UPLOAD,
            data={**FORM, "csrf_token": token, "file": (io.BytesIO(thanh_hoa_zip), "a.zip")},
        ),
        c.post(ACCEPT, data={**FORM, "csrf_token": token, "token": "0" * 32}),
    ]
    for r in answers:
        if user:
            assert r.status_code == 403
        else:
            assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert uploads(instance) == [] and state(app, instance) == before


# -- the service ---------------------------------------------------------------------------------
def test_check_reports_a_bad_file_instead_of_raising(tmp_path, thanh_hoa_zip):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_no_prj(thanh_hoa_zip))
    report = divisions.check(bad)
    assert report["usable"] is False and report["features"] == 0
    assert ".prj" in report["errors"][0] and report["sample"] == []
    good = tmp_path / "good.zip"
    good.write_bytes(thanh_hoa_zip)
    report = divisions.check(good, sample=3)
    assert report["usable"] and report["features"] == 166 and len(report["sample"]) == 3
    assert report["crs"] == "EPSG:4326" and len(report["repaired"]) == 1


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a/b", "-x", "x" * 33, "thanh hoa", "tỉnh", "2026\n"]
)
def test_register_refuses_names_that_are_not_folder_names(sqlite_store, tmp_path, name):
    with pytest.raises(divisions.BadName) as info:
        divisions.register(
            sqlite_store, THANH_HOA, name, _day("2026-01-01"), None, dest_root=tmp_path / "b"
        )
    assert "letters, digits" in info.value.message
    assert not (tmp_path / "b").exists() and sqlite_store.divisions() == []


def test_register_refuses_the_current_division_and_a_bad_period(sqlite_store, tmp_path):
    args = (sqlite_store, THANH_HOA)
    with pytest.raises(divisions.CurrentDivision):
        divisions.register(*args, "2025", _day("2025-07-01"), None, current="2025")
    with pytest.raises(divisions.BadPeriod) as info:
        divisions.register(*args, "2026", _day("2026-01-01"), _day("2025-01-01"))
    assert "valid-to 2025-01-01 is before valid-from 2026-01-01" in info.value.message
    with pytest.raises(BoundaryError):
        divisions.register(
            *args,
            "2026",
            _day("2026-01-01"),
            None,
            fields=boundaries.FieldMap(code="nope"),
            dest_root=tmp_path / "b",
        )
    assert not (tmp_path / "b").exists() and sqlite_store.divisions() == []


def test_register_takes_its_copy_away_when_the_store_refuses(sqlite_store, tmp_path, monkeypatch):
    from geo_app.errors import StoreUnavailable

    def down(*args, **kwargs):
        raise StoreUnavailable("the database is not reachable")

    monkeypatch.setattr(sqlite_store, "save_division", down)
    with pytest.raises(StoreUnavailable):
        divisions.register(
            sqlite_store, THANH_HOA, "2026", _day("2026-01-01"), None, dest_root=tmp_path / "b"
        )
    assert not (tmp_path / "b").exists() and sqlite_store.boundary_sets() == []


def _day(text: str):
    import datetime as dt

    return dt.date.fromisoformat(text)


def test_the_command_refuses_what_the_page_refuses(tmp_path, monkeypatch, cache_dir, instance):
    from click.testing import CliRunner

    from geo_app.cli import main

    monkeypatch.setenv("GEO_APP_DATABASE_URL", f"sqlite:///{tmp_path / 'c.sqlite3'}")
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", str(cache_dir))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    command = ["boundaries", "import", str(THANH_HOA), "--valid-from", "2026-01-01"]
    for extra, message in (
        (["--name", "../x"], "division name '../x' is not allowed"),
        (["--name", "2025"], "division '2025' is the current division"),
        (["--name", "2026", "--valid-to", "2025-12-31"], "valid-to 2025-12-31 is before"),
        (["--name", "2026", "--encoding", "klingon"], "unknown encoding 'klingon'"),
    ):
        r = runner.invoke(main, command + extra)
        assert r.exit_code == 1 and message in r.output, r.output
    assert not (instance / "boundaries").exists()
    r = runner.invoke(main, [*command, "--name", "2026"])
    assert r.exit_code == 0, r.output
    assert "division 2026: 166 units from thanh-hoa-2025, in force from 2026-01-01" in r.output
    assert not (instance / "boundaries").exists()  # in the store, not on this disk
    assert Store(os.environ["GEO_APP_DATABASE_URL"]).boundary_set("2026")["units"] == 166


def mapping_fields(mapping: dict[str, str]) -> dict[str, str]:
    return {
        "code": mapping["code_field"],
        "name": mapping["name_field"],
        "kind": mapping["kind_field"],
    }
