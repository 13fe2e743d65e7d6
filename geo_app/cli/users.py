"""`geo-app users`: accounts, roles and assignments (every change audited)."""

from __future__ import annotations

import sys

import click

from geo_app import accounts, config
from geo_app.cli.common import Context, fail, pass_ctx
from geo_app.errors import GeoAppError


@click.group()
def users() -> None:
    """User accounts (every change is audited)."""


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(sorted(accounts.ROLES)))
@pass_ctx
def users_add(ctx: Context, name: str, role: str) -> None:
    """Create a user; the password is read from a prompt, or from stdin when piped."""
    try:
        accounts.check_username(name)
        password_hash = accounts.hash_password(_read_password(), name)
        ctx.store.add_user(name, password_hash, role, actor="cli", source="cli")
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"user {name} added with role {role}")


@users.command("first-admin")
@pass_ctx
def users_first_admin(ctx: Context) -> None:
    """Create an `admin` account with a random password when there is no user at all.

    The password is printed once and kept in instance/first_admin_password (readable by the
    owner only); change it from the admin page, then delete the file.
    """
    import os
    import secrets

    try:
        if ctx.store.users():
            click.echo("users exist already; no account created")
            return
        password = secrets.token_urlsafe(12)
        ctx.store.add_user(
            "admin",
            accounts.hash_password(password, "admin"),
            "admin",
            actor="cli",
            source="cli:first-admin",
        )
    except GeoAppError as exc:
        fail(exc, False)
    path = config.INSTANCE_DIR / "first_admin_password"
    config.make_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    click.echo(
        f"created the account admin with password {password} (also in {path}); "
        "change it on the admin page"
    )


@users.command("list")
@pass_ctx
def users_list(ctx: Context) -> None:
    """List users with their role and state."""
    try:
        rows = ctx.store.users()
    except GeoAppError as exc:
        fail(exc, False)
    for u in rows:
        state = "disabled" if u["disabled"] else "active"
        click.echo(f"{u['username']:<24} {u['role']:<10} {state}")


@users.command("disable")
@click.argument("name")
@pass_ctx
def users_disable(ctx: Context, name: str) -> None:
    """Disable a user: they can no longer log in."""
    try:
        ctx.store.update_user(name, actor="cli", source="cli", disabled=True)
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"user {name} disabled")


@users.command("assign")
@click.argument("name")
@click.argument("codes", nargs=-1)
@pass_ctx
def users_assign(ctx: Context, name: str, codes: tuple[str, ...]) -> None:
    """Set the units an officer may edit (replaces their current list)."""
    try:
        if ctx.store.user(name) is None:
            raise GeoAppError(f"no user named {name!r}")
        known = {u.code for u in ctx.units()}
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise GeoAppError(f"unknown unit code(s): {', '.join(unknown)}")
        ctx.store.set_assignments(
            name, ctx.settings["DIVISION"], list(codes), actor="cli", source="cli"
        )
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"{name} is assigned {len(codes)} unit(s)")


@users.command("password")
@click.argument("name")
@pass_ctx
def users_password(ctx: Context, name: str) -> None:
    """Set a user's password (from a prompt, or stdin when piped); every session of the user
    ends."""
    try:
        if ctx.store.user(name) is None:
            raise GeoAppError(f"no user named {name!r}")
        password_hash = accounts.hash_password(_read_password(), name)
        ctx.store.update_user(name, actor="cli", source="cli", password_hash=password_hash)
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"password of {name} changed; every session of {name} has ended")


@users.command("end-sessions")
@click.argument("name")
@pass_ctx
def users_end_sessions(ctx: Context, name: str) -> None:
    """End every login session of a user (they log in again)."""
    try:
        n = ctx.store.end_sessions(name, actor="cli", source="cli")
    except GeoAppError as exc:
        fail(exc, False)
    click.echo(f"{n} session(s) of {name} ended")
