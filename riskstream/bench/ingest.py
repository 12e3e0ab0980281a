"""`riskstream bench ingest`: riskstream's ingest against a raw paho subscriber, same run.

Each contender drains the same backlog from a local mosquitto: its persistent session
is created, messages are queued for it while it is away, then it connects and the
clock runs from its (re)connection until it has taken the last message. This measures
what the subscriber can absorb, not how fast the publisher is.

Contenders: a raw paho-mqtt subscriber that only counts (the ceiling), aiomqtt that
only counts, and riskstream's full ingest (decode, validate, seq de-duplication,
DuckDB store: what `riskstream ingest` does, and what the issue's targets are for),
alone and with the risk engine behind it (what `riskstream serve` does), for
one-reading messages and for gateway batches. With ``--sparkplug``: riskstream's ingest
of one-reading Sparkplug B DDATA (by alias) against one-reading JSON, same run.
"""

import asyncio
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import aiomqtt
import orjson
import paho.mqtt.client as paho
import typer
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry
from rich.table import Table

from devices.model import DeviceKind, Fleet, Sparkplug
from devices.reading import Reading
from devices.sparkplug import sparkplug_map, sparkplug_subscriptions
from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.stores import open_store
from ingest.subscriber import BrokerAddress, IngestRunner, MqttOptions
from riskstream.cli.terminal import command_console
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from riskstream.service.local_broker import local_mosquitto, machine
from simulator import generate_fleet
from simulator.message import Message
from simulator.sparkplug_wire import SparkplugPacker

console = command_console()
TOPIC_FILTERS = ("rs/v1/+/+/telemetry", *sparkplug_subscriptions())


@dataclass(frozen=True)
class Result:
    """One contender's run."""

    name: str
    messages: int
    readings: int
    seconds: float

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.seconds


def _payloads(
    tenant: str, devices: list[str], messages: int, per_message: int
) -> list[tuple[str, bytes]]:
    start = time.time() - messages * per_message - 3600
    seqs = dict.fromkeys(devices, 0)
    out = []
    for i in range(messages):
        device = devices[i % len(devices)]
        objects = []
        for _ in range(per_message):
            seqs[device] += 1
            n = seqs[device]
            weight = 9_000_000.0 + n % 7  # well above every pledge: no alerts, steady state
            objects.append({"ts": start + n, "seq": n, "values": {"weight_kg": weight}})
        body = objects[0] if per_message == 1 else objects
        out.append((f"rs/v1/{tenant}/{device}/telemetry", orjson.dumps(body)))
    return out


def _sparkplug_payloads(
    fleet: Fleet, devices: list[str], messages: int
) -> tuple[Fleet, list[tuple[str, bytes]]]:
    """The same one-reading reports as `_payloads`, from Sparkplug B edge nodes (one per
    site): births first, then DDATA by alias, and each node's NDEATH at the end."""
    fleet = fleet.model_copy(update={"sparkplug": Sparkplug()})
    start = time.time() - messages - 3600
    seqs = dict.fromkeys(devices, 0)
    reports = []
    for i in range(messages):
        device = devices[i % len(devices)]
        seqs[device] += 1
        n = seqs[device]
        reports.append(Message(start + n, device, n, {"weight_kg": 9_000_000.0 + n % 7}))
    packer = SparkplugPacker(fleet.tenant.id, sparkplug_map([fleet]))
    return fleet, [(p.topic, p.payload) for p in packer.packets(reports)]


def _subscribe_once(port: int, client_id: str) -> None:
    """Create the persistent session (and its subscription), then leave."""
    done = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_subscribe = lambda *_args: done.set()
    client.on_connect = lambda c, *_args: c.subscribe([(f, 1) for f in TOPIC_FILTERS])
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not done.wait(10):
        raise RuntimeError("could not subscribe to the benchmark broker")
    client.disconnect()
    client.loop_stop()


