"""Sessions that can be revoked, a login limit that cannot be turned against users, HSTS,
Cache-Control on every route, and the audit of logins, logouts, failures and exports
(issue 12, items 4, 5 and 7)."""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PASSWORD, add_users, client_as, csrf_token, login

from geo_app import create_app
from geo_app.cli import main as cli_main
from geo_app.store import Store
from geo_app.web import auth
from geo_app.web.common import RENDERS_PER_USER
from tests.test_auth import MATRIX, _request

NEW_PASSWORD = "another long passphrase"


def _copy_cookie(app, source):
    """Return a new client holding `source`'s session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", source.get_cookie("session").value)
    return thief


def _actions(app, action: str) -> list[dict]:
    return app.extensions["geo_app"].store.audit_entries(action=action)


# -- item 4: sessions ---------------------------------------------------------------------------
def test_after_logout_a_copied_cookie_gets_401(app):
    officer = client_as(app, "officer")
    thief = _copy_cookie(app, officer)
    assert thief.get("/api/me").status_code == 200  # the copy works while the session lives
    token = csrf_token(officer)
    assert officer.post("/logout", data={"csrf_token": token}).status_code == 302
    assert thief.get("/api/me").status_code == 401
    assert thief.get("/").status_code == 302  # pages send it to the login
    assert officer.get("/api/me").status_code == 401
    (entry,) = _actions(app, "auth.logout")
    assert (entry["actor"], entry["target"]) == ("officer", "officer")


def test_a_password_reset_ends_every_session_of_that_user(app):
    first, second = client_as(app, "officer"), client_as(app, "officer")
    copied = _copy_cookie(app, first)
    other = client_as(app, "chief")
    admin = client_as(app, "admin")
    r = admin.post(
        "/admin/users/officer", data={"password": NEW_PASSWORD, "csrf_token": csrf_token(admin)}
    )
    assert r.status_code == 303
    for c in (first, second, copied):
        assert c.get("/api/me").status_code == 401
    assert other.get("/api/me").status_code == 200  # another user's sessions go on
    assert admin.get("/api/me").status_code == 200
    (entry,) = [e for e in _actions(app, "user.update") if e["target"] == "officer"]
    assert entry["details"] == {"password": "changed", "sessions_ended": 2}  # the copy is one
    assert login(app.test_client(), "officer", PASSWORD).status_code == 401
    assert login(app.test_client(), "officer", NEW_PASSWORD).status_code == 302


def test_an_admin_changing_their_own_password_keeps_only_the_session_doing_it(app):
    admin, elsewhere = client_as(app, "admin"), client_as(app, "admin")
    r = admin.post(
        "/admin/users/admin", data={"password": NEW_PASSWORD, "csrf_token": csrf_token(admin)}
    )
    assert r.status_code == 303
    assert admin.get("/api/me").status_code == 200
    assert elsewhere.get("/api/me").status_code == 401


def test_disabling_an_account_ends_its_sessions_for_good(app):
    officer = client_as(app, "officer")
    admin = client_as(app, "admin")
    token = csrf_token(admin)
    admin.post("/admin/users/officer", data={"disabled": "1", "csrf_token": token})
    admin.post("/admin/users/officer", data={"disabled": "0", "csrf_token": token})
    assert officer.get("/api/me").status_code == 401  # enabled again: the old session stays ended


def test_the_admin_page_shows_and_ends_a_users_sessions(app):
    officers = [client_as(app, "officer") for _ in range(2)]
    admin = client_as(app, "admin")
    html = admin.get("/admin").get_data(as_text=True)
    row = re.search(r'<tr data-user="officer">.*?</tr>', html, re.S).group(0)
    assert 'data-sessions="2"' in row and "/admin/users/officer/sessions" in row
    r = admin.post("/admin/users/officer/sessions", data={"csrf_token": csrf_token(admin)})
    assert r.status_code == 303
    assert all(c.get("/api/me").status_code == 401 for c in officers)
    assert admin.get("/api/me").status_code == 200
    (entry,) = _actions(app, "user.end_sessions")
    assert (entry["target"], entry["details"]) == ("officer", {"ended": 2})
    html = admin.get("/admin").get_data(as_text=True)
    row = re.search(r'<tr data-user="officer">.*?</tr>', html, re.S).group(0)
    assert 'data-sessions="0"' in row


def test_an_admin_ending_their_own_sessions_keeps_the_one_in_use(app):
    admin, other = client_as(app, "admin"), client_as(app, "admin")
    r = admin.post("/admin/users/admin/sessions", data={"csrf_token": csrf_token(admin)})
    assert r.status_code == 303
    assert admin.get("/api/me").status_code == 200
    assert other.get("/api/me").status_code == 401


def test_an_idle_session_ends_after_eight_hours(app, frozen_clock):
    busy, idle = client_as(app, "officer"), client_as(app, "chief")
    for _ in range(3):  # used every seven hours: it goes on
        frozen_clock.shift(dt.timedelta(hours=7))
        assert busy.get("/api/me").status_code == 200
    assert idle.get("/api/me").status_code == 401  # 21 hours without a request


def test_the_idle_timeout_is_a_setting(sample_settings, frozen_clock):
    store = Store(sample_settings["DATABASE_URL"])
    add_users(store)
    store.dispose()
    app = create_app({**sample_settings, "TESTING": True, "SESSION_IDLE_HOURS": 0.5})
    c = client_as(app, "chief")
    frozen_clock.shift(dt.timedelta(minutes=25))
    assert c.get("/api/me").status_code == 200
    frozen_clock.shift(dt.timedelta(minutes=31))
    assert c.get("/api/me").status_code == 401
    app.extensions["geo_app"].store.dispose()


def test_a_password_set_from_the_command_line_ends_every_session(app, monkeypatch):
    officer = client_as(app, "officer")
    monkeypatch.setenv("GEO_APP_DATABASE_URL", app.extensions["geo_app"].settings["DATABASE_URL"])
    r = CliRunner().invoke(cli_main, ["users", "password", "officer"], input=NEW_PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert officer.get("/api/me").status_code == 401
    chief = client_as(app, "chief")
    r = CliRunner().invoke(cli_main, ["users", "end-sessions", "chief"])
    assert r.exit_code == 0 and "1 session(s) of chief ended" in r.output
    assert chief.get("/api/me").status_code == 401


# -- item 5: the login limit --------------------------------------------------------------------
GENERIC = "The user name or password is wrong, or there were too many attempts. Try again later."


@pytest.fixture
def proxied(sample_settings):
    """The app behind one reverse proxy (GEO_APP_PROXIES=1) that appends X-Forwarded-For."""
    store = Store(sample_settings["DATABASE_URL"])
    add_users(store)
    store.dispose()
    application = create_app({**sample_settings, "TESTING": True, "PROXIES": 1})
    yield application
    application.extensions["geo_app"].store.dispose()


def _via_proxy(app, chain: str, username: str = "admin", password: str = PASSWORD):
    """Log in through the proxy: `chain` is the X-Forwarded-For the proxy passes on."""
    env = {"REMOTE_ADDR": "127.0.0.1"}
    c = app.test_client()
    form = c.get("/login", environ_base=env, headers={"X-Forwarded-For": chain})
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    return c.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base=env,
        headers={"X-Forwarded-For": chain},
    )


def test_failures_from_one_address_do_not_block_the_right_password_from_another(proxied):
    for _ in range(8):
        assert _via_proxy(proxied, "10.1.1.1", password="not the password").status_code in (
            401,
            429,
        )
    assert _via_proxy(proxied, "10.1.1.1").status_code == 429  # that address is held back
    assert _via_proxy(proxied, "10.2.2.2").status_code == 302  # the real admin gets in
    (entry,) = _actions(proxied, "auth.login")
    assert entry["details"] == {"address": "10.2.2.2"}


def test_a_forged_x_forwarded_for_does_not_rotate_the_address(proxied):
    """The proxy appends the real address; the app takes the right-most entry it did not add."""
    for i in range(5):
        r = _via_proxy(proxied, f"198.51.100.{i}, 10.1.1.1", password="not the password")
        assert r.status_code == 401
    r = _via_proxy(proxied, "198.51.100.99, 10.1.1.1")  # a new fake: still 10.1.1.1
    assert r.status_code == 429
    addresses = {e["details"]["address"] for e in _actions(proxied, "auth.failed")}
    assert addresses == {"10.1.1.1"}


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(app):
    for i in range(5):
        c = app.test_client()
        r = login(c, "chief", "not the password", headers={"X-Forwarded-For": f"10.9.9.{i}"})
        assert r.status_code == 401
    r = login(app.test_client(), "chief", headers={"X-Forwarded-For": "10.9.9.200"})
    assert r.status_code == 429


def test_the_per_account_back_off_slows_failing_addresses_only(proxied, frozen_clock):
    for i in range(auth.BACKOFF_AFTER):  # one failure from each of many addresses
        assert _via_proxy(proxied, f"10.3.0.{i}", password="wrong password").status_code == 401
    # an address that failed for admin now waits, even with the right password
    r = _via_proxy(proxied, "10.3.0.0")
    assert r.status_code == 429
    # an address with no failure is never held back
    assert _via_proxy(proxied, "10.4.0.1").status_code == 302
    frozen_clock.shift(auth.BACKOFF_BASE + dt.timedelta(seconds=1))
    assert _via_proxy(proxied, "10.3.0.0").status_code == 302  # after the wait


def test_the_pair_limit_passes_with_its_window(app, frozen_clock):
    for _ in range(auth.LIMIT_PER_PAIR):
        assert login(app.test_client(), "chief", "not the password").status_code == 401
    assert login(app.test_client(), "chief").status_code == 429
    frozen_clock.shift(auth.LIMIT_WINDOW + dt.timedelta(seconds=1))
    assert login(app.test_client(), "chief").status_code == 302


# -- item 7: HSTS, Cache-Control, audit, render limit -------------------------------------------
def test_hsts_only_over_https(app):
    r = login(app.test_client(), "admin", base_url="https://localhost")
    assert r.headers["Strict-Transport-Security"] == f"max-age={auth.HSTS_SECONDS}"
    assert "Strict-Transport-Security" not in login(app.test_client(), "admin").headers


def test_hsts_behind_the_proxy_when_it_says_https(proxied):
    c = proxied.test_client()
    r = c.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.1"})
    assert "Strict-Transport-Security" in r.headers
    assert "Strict-Transport-Security" not in c.get("/login").headers


#: What each route says of caching when it does not hold one user's data (see auth.LONG_CACHED).
CACHED = {
    "static": None,  # Flask's own validation headers for the app's files
    "pages.vendor": "public, max-age=3600",  # unversioned URL; versioned: a year, immutable
    "pages.map_data": "private, max-age=31536000, immutable",
    "pages.map_topology": "private, max-age=31536000, immutable",
    "pages.map_script_file": "private, no-cache",  # unversioned URL in the matrix
}


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_every_authenticated_answer_is_private_no_store(app, endpoint, tmp_path):
    """Every route of the app's url_map (the role matrix covers them all)."""
    app.extensions["geo_app"].settings["UPLOAD_DIR"] = str(tmp_path / "uploads")
    client = client_as(app, "admin")
    with _request(client, app, "admin", endpoint, 0) as r:
        cache_control = r.headers.get("Cache-Control")
        status = r.status_code
    assert status < 500
    name = endpoint.split(" ")[0]
    if name in CACHED:
        assert cache_control != "private, no-store", endpoint
        if CACHED[name]:
            assert cache_control == CACHED[name], endpoint
    else:
        assert cache_control == "private, no-store", (endpoint, status)


