"""Publish simulated telemetry to an MQTT broker, paced in event time.

Messages become packets (`simulator.wire.Packer`: birth and status messages, one
object or a gateway batch per publish, HMAC signatures when device secrets are
given) and go out over a `simulator.mqtt_link.PahoLink`. Event time advances
``speed`` times faster than wall time from ``start_ts``; with ``speed <= 0`` packets
go out as fast as the broker takes them. Up to `MAX_IN_FLIGHT` publishes wait for
their acknowledgement at once, so QoS 1 is not limited by one round trip per
message. A lost connection is logged and retried with backoff; packets not yet
acknowledged are sent again (ingest de-duplicates on ``seq``).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from itertools import chain
from typing import Protocol
from urllib.parse import urlsplit

from devices.sparkplug.mapping import SparkplugMap
from devices.topics import DEFAULT_PREFIX, check_prefix
from simulator.errors import BrokerUnavailableError, BrokerUrlError
from simulator.message import Message
from simulator.mqtt_link import LinkError, PahoLink
from simulator.sparkplug_host import HostGate
from simulator.sparkplug_wills import edge_node_wills
from simulator.sparkplug_wire import SparkplugPacker
from simulator.wire import Packer, Packet

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 128
PROGRESS_EVERY = 1000
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
MIN_SLEEP_S = 0.002


class Link(Protocol):
    """What the publisher needs of a connection (`simulator.mqtt_link.PahoLink`)."""

    def send(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        """Queue a publish; return its message id. Raises `LinkError` when broken."""

    def take_acked(self) -> list[int]:
        """Message ids acknowledged since the last call."""

    async def wait(self) -> None:
        """Sleep until an acknowledgement arrives; `LinkError` when broken."""


ClientFactory = Callable[[], AbstractAsyncContextManager[Link]]


def parse_broker_url(url: str) -> tuple[str, int]:
    """Split ``mqtt://host:port`` into host and port (default port 1883).

    Raises:
        BrokerUrlError: a `ValueError` naming the URL and what is wrong with it.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BrokerUrlError(url, str(exc)) from None
    if parts.scheme != "mqtt":
        raise BrokerUrlError(url, f"scheme must be 'mqtt', not {parts.scheme or 'missing'!r}")
    if not parts.hostname:
        raise BrokerUrlError(url, "no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BrokerUrlError(url, "unexpected path, query or fragment")
    return parts.hostname, 1883 if port is None else port


class _State:
    """What survives a reconnect: the source, unacknowledged packets, counters."""

    def __init__(self, packets: Iterable[Packet]) -> None:
        self.source: Iterator[Packet] = iter(packets)
        self.unacked: dict[int, tuple[int, Packet]] = {}  # message id -> (order, packet)
        self.next_index = 0
        self.published = 0
        self.last_ts = 0.0

    def take_replay(self) -> None:
        """Put unacknowledged packets back in front of the source, in their order."""
        if self.unacked:
            replay = [packet for _, packet in sorted(self.unacked.values(), key=lambda v: v[0])]
            self.unacked.clear()
            self.source = chain(replay, self.source)


async def publish(
    messages: Iterable[Message],
    *,
    tenant: str,
    host: str,
    port: int,
    speed: float,
    start_ts: float,
    prefix: str = DEFAULT_PREFIX,
    qos: int = 1,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[int, float], None] | None = None,
    client_id: str = "riskstream-sim",
    client_factory: ClientFactory | None = None,
    batch: int = 1,
    secrets: Mapping[str, str] | None = None,
    give_up_after: float | None = None,
    sparkplug: SparkplugMap | None = None,
    login: tuple[str, str] | None = None,
    sparkplug_host_id: str | None = None,
) -> int:
    """Publish ``messages`` as device telemetry; return how many were acknowledged.

    Args:
        messages: messages in send order (e.g. `simulator.telemetry.generate`).
        tenant: the tenant the devices belong to.
        host: broker host.
        port: broker port.
        speed: event seconds per wall second; ``<= 0`` publishes without pacing.
        start_ts: the event time that corresponds to the start of publishing.
        prefix: topic prefix.
        qos: MQTT QoS of telemetry and status messages.
        stop: when set, stop after the messages already in flight.
        on_progress: called with (telemetry publishes acknowledged, event time
            reached) every `PROGRESS_EVERY` publishes and at the end.
        client_id: MQTT client identifier.
        client_factory: makes the connection (tests); default a `PahoLink`.
        batch: reports of one device per telemetry publish (a JSON array when > 1).
        secrets: device id -> secret; when given, telemetry is signed (HMAC-SHA256).
        give_up_after: stop retrying when the broker has been unreachable this many
            seconds in a row (None: retry until ``stop``).
        sparkplug: publish as Sparkplug B edge nodes bound by this map
            (`simulator.sparkplug_wire`) instead of JSON; ``prefix``, ``batch`` and
            ``secrets`` then do not apply.
        login: MQTT user name and password, when the broker wants them.
        sparkplug_host_id: the edge nodes' Primary Host Application: publish nothing
            until its STATE says online, wait while it says offline, and be born again
            when it comes back online (`simulator.sparkplug_host`).

    Returns:
        The number of telemetry publishes the broker acknowledged (status messages
        not counted).

    Raises:
        BrokerUnavailableError: the broker stayed unreachable for ``give_up_after``.
    """
    check_prefix(prefix)
    wills: list[tuple[str, str, bytes]] = []
    commands: tuple[list[str], Callable[[str, bytes], None]] | None = None
    gate: HostGate | None = None
    if sparkplug is not None:
        sparkplug_packer = SparkplugPacker(tenant, sparkplug)
        wills = sparkplug_packer.wills(start_ts)
        topics, take = sparkplug_packer.command_topics(), sparkplug_packer.take_command
        if sparkplug_host_id is not None:
            watched = gate = HostGate(sparkplug_host_id, sparkplug_packer.rebirth_all)
            topics = [*topics, watched.topic]

            def take_command_or_state(topic: str, payload: bytes) -> None:
                if not watched.take(topic, payload):
                    sparkplug_packer.take_command(topic, payload)

            take = take_command_or_state
        commands = (topics, take)
        packets = sparkplug_packer.packets(messages)
    else:
        packets = Packer(tenant, prefix, batch, secrets).packets(messages)
    link = _Link(host, port, client_id, client_factory, commands, login)
    if wills and client_factory is None:
        try:
            async with edge_node_wills(host, port, wills):
                return await _publish_packets(
                    packets, link, qos, speed, start_ts, stop, on_progress, give_up_after, gate
                )
        except LinkError as exc:
            raise BrokerUnavailableError(host, port, 0.0, str(exc)) from None
    return await _publish_packets(
        packets, link, qos, speed, start_ts, stop, on_progress, give_up_after, gate
    )


