"""`riskstream users add|list|passwd|remove` and `riskstream audit verify|show`."""

import os
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from devices.registry import shown_url
from riskstream.cli.terminal import command_console
from riskstream.service.audit import AuditLog
from riskstream.service.database import open_service_database
from riskstream.service.users import ROLES, Role, UnknownUserError, UserStore

console = command_console()
err = command_console(stderr=True)
users_app = typer.Typer(help="People who use the service, and their roles.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

DatabaseOpt = Annotated[
    str, typer.Option("--db", help="SQL database (SQLite path or SQLAlchemy URL)")
]
DEFAULT_DB = "riskstream-data/riskstream.db"


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="login name")],
    tenant: Annotated[str, typer.Option(help="the lender this user works for")],
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
    borrowers: Annotated[
        str, typer.Option(help="comma list of borrower ids: a loan officer's portfolio")
    ] = "",
    db: DatabaseOpt = DEFAULT_DB,
) -> None:
    """Create or replace a user. The password comes from RISKSTREAM_NEW_PASSWORD or a prompt.

    Replacing a user ends all its sessions (its tokens stop working at once).

    \b
    Example:
      riskstream users add anna --tenant demo-bank --role loan_officer \\
        --borrowers b001,b002
    """
    if role not in ROLES:
        err.print(f"[red]error:[/red] --role {role!r}: use one of {', '.join(ROLES)}")
        raise typer.Exit(2)
    password = new_password()
    portfolio = [b.strip() for b in borrowers.split(",") if b.strip()]
    try:
        ended = UserStore(open_service_database(db)).add(
            username, password, tenant, role_of(role), portfolio
        )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    AuditLog(open_service_database(db)).record(
        tenant=tenant,
        actor="cli",
        action="user_added",
        target=f"user:{username}",
        detail={"role": role, "portfolio": portfolio, "sessions_ended": ended},
    )
    where = shown_url(db)
    console.print(f"user {username} ({role}, tenant {tenant}) saved in {where}{_ended(ended)}")


def new_password() -> str:
    """The password from RISKSTREAM_NEW_PASSWORD, else asked twice on the terminal."""
    return os.environ.get("RISKSTREAM_NEW_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )


def _no_such_user(username: str, db: str) -> NoReturn:
    err.print(
        f"[red]error:[/red] no user {escape(repr(username))} in {shown_url(db)}; "
        "see: riskstream users list"
    )
    raise typer.Exit(1)


def _ended(count: int) -> str:
    return f"; {count} session(s) ended" if count else ""


@users_app.command("passwd")
def passwd(
    username: Annotated[str, typer.Argument(help="login name")],
    db: DatabaseOpt = DEFAULT_DB,
) -> None:
    """Set a user's password and end all its sessions (audited). The password comes from
    RISKSTREAM_NEW_PASSWORD or a prompt.

    \b
    Example:
      riskstream users passwd anna
    """
    users = UserStore(open_service_database(db))
    user = users.get(username)
    if user is None:
        _no_such_user(username, db)
    try:
        ended = users.set_password(username, new_password())
    except UnknownUserError:
        err.print(f"[red]error:[/red] user {escape(repr(username))} was removed meanwhile")
        raise typer.Exit(1) from None
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    AuditLog(open_service_database(db)).record(
        tenant=user.tenant,
        actor="cli",
        action="password_changed",
        target=f"user:{username}",
        detail={"sessions_ended": ended},
    )
    console.print(f"password of {username} changed in {shown_url(db)}{_ended(ended)}")


@users_app.command("remove")
def remove(
    username: Annotated[str, typer.Argument(help="login name")],
    db: DatabaseOpt = DEFAULT_DB,
) -> None:
    """Remove a user; its tokens stop working at once (audited).

    \b
    Example:
      riskstream users remove anna
    """
    user = UserStore(open_service_database(db)).remove(username)
    if user is None:
        _no_such_user(username, db)
    AuditLog(open_service_database(db)).record(
        tenant=user.tenant,
        actor="cli",
        action="user_removed",
        target=f"user:{username}",
        detail={"role": user.role},
    )
    where = shown_url(db)
    console.print(f"user {username} ({user.role}, tenant {user.tenant}) removed from {where}")


def role_of(text: str) -> Role:
    """The role named ``text`` (checked against `ROLES`)."""
    for role in ROLES:
        if role == text:
            return role
    raise ValueError(f"unknown role {text!r}")


@users_app.command("list")
def list_users(db: DatabaseOpt = DEFAULT_DB) -> None:
    """List users with their tenant, role and portfolio."""
    table = Table("user", "tenant", "role", "portfolio")
    for user in UserStore(open_service_database(db)).all_users():
        table.add_row(user.username, user.tenant, user.role, ", ".join(sorted(user.portfolio)))
    console.print(table)


@audit_app.command("verify")
def verify(db: DatabaseOpt = DEFAULT_DB) -> None:
    """Check the audit log's hash chain; exit 1 and name the first broken entry if tampered.

    \b
    Example:
      riskstream audit verify --db riskstream-data/riskstream.db
    """
    result = AuditLog(open_service_database(db)).verify()
    if result.ok:
        console.print(f"audit log intact: {result.entries} entries, hash chain verified")
        return
    err.print(
        f"[red]audit log tampered:[/red] entry {result.first_broken} does not match the "
        f"hash chain ({result.entries} entries read)"
    )
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `users` and `audit` to the `riskstream` app."""
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