def test_long_cached_files_hold_nothing_personal(app):
    assert set(CACHED) == auth.LONG_CACHED
    anonymous = app.test_client()
    assert anonymous.get("/api/summary").headers["Cache-Control"] == "private, no-store"
    assert anonymous.get("/login").headers["Cache-Control"] == "private, no-store"


def test_logins_failures_logouts_and_exports_are_audited(client, app):
    login(app.test_client(), "chief", "not the password")
    login(app.test_client(), "nobody", "not the password")
    failed = _actions(app, "auth.failed")
    assert {e["target"] for e in failed} == {"chief", "nobody"}
    assert all(e["details"]["address"] == "127.0.0.1" for e in failed)
    assert {e["target"] for e in _actions(app, "auth.login")} == {"admin"}
    assert client.get("/export/map.png?dpi=50&area=16522").status_code == 200
    assert client.get("/download/communes.csv").status_code == 200
    (m,) = _actions(app, "export.map")
    assert m["actor"] == "admin" and m["target"].endswith(".png")
    assert m["details"]["area"] == ["16522"] and m["details"]["dpi"] == "50"
    (d,) = _actions(app, "export.download")
    assert d["details"]["format"] == "csv"
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert [e["actor"] for e in _actions(app, "auth.logout")] == ["admin"]
    page = client_as(app, "admin").get("/admin?action=auth").get_data(as_text=True)
    assert 'data-action="auth.failed"' in page and 'data-action="auth.logout"' in page


