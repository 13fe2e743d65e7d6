"""Accounts on the web: every route × every role, CSRF, the login limit, cookies, headers."""

from __future__ import annotations

import functools
import io
import re
import zipfile

import pytest
from conftest import PASSWORD, THANH_HOA, client_as, csrf_token, login
from conftest import TODAY as CONFTEST_TODAY

ROLES = ("anonymous", "commander", "officer", "staff", "admin")
USER_OF = {"commander": "chief", "officer": "officer", "staff": "staff", "admin": "admin"}
PUBLIC = "public"
TODAY = CONFTEST_TODAY.isoformat()

#: endpoint → (method, url, permission, what a permitted role gets, request extras).
#: `permission` is PUBLIC, or the permission of geo_app.accounts.ROLES a role must have.
MATRIX: dict[str, tuple] = {
    "static": ("GET", "/static/map.css", PUBLIC, 200, {}),
    "pages.vendor": ("GET", "/vendor/leaflet/leaflet.js", PUBLIC, 200, {}),
    "api.healthz": ("GET", "/healthz", PUBLIC, 200, {}),
    "auth.login GET": ("GET", "/login", PUBLIC, None, {}),  # 200 anonymous, 302 once logged in
    "auth.login POST": ("POST", "/login", PUBLIC, 302, {"login": 1}),
    "pages.index": ("GET", "/", "read", 200, {}),
    "pages.map_script_file": ("GET", "/map/script-{key}-vi.js", "read", 200, {}),
    "pages.map_data": ("GET", "/map/units-{key}.geojson", "read", 200, {}),
    "pages.map_topology": ("GET", "/map/units-{key}.topojson", "read", 200, {}),
    "jobs.job_list": ("GET", "/api/jobs", "read", 200, {}),
    "jobs.start": (  # a pack: the export permission (run at once: the test app has no worker)
        "POST",
        "/api/jobs",
        "export",
        200,
        {"json": {"kind": "pack", "params": {"area": "16522"}}},
    ),
    "jobs.job": ("GET", "/api/jobs/" + "0" * 32, "read", 404, {}),  # past the role check
    "jobs.result": ("GET", "/api/jobs/" + "0" * 32 + "/result", "read", 404, {}),
    "api.neighbours": ("GET", "/api/communes/16522/neighbours", "read", 200, {}),
    "auth.logout": ("POST", "/logout", "read", 302, {"form": {}}),
    "auth.me": ("GET", "/api/me", "read", 200, {}),
    "api.communes_geojson": ("GET", "/api/communes.geojson", "read", 200, {}),
    "api.commune": ("GET", "/api/communes/16522", "read", 200, {}),
    "api.summary": ("GET", "/api/summary?as_of=2024-06-30", "read", 200, {}),
    "api.trend": ("GET", "/api/trend", "read", 200, {}),
    "api.programmes_list": ("GET", "/api/programmes", "read", 200, {}),
    "api.search": ("GET", "/api/search?q=quang", "read", 200, {}),
    "api.edit_status": ("POST", "/api/communes/14845/status", "edit_assigned", 200, {"edit": 1}),
    "api.set_target": (
        "POST",
        "/api/communes/14845/targets",
        "edit_assigned",
        200,
        {"target": 1},
    ),
    "lists.list_page": ("GET", "/list", "read", 200, {}),
    "lists.communes": ("GET", "/api/communes?status=hotspot", "read", 200, {}),
    "lists.list_file": ("GET", "/list.csv", "export", 200, {}),
    "lists.changes": ("GET", "/api/changes?from=2026-01-01", "read", 200, {}),
    "api.import_status": ("POST", "/api/status/import", "import", 200, {"upload": 1}),
    "api.repair_history": (
        "POST",
        "/api/communes/16522/history/{entry}",
        "admin",
        200,
        {"repair": 1},
    ),
    "exports.map_file": ("GET", "/export/map.png?dpi=50", "export", 200, {}),
    "exports.pack_file": ("GET", "/export/pack.pdf?area=16522", "export", 200, {}),
    "downloads.communes": ("GET", "/download/communes.gpkg", "export", 200, {}),
    "exports.check": ("GET", "/api/export/check?what=map_png&dpi=50", "export", 200, {}),
    "admin.import_template_file": ("GET", "/import/template.xlsx", "import", 200, {}),
    "admin.import_guide": ("GET", "/import/guide", "import", 200, {}),
    "admin.index": ("GET", "/admin", "admin", 200, {}),
    "admin.add_user": ("POST", "/admin/users", "admin", 303, {"form": {"role": "staff"}}),
    "admin.update_user": ("POST", "/admin/users/chief", "admin", 303, {"form": {"role": "staff"}}),
    "admin.end_sessions": ("POST", "/admin/users/chief/sessions", "admin", 303, {"form": {}}),
    "admin.assign": (
        "POST",
        "/admin/users/officer/assignments",
        "admin",
        303,
        {"form": {"codes": "14845 16522"}},
    ),
    "admin.audit_csv": ("GET", "/admin/audit.csv", "admin", 200, {}),
    "admin.boundaries_page": ("GET", "/admin/boundaries", "admin", 200, {}),
    "admin.boundaries_upload": (  # the validation report; nothing registered
        "POST",
        "/admin/boundaries",
        "admin",
        200,
        {"zip": 1, "form": {"name": "2026", "valid_from": "2026-01-01"}},
    ),
    "admin.boundaries_accept": (  # a well-formed token of no upload: past the role check, 404
        "POST",
        "/admin/boundaries/accept",
        "admin",
        404,
        {"form": {"token": "0" * 32, "name": "2026", "valid_from": "2026-01-01"}},
    ),
    "admin.import_page GET": ("GET", "/import", "import", 200, {}),
    "admin.import_page POST": ("POST", "/import", "import", 200, {"upload": 1, "form": {}}),
}
PERMISSIONS = {
    "anonymous": set(),
    "commander": {"read", "export"},
    "officer": {"read", "edit_assigned"},
    "staff": {"read", "export", "import"},
    "admin": {"read", "export", "import", "edit_assigned", "admin"},
}


