"""Roles, what each may do, and password hashing (pure rules, no database, no Flask)."""

from __future__ import annotations

import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from geo_app.errors import BadRequest
from geo_app.i18n import N_, gettext

#: Roles and their permissions. An officer may edit only the units assigned to them.
ROLES: dict[str, frozenset[str]] = {
    "commander": frozenset({"read", "export"}),
    "officer": frozenset({"read", "edit_assigned"}),
    "staff": frozenset({"read", "export", "import"}),
    "admin": frozenset({"read", "export", "import", "edit_any", "edit_assigned", "admin"}),
}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10

#: argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane), about 17 ms
#: a verify on the 2-core machines here (the library's default, 64 MiB, t=3, p=4, took 136 to
#: 170 ms and stalled a shift's logins). Hashes made with other parameters are upgraded at the
#: next successful login (`needs_rehash`). Measured: docs/PERFORMANCE.md, "Logins".
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
)
#: A hash checked when the user does not exist, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


#: The name of each role as the pages show it (translated where shown).
ROLE_LABELS: dict[str, str] = {
    "commander": N_("Commander"),
    "officer": N_("Officer"),
    "staff": N_("Staff"),
    "admin": N_("Administrator"),
}

BAD_ROLE = N_("unknown role %(role)s; use one of: %(roles)s")
BAD_USERNAME = N_("invalid user name %(name)s: 2 to 64 lower-case letters, digits, '.', '_' or '-'")
SHORT_PASSWORD = N_("the password must have at least %(n)s characters")
NAME_PASSWORD = N_("the password must not be the user name")
COMMON_PASSWORD = N_(
    "this password is among the most common ones, which are tried first; choose another"
)


class AccountRefused(BadRequest):
    """A user name, role or password breaks the rule; nothing is written. Its message is in
    English (the command line); `text` gives it in the page's language."""

    def __init__(self, msgid: str, **params):
        self.msgid = msgid
        self.params = params
        super().__init__(self.text("en"))

    def text(self, lang: str) -> str:
        """Return the message in `lang` (``vi`` or ``en``)."""
        return gettext(self.msgid, lang, **self.params)


def can(role: str | None, permission: str) -> bool:
    """Tell whether `role` has `permission`."""
    return permission in ROLES.get(role or "", frozenset())


def check_role(role: str) -> str:
    """Return `role` if it exists.

    Raises
    ------
    BadRequest
        Naming the roles that exist.
    """
    if role not in ROLES:
        raise AccountRefused(BAD_ROLE, role=repr(role), roles=", ".join(ROLES))
    return role


def check_username(name: str) -> str:
    """Return `name` if it is a valid user name (lower-case letters, digits, . _ -)."""
    if not USERNAME.match(name or ""):
        raise AccountRefused(BAD_USERNAME, name=repr(name))
    return name


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the 30,000 most common passwords, lower-case.

    The list is zxcvbn's (PyPI ``zxcvbn``, MIT; its ``passwords`` frequency list, drawn from
    Mark Burnett's 10 million password corpus as published by Xato). It is read once per
    process, at the first password set.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


def check_password(password: str, username: str = "") -> str:
    """Return `password` if the password rule takes it.

    The rule: at least `MIN_PASSWORD` characters, not the user's name (case ignored), and not
    one of the common passwords (`common_passwords`, case ignored).

    Raises
    ------
    BadRequest
        Saying which part of the rule the password breaks.
    """
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise AccountRefused(SHORT_PASSWORD, n=MIN_PASSWORD)
    folded = password.strip().lower()
    if username and folded == username.strip().lower():
        raise AccountRefused(NAME_PASSWORD)
    if folded in common_passwords():
        raise AccountRefused(COMMON_PASSWORD)
    return password


def hash_password(password: str, username: str = "") -> str:
    """Return an argon2id hash of `password`, once the password rule takes it.

    Raises
    ------
    BadRequest
        When the password breaks the rule (`check_password`).
    """
    return _hasher.hash(check_password(password, username))


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a stored hash was made with other parameters than today's (or is unreadable)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def rehash(password: str) -> str:
    """Return a hash of `password` with today's parameters (no length rule: it was accepted)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Tell whether `password` matches; takes as long when there is no such user."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