@dataclass(frozen=True)
class _Link:
    """How to connect: the broker, the client id, a factory (tests), and for Sparkplug
    the command topics to subscribe to and what takes their messages."""

    host: str
    port: int
    client_id: str
    factory: ClientFactory | None
    commands: tuple[list[str], Callable[[str, bytes], None]] | None
    login: tuple[str, str] | None = None

    def open(self) -> AbstractAsyncContextManager[Link]:
        if self.factory is not None:
            return self.factory()
        topics, take = self.commands or ([], None)
        return PahoLink(self.host, self.port, self.client_id, topics, take, self.login)


async def _publish_packets(
    packets: Iterable[Packet],
    link: _Link,
    qos: int,
    speed: float,
    start_ts: float,
    stop: asyncio.Event | None,
    on_progress: Callable[[int, float], None] | None,
    give_up_after: float | None,
    gate: HostGate | None = None,
) -> int:
    host, port = link.host, link.port
    state = _State(packets)
    loop = asyncio.get_running_loop()
    wall0 = loop.time()
    backoff = RECONNECT_MIN_S
    failures = 0
    down_since = 0.0
    while True:
        try:
            async with link.open() as client:
                if failures:
                    log.warning(
                        "reconnected to MQTT broker %s:%d after %d failed attempt(s)",
                        host,
                        port,
                        failures,
                    )
                failures = 0
                backoff = RECONNECT_MIN_S
                await _pump(client, state, qos, speed, start_ts, wall0, stop, on_progress, gate)
                break
        except LinkError as exc:
            if not failures:
                down_since = loop.time()
            failures += 1
            state.take_replay()
            if stop is not None and stop.is_set():
                log.warning("MQTT broker %s:%d unreachable while stopping: %s", host, port, exc)
                break
            down = loop.time() - down_since
            if give_up_after is not None and down + backoff > give_up_after:
                raise BrokerUnavailableError(host, port, down, str(exc)) from None
            log.warning(
                "MQTT connection to %s:%d failed: %s; retrying in %.1f s", host, port, exc, backoff
            )
            if await _wait(stop, backoff):
                break
            backoff = min(backoff * 2, RECONNECT_MAX_S)
    if on_progress is not None:
        on_progress(state.published, state.last_ts)
    return state.published


async def _wait(stop: asyncio.Event | None, seconds: float) -> bool:
    """Sleep ``seconds``; return True early if ``stop`` gets set."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _pump(
    link: Link,
    state: _State,
    qos: int,
    speed: float,
    start_ts: float,
    wall0: float,
    stop: asyncio.Event | None,
    on_progress: Callable[[int, float], None] | None,
    gate: HostGate | None = None,
) -> None:
    """Publish from ``state`` until the source ends or ``stop``; `LinkError` when broken.
    With a ``gate``, each packet is taken from the source only while the host is online
    (so a rebirth the host's return asks for comes before the next data)."""
    loop = asyncio.get_running_loop()
    unacked = state.unacked

    def settle() -> None:
        for mid in link.take_acked():
            entry = unacked.pop(mid, None)
            if entry is None or not entry[1].is_telemetry:
                continue
            state.published += 1
            state.last_ts = max(state.last_ts, entry[1].send_ts)
            if on_progress is not None and state.published % PROGRESS_EVERY == 0:
                on_progress(state.published, entry[1].send_ts)

    while True:
        if gate is not None and not await gate.wait_online(stop):
            break
        packet = next(state.source, None)
        if packet is None:
            break
        if stop is not None and stop.is_set():
            state.source = chain([packet], state.source)
            break
        if speed > 0:
            delay = wall0 + (packet.send_ts - start_ts) / speed - loop.time()
            if delay > MIN_SLEEP_S and await _wait(stop, delay):
                state.source = chain([packet], state.source)
                break
        try:
            mid = link.send(packet.topic, packet.payload, qos, packet.retain)
        except LinkError:
            state.source = chain([packet], state.source)
            raise
        unacked[mid] = (state.next_index, packet)
        state.next_index += 1
        if len(unacked) >= MAX_IN_FLIGHT:
            while len(unacked) >= MAX_IN_FLIGHT:
                await link.wait()
                settle()
        elif state.next_index % 64 == 0:
            settle()
    while unacked:
        await link.wait()
        settle()
