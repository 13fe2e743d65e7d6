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
