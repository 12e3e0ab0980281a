"""`riskstream serve` and `riskstream demo`."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError
from rich.live import Live
from rich.markup import escape

from devices.registry import shown_url
from ingest.errors import IngestStalledError
from riskstream.api.app import create_app
from riskstream.cli.demo import (
    DEMO_PASSWORD,
    DEMO_USER,
    SECOND_LENDER,
    SECOND_USER,
    DemoOptions,
    DemoState,
    run_demo,
    second_lender_of,
)
from riskstream.cli.ports import port_problem
from riskstream.cli.summary import render_summary, status_line
from riskstream.cli.terminal import command_console
from riskstream.cluster.errors import ClusterLoginFileError
from riskstream.durations import parse_duration
from riskstream.engine.checkpoint_key import CheckpointKeyError, load_key
from riskstream.engine.platform_key import load_platform_key
from riskstream.errors import RulesFileError
from riskstream.rules.schema import load_rules
from riskstream.service.alert_store import AlertFilter
from riskstream.service.database import DatabaseSchemaError, open_service_database
from riskstream.service.notify.channels import open_webhook_store
from riskstream.service.notify.errors import WebhookKeyError
from riskstream.service.notify.secret_box import configured_webhook_key
from riskstream.service.runtime import Runtime, cluster_login
from riskstream.service.settings import ServiceSettings
from simulator import FleetError, generate_fleet

console = command_console()
err = command_console(stderr=True)

Host = Annotated[str, typer.Option(help="address the HTTP service listens on")]
Port = Annotated[int, typer.Option(help="port of the HTTP service (0: any free port)")]


def _check_rules(rules: Path | None) -> None:
    if rules is None:
        return
    try:
        load_rules(rules)
    except RulesFileError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _check_port(host: str, port: int) -> None:
    """One line and exit 2 when the HTTP port cannot be listened on."""
    problem = port_problem(host, port)
    if problem is not None:
        err.print(
            f"[red]error:[/red] {problem}; choose another with --port "
            "(and --host for another address)",
            soft_wrap=True,
        )
        raise typer.Exit(2)


def serve(
    broker: Annotated[str, typer.Option(help="MQTT broker URL")] = "mqtt://127.0.0.1:1883",
    store: Annotated[str, typer.Option(help="telemetry store URL")] = (
        "duckdb:///riskstream-data/telemetry.duckdb"
    ),
    db: Annotated[str, typer.Option("--db", help="registry and alert database")] = (
        "riskstream-data/riskstream.db"
    ),
    rules: Annotated[Path | None, typer.Option(help="rules file (TOML)")] = None,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    retention: Annotated[
        str | None, typer.Option(help="keep this much telemetry in DuckDB, e.g. 90d")
    ] = None,
    nats: Annotated[
        str | None,
        typer.Option(
            help="NATS cluster URL(s), comma-separated: serve the API and dashboard over "
            "the alerts of the cluster's workers (no ingest, no engine here)"
        ),
    ] = None,
    nats_login: Annotated[
        Path | None,
        typer.Option(
            "--nats-login",
            help="NATS login file of the cluster's api user (DIR/logins/api.json); default: "
            "RISKSTREAM_NATS_USER and RISKSTREAM_NATS_PASSWORD, else no user",
        ),
    ] = None,
) -> None:
    """Run ingest, the risk engine and the HTTP service against a broker.

    Devices must be registered first (riskstream devices import fleet.yaml). With
    --nats, only the HTTP service runs: ingest and risk workers (riskstream worker)
    do the rest, and several such processes may share one PostgreSQL database.

    \b
    Example:
      riskstream serve --broker mqtt://127.0.0.1:1883 --rules \\
        config/rules.toml
    """
    _check_rules(rules)
    try:
        settings = ServiceSettings(
            broker=broker,
            store=store,
            database=db,
            rules=rules,
            host=host,
            port=port,
            retention_s=parse_duration(retention) if retention else None,
            nats=nats,
            nats_login=nats_login,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(f"[red]error:[/red] setting {first['loc'][0]}: {first['msg']}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]error:[/red] --retention: {exc}")
        raise typer.Exit(2) from None
    try:  # a database of a newer riskstream, or a wrong webhook key, stops the start
        engine = open_service_database(
            settings.database, configured_webhook_key(settings.webhook_key)
        )
        try:
            open_webhook_store(engine, settings)
        finally:
            engine.dispose()
    except (DatabaseSchemaError, WebhookKeyError) as exc:
        err.print(f"[red]error:[/red] {shown_url(settings.database)}: {exc}")
        raise typer.Exit(2) from None
    checkpoint = settings.checkpoint_path
    if checkpoint is not None:
        try:  # a key file that cannot be used stops the start: say so in one line
            load_key(settings.checkpoint_key, checkpoint)
            load_platform_key(settings.platform_key, checkpoint)
        except (CheckpointKeyError, ValueError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    try:  # a login file that cannot be used stops the start: say so in one line
        cluster_login(settings)
    except ClusterLoginFileError as exc:
        where = "--nats-login " if settings.nats_login is not None else ""
        err.print(f"[red]error:[/red] {where}{escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    _check_port(host, port)
    source = f"NATS {nats}" if nats else f"broker {broker}"
    console.print(f"riskstream serving on http://{host}:{port}/ ({source})")
    console.print(
        "log in with a user made by: riskstream users add NAME --tenant T --role risk_admin"
    )
    app = create_app(settings=settings)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    runtime = getattr(app.state, "runtime", None)
    if runtime is not None and runtime.ingest_failed:
        err.print(f"[red]error:[/red] {runtime.ingest_failed}")
        raise typer.Exit(1)


STATUS_EVERY_S = 10.0
"""How often the demo writes a status line when its output is not a terminal."""


def _run_demo_or_exit(
    options: DemoOptions, frame: Callable[[Runtime, DemoState, str], None]
) -> Runtime:
    try:
        return asyncio.run(run_demo(options, on_frame=frame))
    except KeyboardInterrupt:
        console.print("stopped.")
        raise typer.Exit(0) from None
    except (OSError, IngestStalledError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _demo_on_screen(options: DemoOptions, began: float) -> Runtime:
    """The demo with a live summary screen (a terminal)."""
    with Live(console=console, refresh_per_second=2, transient=False) as live:

        def frame(runtime: Runtime, state: DemoState, url: str) -> None:
            _, newest = runtime.alerts.query(AlertFilter(), limit=8)
            live.update(
                render_summary(
                    url,
                    runtime.stats(),
                    newest,
                    state.published,
                    time.monotonic() - began,
                    login=f"{DEMO_USER} / {DEMO_PASSWORD}",
                    width=console.width,
                )
            )

        return _run_demo_or_exit(options, frame)


def _demo_as_log_lines(options: DemoOptions, began: float) -> Runtime:
    """The demo for a pipe, a file or a service manager: the URL and login as soon as the
    dashboard answers, then a plain status line every `STATUS_EVERY_S` seconds."""
    next_status: float | None = None

    def frame(runtime: Runtime, state: DemoState, url: str) -> None:
        nonlocal next_status
        now = time.monotonic()
        if next_status is None:
            console.print(f"dashboard {url}  log in {DEMO_USER} / {DEMO_PASSWORD}")
            next_status = now
        if now >= next_status:
            console.print(status_line(runtime.stats(), state.published, now - began))
            next_status = now + STATUS_EVERY_S

    return _run_demo_or_exit(options, frame)


def demo(
    duration: Annotated[
        str | None, typer.Option(help="stop after this long: seconds or 90s, 10m, 1h")
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option(help="use this MQTT broker (mqtt://HOST:PORT) instead of the embedded one"),
    ] = None,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    borrowers: Annotated[
        int, typer.Option(min=1, max=2000, help="borrowers in the demo fleet")
    ] = 20,
    seed: Annotated[int, typer.Option(help="seed of fleet, scenarios and telemetry")] = 7,
    speed: Annotated[
        float, typer.Option(min=1.0, help="event seconds per wall second while replaying")
    ] = 360.0,
    history: Annotated[str, typer.Option(help="how much recent past to replay (e.g. 12h)")] = "12h",
    scenario_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of borrowers hit by a scenario")
    ] = 0.3,
    data_dir: Annotated[
        Path, typer.Option(help="where the demo keeps its files (recreated each run)")
    ] = Path("riskstream-demo"),
    rules: Annotated[Path | None, typer.Option(help="rules file (TOML)")] = None,
    second_lender: Annotated[
        bool,
        typer.Option(
            help=f"add lender {SECOND_LENDER} (user {SECOND_USER}) with one lot of the same "
            "goods: both see pledged_elsewhere"
        ),
    ] = False,
) -> None:
    """Run the whole path on embedded defaults: broker, simulator, ingest, engine, dashboard.

    Replays the last --history of a generated fleet at --speed× with injected risk
    scenarios (ground truth in DATA_DIR/truth.jsonl), then keeps publishing in real time.
    With --second-lender a second lender registers one lot of the same goods under its
    own ids, and both lenders are told it is pledged elsewhere too.

    \b
    Examples:
      riskstream demo
      riskstream demo --duration 120 --port 8080
      riskstream demo --broker mqtt://127.0.0.1:1883 --borrowers 50
    """
    _check_rules(rules)
    try:
        duration_s = parse_duration(duration) if duration is not None else None
        history_s = parse_duration(history)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if broker is not None and not broker.startswith("mqtt://"):
        err.print(f"[red]error:[/red] --broker {broker!r}: expected mqtt://HOST:PORT")
        raise typer.Exit(2)
    _check_port(host, port)
    if second_lender:
        try:
            second_lender_of(generate_fleet(borrowers, seed), seed)
        except FleetError as exc:
            err.print(f"[red]error:[/red] --second-lender: {exc.reason} (use more --borrowers)")
            raise typer.Exit(2) from None
    options = DemoOptions(
        data_dir=data_dir,
        borrowers=borrowers,
        seed=seed,
        speed=speed,
        history_s=history_s,
        scenario_rate=scenario_rate,
        broker=broker,
        host=host,
        port=port,
        duration_s=duration_s,
        rules=rules,
        second_lender=second_lender,
    )
    began = time.monotonic()
    if console.is_terminal:
        runtime = _demo_on_screen(options, began)
    else:
        runtime = _demo_as_log_lines(options, began)
    stats = runtime.stats()
    total, _ = runtime.alerts.query(AlertFilter(), limit=1)
    console.print(
        f"demo finished after {time.monotonic() - began:,.0f} s: "
        f"{stats['readings_total']:,} readings stored, {total} alerts raised; "
        f"files in {data_dir}/ (fleet.yaml, truth.jsonl, telemetry.duckdb, riskstream.db)"
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the `riskstream` app."""
    app.command("serve")(serve)
    app.command("demo")(demo)
