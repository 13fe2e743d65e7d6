"""The administration page in the page's language: roles, audit actions, times, assignments.

Every action key the code writes to the audit log is found by reading the code (the calls that
write an audit entry, and what their action argument can be); each must have a label, so a new
action cannot reach the page as a raw key.
"""

from __future__ import annotations

import ast
import re
from html import unescape
from pathlib import Path

import pytest
from conftest import client_as, csrf_token

from geo_app import accounts, i18n
from geo_app.outputs import registry
from geo_app.web import admin

GEO_APP = Path(__file__).resolve().parents[1] / "geo_app"
#: The calls that write an audit entry, and where their action argument is.
WRITERS = {"_audit": 2, "audit_event": 1, "audit_export": 0, "AuditEntry": None}


def _called(node: ast.Call) -> str | None:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


class _Finder:
    """Collects the action keys of one module, and the places it could not read."""

    def __init__(self, path: Path):
        self.path = path
        self.tree = ast.parse(path.read_text("utf-8"))
        self.functions = {
            n.name: n
            for n in ast.walk(self.tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.keys: set[str] = set()
        self.unread: list[str] = []

    def run(self) -> None:
        for fn in self.functions.values():
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and _called(node) in WRITERS:
                    arg = self._argument(node, WRITERS[_called(node)])
                    if arg is not None:
                        self._read(arg, fn, node.lineno)

    @staticmethod
    def _argument(call: ast.Call, index: int | None) -> ast.expr | None:
        for kw in call.keywords:
            if kw.arg == "action":
                return kw.value
        if index is not None and len(call.args) > index:
            return call.args[index]
        return None

    def _read(self, expr: ast.expr, fn: ast.FunctionDef, line: int) -> None:
        where = f"{self.path.relative_to(GEO_APP.parent)}:{line}"
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            self.keys.add(expr.value)
        elif isinstance(expr, ast.IfExp):
            self._read(expr.body, fn, line)
            self._read(expr.orelse, fn, line)
        elif isinstance(expr, ast.JoinedStr):  # f"export.{name}": a print export's name
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in expr.values]
            template = "".join(parts)
            if template.count("{}") != 1:
                self.unread.append(where)
                return
            for output in registry.REGISTRY.values():
                if output.group == "print":
                    self.keys.add(template.replace("{}", output.name))
        elif isinstance(expr, ast.Name):
            params = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
            assigned = [
                n.value
                for n in ast.walk(fn)
                if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == expr.id for t in n.targets)
            ]
            if assigned:
                for value in assigned:
                    self._read(value, fn, line)
            elif expr.id not in params:  # a parameter passes on its caller's key: read there
                self.unread.append(where)
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
            helper = self.functions.get(expr.func.id)
            if helper is None:
                self.unread.append(where)
                return
            for n in ast.walk(helper):
                if isinstance(n, ast.Return) and n.value is not None:
                    self._read(n.value, helper, n.lineno)
        else:
            self.unread.append(where)


def written_actions() -> tuple[set[str], list[str]]:
    """Return every audit action key the app's code writes, and the places not understood."""
    keys: set[str] = set()
    unread: list[str] = []
    for path in sorted(GEO_APP.rglob("*.py")):
        finder = _Finder(path)
        finder.run()
        keys |= finder.keys
        unread += finder.unread
    return keys, unread


def test_every_action_the_code_writes_has_a_label():
    keys, unread = written_actions()
    assert not unread, f"audit actions this test cannot read (teach it): {unread}"
    # the reading works: the actions of each door are among those found
    assert {"status.update", "status.create", "auth.login", "user.add", "export.pack"} <= keys
    missing = sorted(keys - set(admin.AUDIT_ACTIONS))
    assert not missing, f"audit actions without a label in geo_app.web.admin: {missing}"
    assert set(admin.AUDIT_ACTIONS) == keys, "labels for actions no code writes"
    assert {k.split(".", 1)[0] for k in keys} <= set(admin.AUDIT_GROUPS)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_label_is_translated(lang):
    labels = [*admin.AUDIT_ACTIONS.values(), *admin.AUDIT_GROUPS.values()]
    labels += list(accounts.ROLE_LABELS.values())
    shown = [i18n.gettext(label, lang) for label in labels]
    assert all(shown)
    if lang == "vi":
        untranslated = [label for label, text in zip(labels, shown, strict=True) if label == text]
        assert not untranslated, untranslated
    assert len(set(shown)) == len(shown), "two labels read the same"
    assert set(accounts.ROLE_LABELS) == set(accounts.ROLES)


