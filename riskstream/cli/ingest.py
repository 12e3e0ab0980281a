"""`riskstream ingest`: MQTT to the telemetry store, nothing else."""

import asyncio
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry

from devices.errors import FleetFileError, SparkplugGroupError, TopicError
from devices.fleet_file import load_fleet
from devices.registry import Registry
from devices.sparkplug.host_state import state_topic
from devices.sparkplug.mapping import SparkplugMap, sparkplug_map
from ingest.codec import event_time
from ingest.deadletter import (
    DEFAULT_FILES,
    DEFAULT_MAX_FILE_BYTES,
    MAX_KEPT_BYTES,
    DeadLetterLimits,
)
from ingest.device_table import device_table
from ingest.errors import IngestStalledError, RejectedInputError, StoreURLError
from ingest.pipeline import DeviceAuth
from ingest.probe_server import start_probe_server
from ingest.readiness import ingest_readiness
from ingest.service import IngestSettings, run_ingest
from ingest.stores import StoreUnavailableError
from ingest.subscriber import BrokerAddress, IngestRunner, MqttOptions
from riskstream.cli.terminal import command_console
from riskstream.durations import parse_duration
from riskstream.service.database import open_service_database

console = command_console(stderr=True)


def ingest(
    broker: Annotated[str, typer.Option(help="MQTT broker, mqtt://HOST:PORT or mqtts://")],
    store: Annotated[str, typer.Option(help="telemetry store URL")] = (
        "duckdb:///riskstream-data/telemetry.duckdb"
    ),
    fleet: Annotated[
        Path | None, typer.Option(help="fleet file of the devices allowed to publish")
    ] = None,
    db: Annotated[
        str, typer.Option("--db", help="registry database, used when --fleet is not given")
    ] = "riskstream-data/riskstream.db",
    client_id: Annotated[str, typer.Option(help="stable MQTT client id (persistent session)")] = (
        "riskstream-ingest"
    ),
    share_group: Annotated[
        str | None,
        typer.Option(help="MQTT shared subscription group, to split load over processes"),
    ] = None,
    protocol: Annotated[str, typer.Option(help="MQTT protocol: 3.1.1 or 5")] = "3.1.1",
    username: Annotated[
        str | None, typer.Option(help="MQTT user; password from RISKSTREAM_MQTT_PASSWORD")
    ] = None,
    tls_ca: Annotated[Path | None, typer.Option(help="CA certificate file for mqtts://")] = None,
    deadletter: Annotated[Path, typer.Option(help="dead-letter file (JSON lines)")] = Path(
        "riskstream-data/deadletter.jsonl"
    ),
    spool_dir: Annotated[
        Path, typer.Option(help="where batches wait while a store server is down")
    ] = Path("riskstream-data/spool"),
    retention: Annotated[
        str | None, typer.Option(help="keep this much telemetry in DuckDB, e.g. 90d")
    ] = None,
    deadletter_max_bytes: Annotated[
        int, typer.Option(min=4096, help="rotate the dead-letter file at this size (bytes)")
    ] = DEFAULT_MAX_FILE_BYTES,
    deadletter_files: Annotated[
        int, typer.Option(min=1, help="dead-letter files kept, the current one included")
    ] = DEFAULT_FILES,
    deadletter_payload_bytes: Annotated[
        int, typer.Option(min=0, help="cut each dead-lettered payload to this many bytes")
    ] = MAX_KEPT_BYTES,
    oldest: Annotated[
        str,
        typer.Option(help="refuse readings older than this: RFC 3339 time or epoch seconds"),
    ] = "2000-01-01T00:00:00Z",
    sparkplug_host_id: Annotated[
        str,
        typer.Option(
            help="Sparkplug Primary Host id: STATE on spBv1.0/STATE/ID (online retained, "
            "offline as the MQTT will); '' for none"
        ),
    ] = "riskstream",
    sparkplug_sessions: Annotated[
        Path | None,
        typer.Option(
            help="file keeping Sparkplug sessions across restarts "
            "[default: sparkplug-sessions.sqlite beside --spool-dir]"
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="serve Prometheus /metrics and /healthz, /readyz on 127.0.0.1:PORT"),
    ] = None,
) -> None:
    """Collect telemetry from MQTT into the store; SIGINT/SIGTERM flush, close and exit 0.

    \b
    Examples:
      riskstream ingest --broker mqtt://localhost:1883 --store \\
        duckdb:///t.duckdb --fleet f.yaml
      riskstream ingest --broker mqtt://10.0.0.5:1883 --share-group ingest \\
        --client-id ingest-2
    """
    if protocol not in ("3.1.1", "5"):
        console.print(f"[red]error:[/red] --protocol {protocol!r}: use 3.1.1 or 5")
        raise typer.Exit(2)
    try:
        BrokerAddress.parse(broker)
        fleets = (
            [load_fleet(fleet)]
            if fleet is not None
            else Registry(open_service_database(db)).fleets()
        )
    except (ValueError, FleetFileError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        limits = DeadLetterLimits(deadletter_max_bytes, deadletter_files, deadletter_payload_bytes)
        oldest_ts = _epoch(oldest)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if sparkplug_host_id:
        try:
            state_topic(sparkplug_host_id)
        except TopicError as exc:
            console.print(f"[red]error:[/red] --sparkplug-host-id: {exc}")
            raise typer.Exit(2) from None
    devices = device_table(fleets)
    try:
        sparkplug = sparkplug_map(fleets)
    except SparkplugGroupError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if not devices:
        console.print("[red]error:[/red] no devices registered: give --fleet FILE or import one")
        raise typer.Exit(2)
    settings = IngestSettings(
        broker=broker,
        store=store,
        deadletter=deadletter,
        deadletter_limits=limits,
        oldest_ts=oldest_ts,
        spool_dir=spool_dir,
        sparkplug_sessions=sparkplug_sessions,
        retention_s=_seconds(retention),
        mqtt=MqttOptions(
            client_id=client_id,
            share_group=share_group,
            protocol=protocol,
            username=username,
            password=os.environ.get("RISKSTREAM_MQTT_PASSWORD"),
            tls_ca=str(tls_ca) if tls_ca else None,
            sparkplug_host_id=sparkplug_host_id or None,
        ),
    )
    registry = CollectorRegistry()
    runners: list[IngestRunner] = []
    failures: list[str] = []
    probes = None
    if metrics_port is not None:
        probes = start_probe_server(
            "127.0.0.1",
            metrics_port,
            registry,
            lambda: ingest_readiness(
                runners[0] if runners else None, None, failures[0] if failures else None
            ),
        )
    try:
        runner = asyncio.run(_run(settings, devices, registry, runners.append, sparkplug))
    except StoreURLError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except (IngestStalledError, StoreUnavailableError) as exc:
        failures.append(str(exc))
        console.print(f"[red]error:[/red] ingest stopped: {exc}")
        raise typer.Exit(1) from None
    finally:
        if probes is not None:
            probes.shutdown()
    console.print(f"ingest stopped: {runner.readings_written:,} readings written to {store}")


async def _run(
    settings: IngestSettings,
    devices: dict[tuple[str, str], DeviceAuth],
    registry: CollectorRegistry,
    on_runner: Callable[[IngestRunner], None],
    sparkplug: SparkplugMap | None = None,
) -> IngestRunner:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()

    def ready(runner: IngestRunner) -> None:
        on_runner(runner)
        console.print(
            f"ingest running: {len(devices)} devices, broker {settings.broker}, "
            f"store {settings.store} (Ctrl-C to stop)"
        )
        announcers.append(loop.create_task(_announce_connection(runner)))

    announcers: list[asyncio.Task[None]] = []

    runner = await run_ingest(
        settings, devices, stop, registry, on_ready=ready, sparkplug=sparkplug
    )
    console.print(f"ran {time.monotonic() - started:,.0f} s")
    return runner


async def _announce_connection(runner: IngestRunner) -> None:
    await runner.connected.wait()
    console.print(
        f"connected to {runner.broker.host}:{runner.broker.port}, subscribed "
        f"(client id {runner.options.client_id})"
    )


def _epoch(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(f"--oldest {text!r}: not a time")
        return value
    try:
        return event_time(text)
    except RejectedInputError as exc:
        raise ValueError(
            f"--oldest {text!r}: expected RFC 3339 with an offset, or epoch seconds"
        ) from exc


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        console.print(f"[red]error:[/red] --retention: {exc}")
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add `ingest` to the `riskstream` app."""
    app.command("ingest")(ingest)