def matrix_keys(app) -> set[str]:
    """Return a key per route and method: the endpoint, with the method when it has several."""
    keys = set()
    for rule in app.url_map.iter_rules():
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for method in methods:
            keys.add(rule.endpoint if len(methods) == 1 else f"{rule.endpoint} {method}")
    return keys


def test_the_matrix_covers_every_route_of_the_app(app):
    assert matrix_keys(app) == set(MATRIX), "add the new route to MATRIX with its permission"
    for key, (method, *_rest) in MATRIX.items():
        assert key.split(" ")[-1] == method or " " not in key, key


def _request(client, app, role: str, endpoint: str, n: int):
    method, url, _perm, _ok, extra = MATRIX[endpoint]
    endpoint = endpoint.split(" ")[0]
    entry = app.extensions["geo_app"].store.history("2025", "16522")[0]["id"]
    url = url.format(key=app.extensions["geo_app"].display().key, entry=entry)
    if method == "GET":
        return client.get(url)
    if role == "anonymous":
        token = re.search(
            r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)
        ).group(1)
    else:
        token = csrf_token(client)
    headers = {"X-CSRFToken": token}
    if "edit" in extra:
        unit = client_as(app, "admin").get("/api/communes/14845").get_json()
        statuses = ["in_progress", "hotspot"]
        body = {
            "status": statuses[n % 2] if unit["status"] != statuses[n % 2] else statuses[1 - n % 2],
            "effective_on": TODAY,
            "note": f"matrix {role}",
            "version": unit["record"]["version"],
        }
        return client.post(url, json=body, headers=headers)
    if "json" in extra:
        return client.post(url, json=extra["json"], headers=headers)
    if "repair" in extra:
        return client.post(url, json={"note": f"matrix {role}"}, headers=headers)
    if "target" in extra:  # tick the unit's first target, or untick it
        unit = client_as(app, "admin").get("/api/communes/14845").get_json()
        first = unit["targets"][0]
        met = None if first["met_on"] else TODAY
        return client.post(url, json={"key": first["key"], "met_on": met}, headers=headers)
    if "login" in extra:
        name = USER_OF.get(role, "admin")
        return client.post(url, data={"username": name, "password": PASSWORD, "csrf_token": token})
    if "zip" in extra:  # a boundary set: the shared Thanh Hóa shapefile, zipped
        upload = {"file": (io.BytesIO(_boundary_zip()), "ranh-gioi.zip")}
        return client.post(url, data={**extra["form"], **upload, "csrf_token": token})
    if "upload" in extra:
        data = f"code,status,notes\n14848,hotspot,matrix {role}\n".encode()
        upload = {"file": (io.BytesIO(data), "m.csv")}
        if "form" in extra:  # the import page's form: the token in the form
            return client.post(url, data={**upload, "csrf_token": token})
        return client.post(url, data=upload, headers=headers)
    form = dict(extra["form"])
    if endpoint == "admin.add_user":
        form.update(username=f"new-{role}", password="a long enough password")
    return client.post(url, data={**form, "csrf_token": token})


