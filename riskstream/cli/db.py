"""`riskstream db status` and `riskstream db upgrade`: the SQL database's schema revision."""

from typing import Annotated

import typer

from devices.registry import shown_url
from riskstream.cli.terminal import command_console
from riskstream.service.database import (
    DatabaseSchemaError,
    connect,
    current_revision,
    head_revision,
    upgrade,
)
from riskstream.service.notify.errors import WebhookKeyError

console = command_console()
err = command_console(stderr=True)
db_app = typer.Typer(help="The SQL database: schema revision and upgrade.", no_args_is_help=True)

DatabaseOpt = Annotated[
    str,
    typer.Option(
        "--db", help="SQL database of registry and alerts (SQLite path or SQLAlchemy URL)"
    ),
]
DEFAULT_DB = "riskstream-data/riskstream.db"


@db_app.command("status")
def status(db: DatabaseOpt = DEFAULT_DB) -> None:
    """Say the database's schema revision and the newest this riskstream knows.

    \b
    Example: riskstream db status --db riskstream-data/riskstream.db
    """
    revision = current_revision(connect(db))
    head = head_revision()
    state = "up to date" if revision == head else "to be upgraded (riskstream db upgrade)"
    shown = f"schema revision {revision or 'none (empty)'}, newest {head}: {state}"
    console.print(f"{shown_url(db)}: {shown}")


@db_app.command("upgrade")
def upgrade_command(db: DatabaseOpt = DEFAULT_DB) -> None:
    """Upgrade the database to the newest schema (the service also does at start).

    Webhook secrets stored in clear by an older riskstream are sealed with the webhook
    key: RISKSTREAM_WEBHOOK_KEY, else webhook.key next to the SQLite database (made if
    there is none), else riskstream-data/webhook.key for a database server.

    \b
    Example: riskstream db upgrade --db riskstream-data/riskstream.db
    """
    try:
        before, after = upgrade(connect(db))
    except (DatabaseSchemaError, WebhookKeyError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    said = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    console.print(f"{shown_url(db)}: {said} schema revision {after}")


def register(app: typer.Typer) -> None:
    """Add the `db` group to the `riskstream` app."""
    app.add_typer(db_app, name="db")
