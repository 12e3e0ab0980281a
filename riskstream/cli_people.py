"""`riskstream users add|list` and `riskstream audit verify|show`."""

import os
from typing import Annotated

import typer
from rich.table import Table

from devices.registry import open_database
from riskstream.audit import AuditLog
from riskstream.terminal import command_console
from riskstream.users import ROLES, Role, UserStore

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

    Example: riskstream users add anna --tenant demo-bank --role loan_officer --borrowers b001,b002
    """
    if role not in ROLES:
        err.print(f"[red]error:[/red] --role {role!r}: use one of {', '.join(ROLES)}")
        raise typer.Exit(2)
    password = os.environ.get("RISKSTREAM_NEW_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    portfolio = [b.strip() for b in borrowers.split(",") if b.strip()]
    try:
        UserStore(open_database(db)).add(username, password, tenant, role_of(role), portfolio)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    AuditLog(open_database(db)).record(
        tenant=tenant,
        actor="cli",
        action="user_added",
        target=f"user:{username}",
        detail={"role": role, "portfolio": portfolio},
    )
    console.print(f"user {username} ({role}, tenant {tenant}) saved in {db}")


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
    for user in UserStore(open_database(db)).all_users():
        table.add_row(user.username, user.tenant, user.role, ", ".join(sorted(user.portfolio)))
    console.print(table)


@audit_app.command("verify")
def verify(db: DatabaseOpt = DEFAULT_DB) -> None:
    """Check the audit log's hash chain; exit 1 and name the first broken entry if tampered.

    Example: riskstream audit verify --db riskstream-data/riskstream.db
    """
    result = AuditLog(open_database(db)).verify()
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