@functools.cache
def _boundary_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(THANH_HOA.glob("*.*")):
            if part.suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                zf.write(part, part.name)
    return out.getvalue()


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_role_route_matrix(app, endpoint, tmp_path):
    method, url, permission, ok, _extra = MATRIX[endpoint]
    # uploaded boundary sets wait in the test's own folder, not in the project's instance/
    app.extensions["geo_app"].settings["UPLOAD_DIR"] = str(tmp_path / "uploads")
    app.extensions["geo_app"].settings["BOUNDARY_DIR"] = str(tmp_path / "boundaries")
    for n, role in enumerate(ROLES):
        client = app.test_client() if role == "anonymous" else client_as(app, USER_OF[role])
        with _request(client, app, role, endpoint, n) as r:
            code = r.status_code
            location = r.headers.get("Location", "")
            body = r.get_data()
        if endpoint == "auth.login GET":
            expected = 200 if role == "anonymous" else 302
        elif permission == PUBLIC or permission in PERMISSIONS[role]:
            expected = ok
        elif role == "anonymous":
            expected = 401 if url.startswith("/api/") else 302
        else:
            expected = 403
        assert code == expected, (endpoint, role, code, body[:300])
        if role == "anonymous" and expected == 302 and permission != PUBLIC:
            assert location.startswith("/login"), location
        if expected == 403:
            assert b"Traceback" not in body


# -- CSRF ---------------------------------------------------------------------------------------
def _state(app):
    store = app.extensions["geo_app"].store
    return (
        {c: r.to_dict() for c, r in store.records("2025").items()},
        store.history_count(),
        len(store.audit_entries()),
        [u["username"] for u in store.users()],
    )


@pytest.mark.parametrize("token", [None, "", "wrong-token", "forged.token.value"])
def test_json_edit_without_a_right_csrf_token_is_400_and_writes_nothing(app, token):
    admin = client_as(app, "admin")
    unit = admin.get("/api/communes/14845").get_json()
    before = _state(app)
    headers = {} if token is None else {"X-CSRFToken": token}
    r = admin.post(
        "/api/communes/14845/status",
        json={
            "status": "transformed",
            "effective_on": TODAY,
            "note": "csrf",
            "version": unit["record"]["version"],
        },
        headers=headers,
    )
    assert r.status_code == 400 and r.is_json
    assert "biểu mẫu" in r.get_json()["error"].lower()
    assert _state(app) == before


def test_another_sessions_token_is_refused(app):
    admin = client_as(app, "admin")
    other = client_as(app, "officer")
    before = _state(app)
    r = admin.post(
        "/api/communes/14845/status",
        json={"status": "transformed", "effective_on": TODAY, "note": "x", "version": 1},
        headers={"X-CSRFToken": csrf_token(other)},
    )
    assert r.status_code == 400
    assert _state(app) == before


@pytest.mark.parametrize("token", [None, "wrong"])
def test_forms_without_a_right_csrf_token_are_400_and_write_nothing(app, token):
    admin = client_as(app, "admin")
    before = _state(app)
    extra = {} if token is None else {"csrf_token": token}
    r = admin.post(
        "/admin/users", data={"username": "eve", "role": "admin", "password": "x" * 12, **extra}
    )
    assert r.status_code == 400 and r.mimetype == "text/html"
    r = admin.post("/admin/users/chief", data={"disabled": "1", **extra})
    assert r.status_code == 400
    r = admin.post(
        "/api/status/import",
        data={"file": (io.BytesIO(b"code,status\n14848,hotspot\n"), "x.csv"), **extra},
    )
    assert r.status_code == 400
    assert _state(app) == before
    r = admin.post("/logout", data=extra)
    assert r.status_code == 400
    assert admin.get("/api/me").status_code == 200  # still logged in


def test_login_form_needs_its_csrf_token(app):
    c = app.test_client()
    r = c.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 400
    assert c.get("/api/me").status_code == 401


# -- login ----------------------------------------------------------------------------------------
GENERIC = "The user name or password is wrong, or there were too many attempts. Try again later."


def _message(response) -> str:
    m = re.search(r'id="login-error">([^<]*)<', response.get_data(as_text=True))
    return m.group(1) if m else ""


def test_login_then_logout(app):
    c = app.test_client()
    assert c.get("/").status_code == 302
    r = login(c, "chief")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    me = c.get("/api/me").get_json()
    assert (me["username"], me["role"]) == ("chief", "commander")
    assert me["permissions"] == ["export", "read"] and me["csrf_token"]
    assert c.get("/").status_code == 200
    r = c.post("/logout", data={"csrf_token": me["csrf_token"]})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert c.get("/api/me").status_code == 401
    assert c.get("/").status_code == 302