def _visible(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_admin_page_speaks_vietnamese(app):
    officer = client_as(app, "officer")  # an audited login, at the frozen 03:00 UTC
    assert officer.get("/api/me").status_code == 200
    html = client_as(app, "admin").get("/admin").get_data(as_text=True)
    row = re.search(r'<tr data-user="officer">.*?</tr>', html, re.S).group(0)
    assert re.search(r'<option value="officer"\s+selected>Cán bộ cơ sở</option>', row)
    # assignments: the unit's name beside its code
    assert re.search(r'data-code="16522"><span class="code">16522</span> Phường Quảng Phú<', row)
    assert ">Xã Mường Lát<" in row.replace("</span> ", ">")
    # the audit log: actions in words, times in Vietnam as dd/mm/yyyy HH:MM
    audit = re.search(r'<table class="table" id="audit">.*?</table>', html, re.S).group(0)
    login = re.search(
        r'<time datetime="[^"]+">([^<]+)</time></td>\s*<td>officer</td>\s*'
        r'<td data-action="auth.login">([^<]+)</td>',
        audit,
    )
    assert login is not None, audit[:2000]
    assert login.groups() == ("30/11/2026 10:00", "Đăng nhập")
    assert "auth.login<" not in audit and ">user.add<" not in html
    assert "UTC" not in _visible(audit)
    # through what: the door in words, an imported file by its name
    assert '<td data-source="web">web</td>' in audit
    assert re.search(r'<td data-source="import:[^"]+">nhập tệp: [^<]+\.csv</td>', audit)
    # the filter offers the actions by name, and takes their keys
    assert '<option value="status.update" >Cập nhật trạng thái</option>' in html
    assert '<optgroup label="Hồ sơ trạng thái">' in html
    assert "Hồ sơ trạng thái: mọi thao tác" in html


def test_the_admin_page_in_english(app):
    html = client_as(app, "admin").get("/admin?lang=en").get_data(as_text=True)
    assert re.search(r'<option value="staff"\s*>Staff</option>', html)
    assert "Administrator" in html and "Logged in" in html
    assert re.search(r">\d{4}-\d\d-\d\d \d\d:\d\d</time>", html)


@pytest.mark.parametrize(
    ("password", "lang", "reason"),
    [
        ("short", "vi", "Mật khẩu phải có ít nhất 10 ký tự."),
        ("short", "en", "the password must have at least 10 characters"),
        ("qwertyuiop", "vi", "Mật khẩu này nằm trong số mật khẩu phổ biến nhất"),
        ("lan.nguyen", "vi", "Mật khẩu không được trùng với tên người dùng."),
    ],
)
def test_password_rule_messages_in_the_pages_language(app, password, lang, reason):
    admin_client = client_as(app, "admin")
    r = admin_client.post(
        f"/admin/users?lang={lang}",
        data={
            "username": "lan.nguyen",
            "role": "officer",
            "password": password,
            "csrf_token": csrf_token(admin_client),
        },
    )
    assert r.status_code == 400 and reason in r.get_data(as_text=True)
    assert "lan.nguyen" not in [u["username"] for u in app.extensions["geo_app"].store.users()]


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"username": "Bad Name", "role": "staff"}, "Tên người dùng 'bad name' không hợp lệ"),
        ({"username": "okname", "role": "king"}, "Vai trò 'king' không tồn tại"),
        ({"username": "chief", "role": "staff"}, "Người dùng chief đã tồn tại."),
    ],
)
def test_other_refusals_in_vietnamese(app, form, reason):
    admin_client = client_as(app, "admin")
    before = app.extensions["geo_app"].store.users()
    r = admin_client.post(
        "/admin/users",
        data={**form, "password": "a long enough password", "csrf_token": csrf_token(admin_client)},
    )
    assert r.status_code in (400, 409) and reason in unescape(r.get_data(as_text=True))
    assert app.extensions["geo_app"].store.users() == before