def _hold_slots(app, username: str, n: int) -> list:
    folder = Path(app.extensions["geo_app"].settings["CACHE_DIR"]) / "renders"
    folder.mkdir(parents=True, exist_ok=True)
    held = []
    for i in range(n):
        fh = (folder / f"{username}.{i}.lock").open("a+b")
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.append(fh)
    return held


def test_a_user_may_draw_only_a_few_exports_at_once(app):
    staff = client_as(app, "staff")
    held = _hold_slots(app, "staff", RENDERS_PER_USER)  # two renders of staff under way
    try:
        r = staff.get("/export/map.png?dpi=50&title=Một%20tiêu%20đề%20mới&lang=en")
        assert r.status_code == 429 and "Traceback" not in r.get_data(as_text=True)
        assert r.is_json is False
        r = staff.get("/download/communes.gpkg?lang=en", headers={"Accept": "application/json"})
        assert r.status_code == 429 and "exports being drawn" in r.get_json()["error"]
        # another user draws meanwhile
        assert client_as(app, "chief").get("/export/map.png?dpi=50").status_code == 200
        # a file already drawn is sent without a render slot
        assert staff.get("/export/map.png?dpi=50").status_code == 200
    finally:
        for fh in held:
            fh.close()
    assert staff.get("/export/map.png?dpi=50&title=Một%20tiêu%20đề%20mới").status_code == 200