def test_wrong_name_wrong_password_and_disabled_account_say_the_same(app):
    store = app.extensions["geo_app"].store
    store.update_user("staff", "t", "t", disabled=True)
    answers = []
    for name, password in [("nobody", PASSWORD), ("chief", "wrong password!"), ("staff", PASSWORD)]:
        c = app.test_client()
        r = login(c, name, password, query_string={"lang": "en"})
        assert r.status_code == 401
        answers.append(_message(r))
        assert c.get("/api/me").status_code == 401
    assert answers == [GENERIC] * 3


def test_the_login_limit_per_account_tells_nothing_more(app):
    for _ in range(5):
        r = login(app.test_client(), "chief", "not the password", query_string={"lang": "en"})
        assert r.status_code == 401 and _message(r) == GENERIC
    c = app.test_client()
    r = login(c, "chief", PASSWORD, query_string={"lang": "en"})  # the right password, too late
    assert r.status_code == 429 and _message(r) == GENERIC
    assert c.get("/api/me").status_code == 401
    assert login(app.test_client(), "admin").status_code == 302  # other accounts still can


def test_failures_for_other_accounts_never_block_an_address(app):
    """Everyone behind one proxy or NAT shares an address: 20 failures for other accounts
    from it (or a colleague's bad typing) lock nobody else out."""
    for i in range(20):
        r = login(app.test_client(), f"user{i}", "not the password")
        assert r.status_code == 401
    r = login(app.test_client(), "admin", PASSWORD, query_string={"lang": "en"})
    assert r.status_code == 302


def test_login_page_is_vietnamese_by_default_and_english_on_request(app):
    c = app.test_client()
    vi = c.get("/login").get_data(as_text=True)
    assert '<html lang="vi">' in vi and "Đăng nhập" in vi and "Tên đăng nhập" in vi
    en = c.get("/login?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in en and "Log in" in en and "User name" in en
    r = login(c, "nobody", "x" * 12)
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in _message(r)


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/?lang=en", "/?lang=en"),
        ("/admin", "/admin"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
    ],
)
def test_next_never_leaves_the_site(app, next_url, expected):
    r = login(app.test_client(), "admin", query_string={"next": next_url})
    assert r.status_code == 302 and r.headers["Location"] == expected


def test_a_disabled_account_is_logged_out_at_its_next_request(app):
    officer = client_as(app, "officer")
    assert officer.get("/api/me").status_code == 200
    app.extensions["geo_app"].store.update_user("officer", "admin", "test", disabled=True)
    assert officer.get("/api/me").status_code == 401
    assert officer.get("/").status_code == 302


def test_a_role_change_applies_at_the_next_request(app):
    staff = client_as(app, "staff")
    assert staff.get("/import").status_code == 200
    app.extensions["geo_app"].store.update_user("staff", "admin", "test", role="officer")
    assert staff.get("/import").status_code == 403
    assert staff.get("/api/me").get_json()["role"] == "officer"


# -- cookies and headers --------------------------------------------------------------------------
def test_session_cookie_flags(app):
    r = login(app.test_client(), "admin")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = app.test_client()
    r = login(https, "admin", base_url="https://localhost")
    cookies = r.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("session=")]
    assert session and "Secure" in session[0] and "HttpOnly" in session[0]


@pytest.mark.parametrize("url", ["/", "/login", "/api/summary", "/healthz", "/static/map.js"])
def test_security_headers_on_every_answer(client, url):
    with client.get(url) as r:
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self';" in csp
        assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"


def test_the_map_page_holds_nothing_of_the_user(app):
    """The page is cached per role: no user name and no CSRF token may be in it."""
    a = client_as(app, "admin")
    html = a.get("/").get_data(as_text=True)
    token = csrf_token(a)
    assert token not in html and "admin</" not in html
    assert 'id="logout-csrf" value=""' in html
    officer = client_as(app, "officer").get("/").get_data(as_text=True)
    assert 'id="export-menu"' in html and 'id="export-menu"' not in officer
    assert 'id="admin-link"' in html and 'id="admin-link"' not in officer


def test_me_tells_an_officer_their_units(app):
    me = client_as(app, "officer").get("/api/me").get_json()
    assert me["assigned"] == ["14845", "16522"]
    assert me["permissions"] == ["edit_assigned", "read"]
    assert client_as(app, "officer").get("/api/me").headers["Cache-Control"] == "private, no-store"
