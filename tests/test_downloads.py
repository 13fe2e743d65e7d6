"""GIS downloads of the joined layer from the web, and the app behind a reverse proxy."""

import io
import zipfile

import fiona
import pytest

from geo_app import create_app
from geo_app.io.importer import UnitRef, run_import
from tests.conftest import client_as, login


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "zip"])
def test_a_downloaded_layer_opens_with_fiona_with_every_unit(client, tmp_path, fmt):
    r = client.get(f"/download/communes.{fmt}")
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment")
    path = tmp_path / f"layer.{fmt}"
    path.write_bytes(r.data)
    with fiona.open(f"zip://{path}" if fmt == "zip" else path) as layer:
        feats = {f.properties["code"]: dict(f.properties) for f in layer}
        fields = set(layer.schema["properties"])
    assert len(feats) == 166
    assert {"code", "name", "kind", "status", "status_vi", "designated", "transf_on"} <= fields
    assert feats["16522"]["status"] == "transformed"
    assert feats["16522"]["name"] == "Quảng Phú"
    assert sum(1 for f in feats.values() if f["status"] != "not_listed") == 62


def test_spreadsheet_downloads_are_the_records(client):
    csv_text = client.get("/download/communes.csv").data.decode("utf-8-sig")
    assert csv_text.splitlines()[0] == (
        "code,name,kind,status,designated_on,target_on,transformed_on,unit,problems,notes"
    )
    assert len(csv_text.strip().splitlines()) == 63
    xlsx = client.get("/download/communes.xlsx").data
    assert zipfile.ZipFile(io.BytesIO(xlsx)).testzip() is None


def test_a_download_follows_the_data(client, app):
    before = client.get("/download/communes.geojson").get_json()
    store = app.extensions["geo_app"].store
    units = [f["properties"] for f in before["features"]]
    refs = [UnitRef(u["code"], u["name"], u["kind"]) for u in units]
    run_import(store, b"code,status\n14848,hotspot\n", "new.csv", refs)
    after = client.get("/download/communes.geojson").get_json()
    status = {f["properties"]["code"]: f["properties"]["status"] for f in after["features"]}
    assert status["14848"] == "hotspot"


def test_unknown_format_and_roles(app, client):
    r = client.get("/download/communes.kml")
    assert r.status_code == 400 and "geojson" in r.get_data(as_text=True)
    assert client_as(app, "officer").get("/download/communes.gpkg").status_code == 403
    assert client_as(app, "chief").get("/download/communes.gpkg").status_code == 200


def test_behind_one_reverse_proxy_the_cookie_is_secure(sample_settings):
    from geo_app.store import Store
    from tests.conftest import add_users

    store = Store(sample_settings["DATABASE_URL"])
    add_users(store)
    store.dispose()
    direct = create_app({**sample_settings, "TESTING": True})
    proxied = create_app({**sample_settings, "TESTING": True, "PROXIES": 1})
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.9.8.7"}
    for app, secure in ((direct, False), (proxied, True)):
        c = app.test_client()
        r = login(c, "admin", headers=headers)
        session = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("session=")]
        assert session and ("Secure" in session[0]) is secure
        app.extensions["geo_app"].store.dispose()


def test_a_long_note_is_kept_whole_beside_the_shapefile(client, app, tmp_path):
    import csv

    from geo_app.outputs import gis

    note = ("Địa bàn phức tạp về ma túy, cờ bạc; " * 8)[:249]  # 249 characters, 300+ bytes
    assert len(note.encode()) > gis.SHAPEFILE_TEXT_BYTES
    store = app.extensions["geo_app"].store
    units = client.get("/download/communes.geojson").get_json()["features"]
    refs = [
        UnitRef(f["properties"]["code"], f["properties"]["name"], f["properties"]["kind"])
        for f in units
    ]
    body = f'code,status,notes\n14848,hotspot,"{note}"\n'.encode()
    run_import(store, body, "long.csv", refs)
    data = client.get("/download/communes.zip").data
    path = tmp_path / "layer.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:
        assert gis.LONG_TEXT_FILE in zf.namelist()
        rows = list(csv.DictReader(io.StringIO(zf.read(gis.LONG_TEXT_FILE).decode("utf-8-sig"))))
    assert rows == [
        {"code": "14848", "field": "notes", "bytes": str(len(note.encode())), "text": note}
    ]
    with fiona.open(f"zip://{path}") as layer:
        cut = next(f.properties["notes"] for f in layer if f.properties["code"] == "14848")
    assert cut.endswith("…") and note.startswith(cut[:-1])  # cut on a character, marked
    assert len(cut.encode()) <= gis.SHAPEFILE_TEXT_BYTES
    # the GeoPackage keeps it whole
    gpkg = tmp_path / "layer.gpkg"
    gpkg.write_bytes(client.get("/download/communes.gpkg").data)
    with fiona.open(gpkg) as layer:
        assert next(f.properties["notes"] for f in layer if f.properties["code"] == "14848") == note