def _fill(port: int, payloads: list[tuple[str, bytes]]) -> None:
    """Queue every payload at QoS 1 for the absent subscriber; wait for the broker's acks."""
    acked = 0
    lock = threading.Lock()

    def on_publish(*_args: object) -> None:
        nonlocal acked
        with lock:
            acked += 1

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + 300
    for i, (topic, payload) in enumerate(payloads):
        # paho numbers messages 1..65,535: more than that unacknowledged and ids collide
        while i - acked > 20_000:
            if time.monotonic() > deadline:
                raise RuntimeError("broker did not take the backlog in 300 s")
            time.sleep(0.005)
        client.publish(topic, payload, qos=1)
    while acked < len(payloads):
        if time.monotonic() > deadline:
            raise RuntimeError("broker did not take the backlog in 300 s")
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()


def _raw_paho(port: int, client_id: str, expected: int) -> float:
    count = 0
    finished = threading.Event()

    def on_message(*_args: object) -> None:
        nonlocal count
        count += 1
        if count >= expected:
            finished.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_message = on_message
    started = time.perf_counter()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not finished.wait(600):
        raise RuntimeError(f"raw paho took {count} of {expected} messages")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


async def _aiomqtt(port: int, client_id: str, expected: int) -> float:
    count = 0
    started = time.perf_counter()
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=False) as c:
        async for _message in c.messages:
            count += 1
            if count >= expected:
                break
    return time.perf_counter() - started


async def _riskstream(
    port: int,
    client_id: str,
    expected_readings: int,
    workdir: Path,
    *,
    with_engine: bool,
    fleet: Fleet | None = None,
) -> float:
    """Drain with riskstream's ingest; with the risk engine as its sink when asked."""
    fleet = fleet or generate_fleet(20, seed=1)
    engine = Engine([fleet], RuleSet())
    pipeline = IngestPipeline(
        device_table([fleet]),
        DeadLetterStore(None),
        IngestMetrics.create(CollectorRegistry()),
        sparkplug=sparkplug_map([fleet]),
    )
    store = open_store(f"duckdb:///{workdir}/{client_id}.duckdb")

    def sink(batch: list[Reading]) -> None:
        engine.process(batch)

    runner = IngestRunner(
        pipeline,
        store,
        BrokerAddress("127.0.0.1", port),
        sink=sink if with_engine else None,
        options=MqttOptions(client_id=client_id),
    )
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + 600
    while (
        engine.readings_processed if with_engine else runner.readings_written
    ) < expected_readings:
        if time.monotonic() > deadline or task.done():
            raise RuntimeError(
                f"riskstream stored {runner.readings_written} of {expected_readings}"
            )
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    store.close()
    return elapsed


def _run(
    name: str,
    port: int,
    payloads: list[tuple[str, bytes]],
    readings: int,
    consume: Callable[[str], float],
) -> Result:
    client_id = "bench-" + re.sub(r"[^a-z0-9]+", "-", name)
    _subscribe_once(port, client_id)
    with console.status(f"{name}: queueing {len(payloads):,} messages"):
        _fill(port, payloads)
    with console.status(f"{name}: draining {len(payloads):,} messages"):
        seconds = consume(client_id)
    result = Result(name, len(payloads), readings, seconds)
    console.print(
        f"  {name}: {result.messages_per_s:,.0f} msg/s, {result.readings_per_s:,.0f} readings/s"
    )
    return result


