"""The `riskstream` command."""

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from devices.errors import FleetFileError, SparkplugGroupError
from devices.fleet_file import load_fleet
from devices.registry import Registry, shown_url
from riskstream.cli.terminal import command_console
from riskstream.cluster.errors import (
    ClusterLoginRefusedError,
    ClusterSettingsError,
    ClusterUnreachableError,
)
from riskstream.errors import RulesFileError
from riskstream.rules.schema import load_rules
from riskstream.service.database import DatabaseUnavailableError, open_service_database


class _Commands(TyperGroup):
    """The root command: a database that cannot be opened, or a NATS cluster that does not
    answer, refuses the login or lacks what riskstream needs, is one line and exit code 2,
    whichever subcommand met it."""

    def invoke(self, ctx: Any) -> Any:  # click's Context, vendored by newer typer
        try:
            return super().invoke(ctx)
        except (
            DatabaseUnavailableError,
            ClusterUnreachableError,
            ClusterLoginRefusedError,
            ClusterSettingsError,
        ) as exc:
            command_console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None


app = typer.Typer(
    help="Live credit risk from the collateral itself: telemetry in, explained alerts out.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=_Commands,
)
devices_app = typer.Typer(help="The device registry: import and list fleets.", no_args_is_help=True)
rules_app = typer.Typer(help="Rules files: validate before you deploy.", no_args_is_help=True)
simulate_app = typer.Typer(help="Simulated fleets and their telemetry.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(rules_app, name="rules")
app.add_typer(simulate_app, name="simulate")

console = command_console()
err = command_console(stderr=True)

DatabaseOpt = Annotated[
    str,
    typer.Option(
        "--db", help="SQL database of registry and alerts (SQLite path or SQLAlchemy URL)"
    ),
]
DEFAULT_DB = "riskstream-data/riskstream.db"


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


@devices_app.command("import")
def devices_import(
    file: Annotated[Path, typer.Argument(help="fleet file (YAML)")],
    db: DatabaseOpt = DEFAULT_DB,
) -> None:
    """Import a fleet file into the registry, replacing the tenant's previous fleet.

    \b
    Example:
      riskstream devices import fleet.yaml --db \\
        riskstream-data/riskstream.db
    """
    try:
        fleet = load_fleet(file)
    except FleetFileError as exc:
        raise _fail(str(exc)) from None
    try:
        Registry(open_service_database(db)).import_fleet(fleet)
    except SparkplugGroupError as exc:
        raise _fail(f"{file}: sparkplug.group: {exc}") from None
    n_devices = len(fleet.devices())
    console.print(
        f"imported tenant [bold]{fleet.tenant.id}[/bold]: {len(fleet.borrowers)} borrowers, "
        f"{n_devices} devices → {shown_url(db)}"
    )


@devices_app.command("list")
def devices_list(
    db: DatabaseOpt = DEFAULT_DB,
    tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
) -> None:
    """List registered devices.

    \b
    Example:
      riskstream devices list --tenant demo-bank
    """
    rows = Registry(open_service_database(db)).device_rows(tenant)
    table = Table("device", "tenant", "borrower", "kind", "site", "collateral", "interval (s)")
    for r in rows:
        table.add_row(
            r.id,
            r.tenant,
            r.borrower_id,
            r.kind,
            r.site_id,
            r.collateral_id or "–",
            f"{r.interval_s:g}",
        )
    console.print(table)
    console.print(f"{len(rows)} devices")


@rules_app.command("check")
def rules_check(file: Annotated[Path, typer.Argument(help="rules file (TOML)")]) -> None:
    """Validate a rules file; errors name the file, line and field.

    \b
    Example:
      riskstream rules check config/rules.toml
    """
    try:
        rules = load_rules(file)
    except RulesFileError as exc:
        raise _fail(str(exc)) from None
    enabled = [name for name, rule in rules.rules if getattr(rule, "enabled", False)]
    console.print(f"{file}: ok ({len(enabled)} rules enabled: {', '.join(enabled)})")
    calendar = rules.calendar
    console.print(
        f"calendar: {len(calendar.holidays)} holidays of every site, own lists for "
        f"{len(calendar.by_timezone)} timezones"
    )


def _register_other_commands() -> None:
    # Imported here so `riskstream --help` stays fast and each module stays small.
    from riskstream.cli import bench as cli_bench
    from riskstream.cli import cluster as cli_cluster
    from riskstream.cli import db as cli_db
    from riskstream.cli import ingest as cli_ingest
    from riskstream.cli import people as cli_people
    from riskstream.cli import run as cli_run
    from riskstream.cli import simulate as cli_simulate
    from riskstream.cli import worker as cli_worker

    cli_run.register(app)
    cli_db.register(app)
    cli_ingest.register(app)
    cli_people.register(app)
    cli_simulate.register(simulate_app)
    cli_bench.register(app)
    cli_cluster.register(app)
    cli_worker.register(app)
    from riskstream.cli import backtest as cli_backtest

    cli_backtest.register(app)


_registered = False


def build_app() -> typer.Typer:
    """The `riskstream` app with every subcommand registered (once)."""
    global _registered
    if not _registered:
        _register_other_commands()
        _registered = True
    return app


def main() -> None:
    """Entry point of the console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    build_app()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