# -- item 7: the password rule ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("qwertyuiop", "most common"),
        ("Password123", "most common"),
        ("1234567890", "most common"),
        ("lan.nguyen1", None),
        ("lan.nguyen", "user name"),
        ("LAN.NGUYEN", "user name"),
        ("short", "at least 10"),
    ],
)
def test_the_password_rule(client, app, password, reason):
    r = client.post(
        "/admin/users?lang=en",  # the English reasons (tests/test_admin_labels.py: Vietnamese)
        data={
            "username": "lan.nguyen",
            "role": "officer",
            "password": password,
            "csrf_token": csrf_token(client),
        },
    )
    users = [u["username"] for u in app.extensions["geo_app"].store.users()]
    if reason is None:
        assert r.status_code == 303 and "lan.nguyen" in users
    else:
        assert r.status_code == 400 and reason in r.get_data(as_text=True)
        assert "lan.nguyen" not in users


def test_the_command_line_refuses_a_common_password(app, monkeypatch):
    monkeypatch.setenv("GEO_APP_DATABASE_URL", app.extensions["geo_app"].settings["DATABASE_URL"])
    r = CliRunner().invoke(
        cli_main, ["users", "add", "lan", "--role", "staff"], input="qwertyuiop\n"
    )
    assert r.exit_code == 1 and "most common" in r.output
    r = CliRunner().invoke(cli_main, ["users", "password", "staff"], input="staff\n")
    assert r.exit_code == 1


def test_an_upload_form_field_stays_a_string_in_the_audit_csv(client, app):
    """A user name typed as a formula comes back from the audit CSV as text."""
    login(app.test_client(), "=1+cmd|' /c calc'!a0", "not the password")
    body = client.get("/admin/audit.csv?action=auth.failed").get_data(as_text=True)
    import csv

    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[1][2] == "'=1+cmd|' /c calc'!a0"  # actor
    assert rows[1][5] == "'=1+cmd|' /c calc'!a0"  # target
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_old_sessions_are_forgotten(app, frozen_clock):
    store = app.extensions["geo_app"].store

    def rows() -> int:
        with store.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM sessions").scalar()

    c = client_as(app, "chief")
    c.post("/logout", data={"csrf_token": csrf_token(c)})
    client_as(app, "officer")  # left open, never used again
    assert rows() == 2
    frozen_clock.shift(dt.timedelta(days=31))
    client_as(app, "chief")
    assert rows() == 1
