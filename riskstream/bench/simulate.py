"""`riskstream bench simulate`: how fast the simulator makes telemetry, to files and a broker.

It generates a fleet, plans scenarios on it, and measures readings/s for telemetry
generated without output, written to CSV and to Parquet, and messages/s and readings/s
published at QoS 1 (one report per message, then gateway batches) to a mosquitto it
starts itself on a free loopback port (no persistence, ``max_queued_messages 0``).
Publishing is measured from messages generated beforehand, so it is the publisher and
broker path alone; the file rates include generation. Rates are per wall second; the
CPU seconds of this process are shown too, because on a shared machine wall time also
counts what other processes take.
"""

import asyncio
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from devices.model import Fleet
from riskstream.cli.terminal import command_console
from riskstream.service.local_broker import local_mosquitto, mosquitto_binary
from simulator import Injection, Message, generate, generate_fleet, plan_scenarios, publish
from simulator.run import run_to_file

console = command_console()
err = command_console(stderr=True)

START_TS = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC: runs are comparable
DAY_S = 86_400.0


def _mosquitto_version(binary: str) -> str:
    result = subprocess.run(  # noqa: S603 (mosquitto from PATH or /usr/sbin)
        [binary, "-h"], capture_output=True, text=True, timeout=5, check=False
    )
    first = (result.stdout or result.stderr).splitlines()
    return first[0].strip() if first else "mosquitto"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "–"


class _Clock:
    """Wall time and this process's CPU time since it was made."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _row(
    table: Table, what: str, readings: int, messages: int | None, clock: tuple[float, float]
) -> None:
    wall, cpu = clock
    table.add_row(
        what,
        f"{readings:,}",
        f"{wall:.2f}",
        f"{cpu:.2f}",
        _rate(readings, wall),
        "–" if messages is None else _rate(messages, wall),
    )


def _files(
    table: Table, fleet: Fleet, plan: list[Injection], end: float, seed: int, workdir: Path
) -> None:
    clock = _Clock()
    messages = readings = 0
    for m in generate(fleet, plan, START_TS, end, seed):
        messages += 1
        readings += len(m.values)
    _row(table, "generate (no output)", readings, messages, clock.lap())
    for suffix in ("csv", "parquet"):
        path = workdir / f"telemetry.{suffix}"
        clock = _Clock()
        rows = run_to_file(generate(fleet, plan, START_TS, end, seed), fleet.tenant.id, path)
        lap = clock.lap()
        size = path.stat().st_size / 1e6
        _row(table, f"write {suffix} ({size:,.0f} MB)", rows, None, lap)


def _publish(
    table: Table,
    fleet: Fleet,
    plan: list[Injection],
    publish_days: float,
    seed: int,
    batch: int,
    port: int,
) -> None:
    end = START_TS + publish_days * DAY_S
    messages: list[Message] = list(generate(fleet, plan, START_TS, end, seed))
    readings = sum(len(m.values) for m in messages)
    secrets = {d.id: d.secret for d in fleet.devices() if d.secret}
    for size, signed in ((1, False), (batch, False), (batch, True)):
        clock = _Clock()
        sent = asyncio.run(
            publish(
                messages,
                tenant=fleet.tenant.id,
                host="127.0.0.1",
                port=port,
                speed=0,
                start_ts=START_TS,
                client_id=f"bench-sim-{size}-{signed}",
                batch=size,
                secrets=secrets if signed else None,
            )
        )
        lap = clock.lap()
        what = f"publish, {size}/msg" + (", signed" if signed else "")
        _row(table, what, readings, sent, lap)


def simulate(
    borrowers: Annotated[int, typer.Option(min=1, help="borrowers in the generated fleet")] = 200,
    days: Annotated[float, typer.Option(min=0.01, help="simulated days written to files")] = 1.0,
    publish_days: Annotated[
        float, typer.Option(min=0.001, help="simulated days published to the broker")
    ] = 0.05,
    batch: Annotated[int, typer.Option(min=2, max=500, help="reports per gateway batch")] = 50,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    broker: Annotated[bool, typer.Option(help="also measure publishing to mosquitto")] = True,
    workdir: Annotated[
        Path | None, typer.Option(help="where to write the files (default: a temp dir)")
    ] = None,
) -> None:
    """Readings/s generated to CSV and Parquet, and published to a local mosquitto.

    \b
    Example: riskstream bench simulate --borrowers 200 --days 1
    """
    binary: str | None = None
    if broker:
        try:
            binary = mosquitto_binary()
        except RuntimeError:
            err.print("[red]error:[/red] mosquitto not found: apt-get install it, or --no-broker")
            raise typer.Exit(2) from None
    began = time.perf_counter()
    fleet = generate_fleet(borrowers, seed)
    plan = plan_scenarios(fleet, seed, START_TS, START_TS + days * DAY_S)
    setup = time.perf_counter() - began
    devices = len(fleet.devices())
    console.print(
        f"machine: {os.cpu_count()} cores ({_cpu()}), Python {platform.python_version()}"
        + (f", {_mosquitto_version(binary)}" if binary else "")
    )
    console.print(
        f"fleet: {borrowers} borrowers, {devices} devices, {len(plan)} scenarios "
        f"(fleet and plan in {setup:.2f} s); files: {days:g} days; broker: {publish_days:g} days"
    )
    table = Table(
        "what",
        "readings",
        "wall s",
        "cpu s",
        "readings/s",
        "messages/s",
        caption="rates per wall second; cpu s: this process only (the broker's is not in it); "
        "publish: QoS 1",
    )
    with tempfile.TemporaryDirectory(prefix="rs-bench-sim-") as tmp:
        where = workdir or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        _files(table, fleet, plan, START_TS + days * DAY_S, seed, where)
        if binary is not None:
            with local_mosquitto(Path(tmp)) as port:
                _publish(table, fleet, plan, publish_days, seed, batch, port)
    console.print(table)


def register(bench_app: typer.Typer) -> None:
    """Add `riskstream bench simulate`."""
    bench_app.command("simulate")(simulate)
