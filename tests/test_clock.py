"""One clock: every door says the same date, at any hour and in any server time zone.

Vietnam is UTC+7: from 17:00 to 24:00 UTC the Vietnamese date is the next day. An edit at
00:30 on 1 December in Hà Nội is a 1 December edit on the map page, in /api/summary, on the
printed map, in the audit log and in the command line, whatever the server's clock says.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from conftest import PASSWORD, SAMPLE, THANH_HOA, add_users, client_as, csrf_token
from pypdf import PdfReader

from geo_app import clock, create_app, i18n
from geo_app.cli import main as cli_main
from geo_app.errors import GeoAppError
from geo_app.io import importer
from geo_app.store import Store

ROOT = Path(__file__).resolve().parent.parent
FROZEN_CLI = str(Path(__file__).resolve().parent / "frozen_cli.py")

#: (instant, the date in Vietnam then): around both midnights.
INSTANTS = [
    (dt.datetime(2026, 11, 30, 16, 59, tzinfo=dt.UTC), dt.date(2026, 11, 30)),  # 23:59 in VN
    (dt.datetime(2026, 11, 30, 17, 1, tzinfo=dt.UTC), dt.date(2026, 12, 1)),  # 00:01 in VN
    (dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC), dt.date(2026, 12, 1)),  # 06:30 in VN
    (dt.datetime(2026, 11, 30, 17, 30, tzinfo=dt.UTC), dt.date(2026, 12, 1)),  # 00:30 in VN
]


# -- the clock itself ---------------------------------------------------------------------------
@pytest.mark.parametrize("instant, vn_day", INSTANTS)
def test_today_is_the_date_in_vietnam(frozen_clock, instant, vn_day):
    frozen_clock.move_to(instant)
    assert clock.today() == vn_day
    assert clock.now().tzinfo is not None and clock.now().date() == instant.date()
    assert clock.local_date(instant) == vn_day
    assert clock.local_date(instant.replace(tzinfo=None)) == vn_day  # naive = UTC


def test_the_process_time_zone_changes_nothing(frozen_clock, monkeypatch):
    frozen_clock.move_to(dt.datetime(2026, 11, 30, 20, 0, tzinfo=dt.UTC))
    answers = set()
    for zone in ("Etc/GMT+12", "Etc/GMT-14", "UTC", "Asia/Ho_Chi_Minh"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        answers.add((clock.today(), clock.local_now().hour, clock.day_start(clock.today())))
    monkeypatch.delenv("TZ")
    time.tzset()
    expected = dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)
    assert answers == {(dt.date(2026, 12, 1), 3, expected)}


def test_day_bounds_are_local_midnights_in_utc():
    start, end = clock.day_bounds(dt.date(2026, 12, 1), dt.date(2026, 12, 1))
    assert start == dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 12, 1, 17, 0, tzinfo=dt.UTC)
    assert clock.day_bounds(None, None) == (None, None)


def test_a_wrong_time_zone_setting_is_named():
    with pytest.raises(GeoAppError, match="GEO_APP_TIMEZONE='Asia/Hanoi-ish' is not a time zone"):
        clock.zone_named("Asia/Hanoi-ish")


def test_another_zone_moves_every_date(frozen_clock, settings):
    frozen_clock.move_to(dt.datetime(2026, 11, 30, 20, 0, tzinfo=dt.UTC))
    try:
        create_app({**settings, "TIMEZONE": "Europe/London", "TESTING": True})
        assert clock.today() == dt.date(2026, 11, 30)
        assert i18n.format_timestamp(clock.now()) == "30/11/2026 20:00"
    finally:
        clock.set_zone(None)
    assert clock.today() == dt.date(2026, 12, 1)
    assert i18n.format_timestamp(clock.now()) == "01/12/2026 03:00"


# -- every door, at the hours when the two dates differ -----------------------------------------
@pytest.fixture
def empty_app(settings):
    store = Store(settings["DATABASE_URL"])
    add_users(store)
    store.dispose()
    app = create_app({**settings, "TESTING": True})
    yield app
    app.extensions["geo_app"].store.dispose()


def pdf_text(body: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)


def visible(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("instant, vn_day", INSTANTS)
def test_every_door_gives_the_same_date(
    empty_app, settings, frozen_clock, instant, vn_day, monkeypatch, tmp_path
):
    frozen_clock.move_to(instant)
    shown = vn_day.strftime("%d/%m/%Y")
    day = vn_day.isoformat()
    admin = client_as(empty_app, "admin")
    token = csrf_token(admin)

    def edit(code: str, effective_on: str):
        body = {
            "status": "hotspot",
            "effective_on": effective_on,
            "note": "ra soát",
            "version": None,
        }
        return admin.post(f"/api/communes/{code}/status", json=body, headers={"X-CSRFToken": token})

    # an edit dated today in Vietnam is accepted; the next day is the future
    tomorrow = (vn_day + dt.timedelta(days=1)).isoformat()
    refused = edit("16522", tomorrow)
    assert refused.status_code == 400 and "trong tương lai" in refused.get_json()["error"]
    r = edit("16522", day)
    assert r.status_code == 200, r.get_json()
    (entry,) = r.get_json()["history"]
    assert entry["effective_on"] == day and entry["changed_at_display"].startswith(shown)

    # the page and the API
    summary = admin.get("/api/summary").get_json()
    assert summary["updated_on"] == day
    assert f"Cập nhật {shown}" in visible(admin.get("/").get_data(as_text=True))
    assert admin.get("/api/trend").get_json()["points"][-1]["date"] == day
    assert admin.get(f"/api/summary?as_of={day}").status_code == 200
    assert admin.get(f"/api/summary?as_of={tomorrow}").status_code == 400

    # the printed map: its text and its file name
    pdf = admin.get("/export/map.pdf")
    assert f"Số liệu tính đến ngày {shown}" in pdf_text(pdf.data)
    assert pdf.headers["Content-Disposition"].endswith(f'_{day}.pdf"')
    png = admin.get("/export/map.png?dpi=50")
    assert png.headers["Content-Disposition"].endswith(f'_{day}.png"')

    # the audit log: shown in Vietnam time, filtered by Vietnamese days
    audit = visible(admin.get("/admin?action=status").get_data(as_text=True))
    assert re.search(rf"{re.escape(shown)} \d\d:\d\d admin Tạo hồ sơ trạng thái", audit)
    rows = admin.get(f"/admin/audit.csv?action=status&since={day}&until={day}").get_data(
        as_text=True
    )
    (row,) = list(csv_rows(rows))
    assert row["at"].startswith(day) and row["at"].endswith("+07:00")
    other = (vn_day - dt.timedelta(days=1)).isoformat()
    earlier = admin.get(f"/admin/audit.csv?action=status&since={other}&until={other}")
    assert not list(csv_rows(earlier.data))

    # the command line: an import without dates takes effect today, and the printed map agrees
    monkeypatch.setenv("GEO_APP_DATABASE_URL", settings["DATABASE_URL"])
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(THANH_HOA))
    monkeypatch.setenv("GEO_APP_CACHE_DIR", settings["CACHE_DIR"])
    changes = tmp_path / "changes.csv"
    changes.write_text("code,status\n16417,in_progress\n", encoding="utf-8")
    result = CliRunner().invoke(cli_main, ["status", "import", str(changes)])
    assert result.exit_code == 0, result.output
    store = empty_app.extensions["geo_app"].store
    assert [h["effective_on"] for h in store.history("2025", "16417")] == [day]
    out = tmp_path / "map.pdf"
    result = CliRunner().invoke(cli_main, ["export", "map", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Số liệu tính đến ngày {shown}" in pdf_text(out.read_bytes())


def csv_rows(data: bytes | str):
    import csv

    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return csv.DictReader(io.StringIO(text.lstrip("\ufeff")))


# -- a real server and the command line in another time zone ------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(settings: dict, zone: str) -> dict[str, str]:
    return dict(
        os.environ,
        TZ=zone,
        GEO_APP_DATABASE_URL=settings["DATABASE_URL"],
        GEO_APP_BOUNDARIES=str(THANH_HOA),
        GEO_APP_CACHE_DIR=settings["CACHE_DIR"],
        GEO_APP_SECRET_KEY="clock-tests",
        PYTHONPATH=str(ROOT),
    )


def frozen_cli(instant: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, FROZEN_CLI, instant, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_a_server_in_utc_minus_12_at_20_utc_dates_everything_the_next_day(
    settings, units, tmp_path
):
    """20:00 UTC is 08:00 on 30/11 where the server thinks it is, 03:00 on 01/12 in Vietnam."""
    store = Store(settings["DATABASE_URL"])
    importer.run_import(store, SAMPLE.read_bytes(), SAMPLE.name, units)
    add_users(store)
    version = store.record("2025", "16522").version
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, FROZEN_CLI, "2026-11-30T20:00:00+00:00"]
        + ["serve", "--port", str(port), "--workers", "1"],
        env=_env(settings, "Etc/GMT+12"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        s = wait_and_login(base, server, tmp_path / "server.log")
        token = s.get(base + "/api/me", timeout=10).json()["csrf_token"]

        def edit(effective_on: str):
            return s.post(
                base + "/api/communes/16522/status",
                json={
                    "status": "hotspot",
                    "effective_on": effective_on,
                    "note": "tái phát",
                    "version": version,
                },
                headers={"X-CSRFToken": token},
                timeout=30,
            )

        assert edit("2026-12-02").status_code == 400  # the future, in Vietnam
        r = edit("2026-12-01")
        assert r.status_code == 200, r.text
        last = r.json()["history"][-1]
        assert last["effective_on"] == "2026-12-01"
        assert last["changed_at_display"].startswith("01/12/2026")
        assert s.get(base + "/api/summary", timeout=10).json()["updated_on"] == "2026-12-01"
        assert "Cập nhật 01/12/2026" in visible(s.get(base + "/", timeout=10).text)
        pdf = s.get(base + "/export/map.pdf", timeout=60)
        assert "Số liệu tính đến ngày 01/12/2026" in pdf_text(pdf.content)
        audit = s.get(base + "/admin/audit.csv?action=status.update&actor=admin", timeout=10)
        (row,) = list(csv_rows(audit.content))
        assert row["at"].startswith("2026-12-01T03:00") and row["target"] == "2025:16522"
        since = s.get(base + "/admin/audit.csv?since=2026-12-01&until=2026-12-01", timeout=10)
        rows = list(csv_rows(since.content))  # the login and the export are audited too
        assert [r["id"] for r in rows if r["action"].startswith("status")] == [row["id"]]
        assert {r["action"] for r in rows} == {"auth.login", "status.update", "export.map"}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        store.dispose()


def wait_and_login(base: str, server, log: Path) -> requests.Session:
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.3)
    s = requests.Session()
    form = s.get(base + "/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = s.post(
        base + "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf},
        timeout=30,
    )
    assert r.status_code == 200 and "/login" not in r.url
    return s


@pytest.mark.slow
def test_the_command_line_in_utc_minus_12_gives_the_same_answers(settings, tmp_path):
    """The same import and printed map at the same instant, in two server time zones."""
    answers = []
    for zone in ("Etc/GMT+12", "Asia/Ho_Chi_Minh"):
        db = tmp_path / f"{zone.replace('/', '-')}.sqlite3"
        env = {**_env(settings, zone), "GEO_APP_DATABASE_URL": f"sqlite:///{db}"}
        instant = "2026-11-30T20:00:00+00:00"
        assert frozen_cli(instant, env, "db", "upgrade").returncode == 0
        rows = tmp_path / "rows.csv"
        rows.write_text("code,status,designated_on\n16522,in_progress,2025-03-01\n", "utf-8")
        done = frozen_cli(instant, env, "status", "import", str(rows), "--json")
        assert done.returncode == 0, done.stderr
        out = tmp_path / f"{zone.replace('/', '-')}.pdf"
        printed = frozen_cli(instant, env, "export", "map", "--out", str(out))
        assert printed.returncode == 0, printed.stderr
        history = Store(env["GEO_APP_DATABASE_URL"]).history("2025", "16522")
        dates = [(h["effective_on"], h["new_status"], h["dated_by"]) for h in history]
        texts = re.findall(r"Số liệu tính đến ngày \S+", pdf_text(out.read_bytes()))
        answers.append((json.loads(done.stdout)["changes"], dates, texts))
    assert answers[0] == answers[1]
    changes, dates, texts = answers[0]
    assert dates == [("2025-03-01", "hotspot", "row"), ("2026-12-01", "in_progress", "import")]
    assert changes[0]["effective_on"] == "2026-12-01"
    assert texts == ["Số liệu tính đến ngày 01/12/2026"]