def ingest(
    messages: Annotated[
        int, typer.Option(min=1000, help="one-reading messages per contender")
    ] = 100_000,
    batched: Annotated[int, typer.Option(min=100, help="batched messages (gateway)")] = 10_000,
    per_batch: Annotated[int, typer.Option(min=2, help="readings per batched message")] = 50,
    sparkplug: Annotated[
        bool,
        typer.Option(
            "--sparkplug",
            help="instead: riskstream's ingest of one-reading Sparkplug B DDATA against "
            "one-reading JSON, same run",
        ),
    ] = False,
) -> None:
    """Measure riskstream's ingest against raw paho and aiomqtt from a local mosquitto.

    \b
    Example:
      riskstream bench ingest --messages 100000 --batched 10000 --per-batch \\
        50
      riskstream bench ingest --sparkplug --messages 100000
    """
    fleet = generate_fleet(20, seed=1)
    devices = [d.id for d in fleet.devices() if d.kind is DeviceKind.LOAD_CELL]
    one = _payloads(fleet.tenant.id, devices, messages, 1)
    if sparkplug:
        _sparkplug_against_json(fleet, devices, one, messages)
        return
    many = _payloads(fleet.tenant.id, devices, batched, per_batch)
    console.print(f"machine: {machine()}; QoS 1; {len(devices)} devices; mosquitto on 127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="rs-bench-ingest-") as tmp:
        workdir = Path(tmp)
        with local_mosquitto(workdir) as port:
            raw = _run(
                "raw paho (count only)",
                port,
                one,
                messages,
                lambda cid: _raw_paho(port, cid, messages),
            )
            aio = _run(
                "aiomqtt (count only)",
                port,
                one,
                messages,
                lambda cid: asyncio.run(_aiomqtt(port, cid, messages)),
            )
            full = _run(
                "riskstream ingest",
                port,
                one,
                messages,
                lambda cid: asyncio.run(
                    _riskstream(port, cid, messages, workdir, with_engine=False)
                ),
            )
            full_engine = _run(
                "riskstream ingest+engine",
                port,
                one,
                messages,
                lambda cid: asyncio.run(
                    _riskstream(port, cid, messages, workdir, with_engine=True)
                ),
            )
            batch = _run(
                f"riskstream ingest, {per_batch}/message",
                port,
                many,
                batched * per_batch,
                lambda cid: asyncio.run(
                    _riskstream(port, cid, batched * per_batch, workdir, with_engine=False)
                ),
            )
            batch_engine = _run(
                f"riskstream ingest+engine, {per_batch}/message",
                port,
                many,
                batched * per_batch,
                lambda cid: asyncio.run(
                    _riskstream(port, cid, batched * per_batch, workdir, with_engine=True)
                ),
            )
    table = Table("contender", "messages/s", "readings/s", "vs raw paho", "target")
    table.add_row(raw.name, f"{raw.messages_per_s:,.0f}", f"{raw.readings_per_s:,.0f}", "100%", "")
    for result, target in (
        (aio, ""),
        (full, "≥ 80% of raw paho"),
        (full_engine, "≥ 80% of raw paho (DESIGN.md's budget)"),
        (batch, "≥ 100,000 readings/s"),
        (batch_engine, ""),
    ):
        ratio = result.messages_per_s / raw.messages_per_s
        table.add_row(
            result.name,
            f"{result.messages_per_s:,.0f}",
            f"{result.readings_per_s:,.0f}",
            f"{ratio:.0%}" if result.readings == result.messages else "",
            target,
        )
    console.print(table)


def _sparkplug_against_json(
    fleet: Fleet, devices: list[str], one: list[tuple[str, bytes]], messages: int
) -> None:
    sparkplug_fleet, packets = _sparkplug_payloads(fleet, devices, messages)
    console.print(
        f"machine: {machine()}; QoS 1; {len(devices)} devices; mosquitto on 127.0.0.1; "
        f"Sparkplug: {len(packets) - messages} birth and death messages besides the data"
    )
    with tempfile.TemporaryDirectory(prefix="rs-bench-ingest-") as tmp:
        workdir = Path(tmp)
        with local_mosquitto(workdir) as port:
            json_run = _run(
                "riskstream ingest, JSON",
                port,
                one,
                messages,
                lambda cid: asyncio.run(
                    _riskstream(port, cid, messages, workdir, with_engine=False)
                ),
            )
            spb_run = _run(
                "riskstream ingest, Sparkplug B",
                port,
                packets,
                messages,
                lambda cid: asyncio.run(
                    _riskstream(
                        port, cid, messages, workdir, with_engine=False, fleet=sparkplug_fleet
                    )
                ),
            )
    table = Table("contender", "messages/s", "readings/s", "vs JSON")
    for result in (json_run, spb_run):
        ratio = result.readings_per_s / json_run.readings_per_s
        table.add_row(
            result.name,
            f"{result.messages_per_s:,.0f}",
            f"{result.readings_per_s:,.0f}",
            f"{ratio:.0%}",
        )
    console.print(table)


def register(bench_app: typer.Typer) -> None:
    """Add `bench ingest`."""
    bench_app.command("ingest")(ingest)
