"""`riskstream worker ingest` and `riskstream worker risk`: the workers of a NATS cluster."""

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry

from devices.registry import Registry
from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.stores import open_store
from riskstream.cli.terminal import command_console
from riskstream.cluster.errors import ClusterLoginFileError
from riskstream.cluster.ingest_worker import IngestWorker, IngestWorkerConfig
from riskstream.cluster.logins import (
    PASSWORD_ENV,
    USER_ENV,
    NatsLogin,
    login_from_environment,
    read_login,
)
from riskstream.cluster.risk_worker import RiskWorker, RiskWorkerConfig
from riskstream.engine.checkpoint_key import ENV_VAR, MIN_KEY_CHARS
from riskstream.errors import RulesFileError
from riskstream.rules.history import RulesHistory
from riskstream.rules.lender import LenderRules
from riskstream.rules.schema import RuleSet, load_rules
from riskstream.service.audit import AuditLog
from riskstream.service.database import open_service_database

console = command_console()
err = command_console(stderr=True)
worker_app = typer.Typer(
    help="Workers of a NATS JetStream cluster (see riskstream cluster up).",
    no_args_is_help=True,
)

Nats = Annotated[str, typer.Option("--nats", help="NATS URL(s) of the cluster, comma-separated")]
Database = Annotated[
    str, typer.Option("--db", help="registry database (the API tier's, e.g. PostgreSQL)")
]
NatsLoginFile = Annotated[
    Path | None,
    typer.Option(
        "--nats-login",
        help=f"NATS login file (riskstream cluster up writes DIR/logins/ROLE.json); "
        f"default: {USER_ENV} and {PASSWORD_ENV}, else no user",
    ),
]
WorkerId = Annotated[
    str | None, typer.Option(help="this worker's name in the leases (default: random)")
]
DEFAULT_DB = "riskstream-data/riskstream.db"
STATUS_EVERY_S = 10.0


def _log_partitions() -> None:
    """Say which partitions the worker takes, hands back or loses (INFO of the cluster)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("riskstream.cluster").setLevel(logging.INFO)


def _servers(nats: str) -> list[str]:
    return [u.strip() for u in nats.split(",") if u.strip()]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(2)


def nats_login(path: Path | None) -> NatsLogin | None:
    """The login of ``--nats-login``, else of the environment, else None; one line and
    exit 2 when it cannot be used."""
    try:
        return read_login(path) if path is not None else login_from_environment()
    except ClusterLoginFileError as exc:
        raise _fail(f"--nats-login {exc}" if path is not None else str(exc)) from None


async def _run_until_signal(worker: IngestWorker | RiskWorker, status: Callable[[], str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(worker.run(stop))
    while not task.done():
        await asyncio.wait({task}, timeout=STATUS_EVERY_S)
        if not task.done():
            console.print(status(), soft_wrap=True)
    await task


@worker_app.command("ingest")
def ingest(
    nats: Nats,
    store: Annotated[str, typer.Option(help="telemetry store URL")] = (
        "duckdb:///riskstream-data/telemetry.duckdb"
    ),
    db: Database = DEFAULT_DB,
    deadletter: Annotated[Path | None, typer.Option(help="dead-letter JSON-lines file")] = Path(
        "riskstream-data/deadletter.jsonl"
    ),
    worker_id: WorkerId = None,
    login_file: NatsLoginFile = None,
) -> None:
    """Validate and store device messages of the ingest partitions this worker owns,
    and hand the readings to the risk workers.

    \b
    Example:
      riskstream worker ingest --nats nats://127.0.0.1:4222 \\
        --db postgresql+psycopg://rs@127.0.0.1/rs --store victoriametrics://...
    """
    _log_partitions()
    login = nats_login(login_file)
    fleets = Registry(open_service_database(db)).fleets()
    config = IngestWorkerConfig(
        fleets=fleets,
        store=open_store(store),
        deadletter=DeadLetterStore(deadletter),
        metrics=IngestMetrics.create(CollectorRegistry()),
        login=login,
    )
    if worker_id:
        config.worker_id = worker_id
    worker = IngestWorker(_servers(nats), config)
    began = time.monotonic()
    console.print(f"ingest worker {worker.worker_id}: {len(fleets)} lenders, NATS {nats}")

    def status() -> str:
        return (
            f"ingest worker {worker.worker_id}: {time.monotonic() - began:,.0f} s, "
            f"partitions {sorted(worker.tasks)}, {worker.messages_handled:,} messages, "
            f"{worker.readings_stored:,} readings stored; QoS 0 messages: "
            f"{worker.qos0.relayed:,} relayed, {worker.qos0.dropped:,} dropped"
        )

    try:
        asyncio.run(_run_until_signal(worker, status))
    finally:
        config.store.close()
        config.deadletter.close()
    console.print(status())


def _rules(rules: Path | None) -> RuleSet:
    try:
        return load_rules(rules) if rules is not None else RuleSet()
    except RulesFileError as exc:
        raise _fail(str(exc)) from None


def _checkpoint_key() -> bytes:
    text = os.environ.get(ENV_VAR, "").strip()
    if len(text) < MIN_KEY_CHARS:
        raise _fail(
            f"set {ENV_VAR} to the cluster's checkpoint key (at least {MIN_KEY_CHARS} "
            "characters, the same in every risk worker; e.g. openssl rand -hex 32)"
        )
    return text.encode()


@worker_app.command("risk")
def risk(
    nats: Nats,
    db: Database = DEFAULT_DB,
    rules: Annotated[Path | None, typer.Option(help="rules file (TOML)")] = None,
    checkpoint_every: Annotated[
        float, typer.Option(help="seconds between checkpoints of each partition")
    ] = 30.0,
    worker_id: WorkerId = None,
    login_file: NatsLoginFile = None,
) -> None:
    """Run the risk engine over the partitions this worker owns; alert changes go to
    the cluster's alerts stream. The checkpoint key comes from RISKSTREAM_CHECKPOINT_KEY.

    \b
    Example:
      RISKSTREAM_CHECKPOINT_KEY=$(cat cluster.key) riskstream worker risk \\
        --nats nats://127.0.0.1:4222 --db postgresql+psycopg://rs@127.0.0.1/rs
    """
    _log_partitions()
    login = nats_login(login_file)
    key = _checkpoint_key()
    ruleset = _rules(rules)
    engine = open_service_database(db)
    registry = Registry(engine)
    lender_rules = LenderRules(RulesHistory(engine), AuditLog(engine))
    config = RiskWorkerConfig(
        fleets=registry.fleets(),
        rules=ruleset,
        own_rules=dict(lender_rules.rulesets),
        checkpoint_key=key,
        checkpoint_every_s=checkpoint_every,
        login=login,
    )
    if worker_id:
        config.worker_id = worker_id
    worker = RiskWorker(_servers(nats), config)
    began = time.monotonic()
    console.print(f"risk worker {worker.worker_id}: {len(config.fleets)} lenders, NATS {nats}")

    def status() -> str:
        return (
            f"risk worker {worker.worker_id}: {time.monotonic() - began:,.0f} s, "
            f"partitions {sorted(worker.owned)}, {worker.messages_applied:,} messages, "
            f"{worker.alerts_published:,} alert changes"
        )

    asyncio.run(_run_until_signal(worker, status))
    console.print(status())


def register(app: typer.Typer) -> None:
    """Add the `worker` group to the `riskstream` app."""
    app.add_typer(worker_app, name="worker")
