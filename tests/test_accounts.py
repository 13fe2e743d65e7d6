import pytest

from geo_app import accounts
from geo_app.errors import BadRequest, NotFound
from geo_app.store import Conflict


def test_roles_and_permissions():
    assert accounts.can("commander", "export") and not accounts.can("commander", "import")
    assert accounts.can("staff", "import") and not accounts.can("staff", "edit_assigned")
    assert accounts.can("officer", "edit_assigned") and not accounts.can("officer", "export")
    assert all(accounts.can("admin", p) for p in ("admin", "import", "export", "edit_any"))
    assert not accounts.can(None, "read") and not accounts.can("nobody", "read")
    with pytest.raises(BadRequest, match="commander"):
        accounts.check_role("boss")


def test_passwords_are_hashed_and_checked():
    h = accounts.hash_password("correct horse battery")
    assert h.startswith("$argon2id$") and "correct" not in h
    assert accounts.verify_password(h, "correct horse battery")
    assert not accounts.verify_password(h, "wrong password!")
    assert not accounts.verify_password(None, "anything at all")
    with pytest.raises(BadRequest, match="at least"):
        accounts.hash_password("short")


def test_user_administration_is_audited(store):
    h = accounts.hash_password("a long password")
    store.add_user("nguyen.van.a", h, "officer", actor="admin", source="cli")
    with pytest.raises(Conflict):
        store.add_user("nguyen.van.a", h, "officer", actor="admin", source="cli")
    store.set_assignments("nguyen.van.a", "2025", ["16522", "16417"], actor="admin", source="web")
    assert store.assignments("nguyen.van.a", "2025") == {"16522", "16417"}
    store.set_assignments("nguyen.van.a", "2025", ["16417"], actor="admin", source="web")
    assert store.assignments("nguyen.van.a", "2025") == {"16417"}
    store.update_user("nguyen.van.a", actor="admin", source="cli", disabled=True)
    assert store.user("nguyen.van.a")["disabled"] is True
    with pytest.raises(NotFound):
        store.update_user("ghost", actor="admin", source="cli", disabled=True)
    actions = [a["action"] for a in store.audit_entries()]
    assert actions == ["user.disable", "user.assign", "user.assign", "user.add"]
    assert all("password" not in str(a["details"]) for a in store.audit_entries())


def test_users_cli(tmp_path, monkeypatch, thanh_hoa):
    from click.testing import CliRunner

    from geo_app.cli import main

    monkeypatch.setenv("GEO_APP_DATABASE_URL", f"sqlite:///{tmp_path / 'u.sqlite3'}")
    monkeypatch.setenv("GEO_APP_BOUNDARIES", str(thanh_hoa))
    run = CliRunner().invoke
    assert run(main, ["db", "upgrade"]).exit_code == 0
    r = run(main, ["users", "add", "chi.huy", "--role", "commander"], input="a long password\n")
    assert r.exit_code == 0, r.output
    r = run(main, ["users", "add", "chi.huy", "--role", "commander"], input="a long password\n")
    assert r.exit_code == 1 and "already exists" in r.output
    r = run(main, ["users", "add", "x", "--role", "commander"], input="a long password\n")
    assert r.exit_code == 1 and "invalid user name" in r.output
    r = run(main, ["users", "add", "can.bo", "--role", "officer"], input="short\n")
    assert r.exit_code == 1 and "at least" in r.output
    r = run(main, ["users", "add", "can.bo", "--role", "king"], input="a long password\n")
    assert r.exit_code == 2
    assert (
        run(
            main, ["users", "add", "can.bo", "--role", "officer"], input="another long one\n"
        ).exit_code
        == 0
    )
    r = run(main, ["users", "assign", "can.bo", "16522", "99999"])
    assert r.exit_code == 1 and "99999" in r.output
    assert run(main, ["users", "assign", "can.bo", "16522"]).exit_code == 0
    assert run(main, ["users", "disable", "chi.huy"]).exit_code == 0
    r = run(main, ["users", "list"])
    assert "chi.huy" in r.output and "disabled" in r.output and "can.bo" in r.output
    assert run(main, ["users", "disable", "ghost"]).exit_code == 1


def test_first_admin_is_made_once_with_a_private_password(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from geo_app import accounts
    from geo_app.cli import main
    from geo_app.store import Store

    url = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    monkeypatch.setenv("GEO_APP_DATABASE_URL", url)
    monkeypatch.setattr("geo_app.config.INSTANCE_DIR", tmp_path / "instance")
    run = CliRunner().invoke
    assert run(main, ["db", "upgrade"]).exit_code == 0
    r = run(main, ["users", "first-admin"])
    assert r.exit_code == 0 and "created the account admin" in r.output
    secret = tmp_path / "instance" / "first_admin_password"
    password = secret.read_text().strip()
    assert secret.stat().st_mode & 0o077 == 0 and password in r.output
    store = Store(url)
    user = store.user("admin")
    assert user["role"] == "admin" and accounts.verify_password(user["password_hash"], password)
    r = run(main, ["users", "first-admin"])
    assert "users exist already" in r.output
    assert len(store.users()) == 1
    store.dispose()


def test_hashes_use_owasp_minimum_argon2id_parameters_or_above():
    from argon2 import extract_parameters

    params = extract_parameters(accounts.hash_password("correct horse battery"))
    assert params.type.name == "ID"
    # OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 at the least
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2 and params.parallelism >= 1
    assert not accounts.needs_rehash(accounts.hash_password("correct horse battery"))
    assert accounts.needs_rehash("not a hash at all")


def test_a_hash_made_with_older_parameters_is_upgraded_at_the_next_login(app):
    from argon2 import PasswordHasher, extract_parameters
    from conftest import login

    store = app.extensions["geo_app"].store
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("an old password!")
    store.add_user("old.timer", old, "commander", actor="test", source="test")
    assert accounts.needs_rehash(old)

    c = app.test_client()
    assert login(c, "old.timer", "wrong password!").status_code == 401
    assert store.user("old.timer")["password_hash"] == old  # a failed login changes nothing
    assert login(c, "old.timer", "an old password!").status_code == 302
    new = store.user("old.timer")["password_hash"]
    assert new != old and not accounts.needs_rehash(new)
    assert extract_parameters(new).memory_cost == accounts.ARGON2_MEMORY_KIB
    assert accounts.verify_password(new, "an old password!")
    # not a change of password: nothing in the audit log for it
    audited = [e["action"] for e in store.audit_entries(target="old.timer")]
    assert [a for a in audited if not a.startswith("auth.")] == ["user.add"]
    c2 = app.test_client()
    assert login(c2, "old.timer", "an old password!").status_code == 302
    assert store.user("old.timer")["password_hash"] == new  # current hashes are kept
