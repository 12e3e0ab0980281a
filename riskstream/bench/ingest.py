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
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


def _visit(port: int, client: paho.Client, done: threading.Event, failure: str) -> None:
    """Connect ``client``, wait until its callbacks set ``done``, then leave."""
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not done.wait(10):
        raise RuntimeError(failure)
    client.disconnect()
    client.loop_stop()


def _subscribe_once(port: int, client_id: str) -> None:
    """Create the persistent session (and its subscription), then leave."""
    done = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_subscribe = lambda *_args: done.set()
    client.on_connect = lambda c, *_args: c.subscribe([(f, 1) for f in TOPIC_FILTERS])
    _visit(port, client, done, "could not subscribe to the benchmark broker")


def _forget_session(port: int, client_id: str) -> None:
    """End the persistent session: a drained contender's session would otherwise queue
    every later contender's backlog and flood its next round (clean session on connect)."""
    done = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.on_connect = lambda *_args: done.set()
    _visit(port, client, done, "could not end a session on the benchmark broker")


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
    _forget_session(port, client_id)
    result = Result(name, len(payloads), readings, seconds)
    console.print(
        f"  {name}: {result.messages_per_s:,.0f} msg/s, {result.readings_per_s:,.0f} readings/s"
    )
    return result


@dataclass(frozen=True)
class Contender:
    """One way of draining a backlog: its name, the messages queued, the readings they
    hold, and how to drain them (from a client id to the seconds it took)."""

    name: str
    payloads: list[tuple[str, bytes]]
    readings: int
    consume: Callable[[str], float]
    target: str = ""


@dataclass
class Rounds:
    """Every round's result per contender, in the order they ran."""

    results: dict[str, list[Result]] = field(default_factory=dict)

    def add(self, result: Result) -> None:
        self.results.setdefault(result.name, []).append(result)

    def median_rate(self, name: str) -> tuple[float, float]:
        """(messages/s, readings/s): the medians over the rounds."""
        runs = self.results[name]
        return (
            statistics.median(r.messages_per_s for r in runs),
            statistics.median(r.readings_per_s for r in runs),
        )

    def ratios(self, name: str, against: str) -> list[float]:
        """``name``'s rate over ``against``'s in each round (the same round's broker and
        machine state), in round order."""
        return [
            mine.messages_per_s / theirs.messages_per_s
            for mine, theirs in zip(self.results[name], self.results[against], strict=True)
        ]


def run_rounds(contenders: list[Contender], port: int, repeat: int) -> Rounds:
    """Drain each contender's backlog in turn, ``repeat`` rounds of all of them, so a
    change in the machine's load falls on every contender alike."""
    rounds = Rounds()
    for n in range(1, repeat + 1):
        if repeat > 1:
            console.print(f"round {n}/{repeat}")
        for c in contenders:
            rounds.add(_run(c.name, port, c.payloads, c.readings, c.consume))
    return rounds


def _ratio_text(ratios: list[float]) -> str:
    median = statistics.median(ratios)
    if len(ratios) == 1:
        return f"{median:.0%}"
    return f"{median:.0%} ({', '.join(f'{r:.0%}' for r in ratios)})"


def results_table(contenders: list[Contender], rounds: Rounds) -> Table:
    """Per contender: median messages/s and readings/s over the rounds, and the median
    of its per-round ratio to raw paho (each round's ratios listed beside it)."""
    repeat = len(rounds.results[contenders[0].name])
    rate = "median " if repeat > 1 else ""
    table = Table(
        "contender",
        f"{rate}messages/s",
        f"{rate}readings/s",
        "vs raw paho" + (" (median; each round)" if repeat > 1 else ""),
        "target",
        title=f"{repeat} round{'s' if repeat > 1 else ''}, contenders alternating",
    )
    raw = contenders[0].name
    for c in contenders:
        messages_per_s, readings_per_s = rounds.median_rate(c.name)
        one_reading = c.readings == len(c.payloads)
        table.add_row(
            c.name,
            f"{messages_per_s:,.0f}",
            f"{readings_per_s:,.0f}",
            _ratio_text(rounds.ratios(c.name, raw)) if one_reading else "",
            c.target,
        )
    return table


def ingest(
    messages: Annotated[
        int, typer.Option(min=1000, help="one-reading messages per contender")
    ] = 100_000,
    batched: Annotated[int, typer.Option(min=100, help="batched messages (gateway)")] = 10_000,
    per_batch: Annotated[int, typer.Option(min=2, help="readings per batched message")] = 50,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            max=20,
            help="rounds of every contender, one after the other; the table gives medians",
        ),
    ] = 1,
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

    Each contender drains the same backlog; with ``--repeat N`` every contender runs
    once per round, N rounds, and the ratios to raw paho are taken within each round
    (the machine's load changes between rounds; use 3 or more to judge a budget).

    \b
    Example:
      riskstream bench ingest --messages 100000 --batched 10000 --per-batch \\
        50 --repeat 3
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

            def riskstream_drain(readings: int, engine: bool) -> Callable[[str], float]:
                return lambda cid: asyncio.run(
                    _riskstream(port, cid, readings, workdir, with_engine=engine)
                )

            many_readings = batched * per_batch
            contenders = [
                Contender(
                    "raw paho (count only)",
                    one,
                    messages,
                    lambda cid: _raw_paho(port, cid, messages),
                ),
                Contender(
                    "aiomqtt (count only)",
                    one,
                    messages,
                    lambda cid: asyncio.run(_aiomqtt(port, cid, messages)),
                ),
                Contender(
                    "riskstream ingest",
                    one,
                    messages,
                    riskstream_drain(messages, False),
                    "≥ 80% of raw paho",
                ),
                Contender(
                    "riskstream ingest+engine",
                    one,
                    messages,
                    riskstream_drain(messages, True),
                    "≥ 80% of raw paho (DESIGN.md's budget)",
                ),
                Contender(
                    f"riskstream ingest, {per_batch}/message",
                    many,
                    many_readings,
                    riskstream_drain(many_readings, False),
                    "≥ 100,000 readings/s",
                ),
                Contender(
                    f"riskstream ingest+engine, {per_batch}/message",
                    many,
                    many_readings,
                    riskstream_drain(many_readings, True),
                    "≥ 100,000 readings/s (DESIGN.md's budget)",
                ),
            ]
            rounds = run_rounds(contenders, port, repeat)
    console.print(results_table(contenders, rounds))


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
