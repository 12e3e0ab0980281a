"""Publish simulated telemetry to an MQTT broker, paced in event time.

Event time advances ``speed`` times faster than wall time from ``start_ts``; with
``speed <= 0`` messages go out as fast as the broker takes them. Up to
`MAX_IN_FLIGHT` publishes wait for their acknowledgement at once, so QoS 1 is not
limited by one round trip per message. A lost connection is logged and retried with
backoff; messages not yet acknowledged are sent again (ingest de-duplicates on
``seq``).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from itertools import chain
from typing import Protocol
from urllib.parse import urlsplit

import aiomqtt
import orjson

from devices.topics import DEFAULT_PREFIX, check_prefix, format_topic
from simulator.errors import BrokerUrlError
from simulator.telemetry import Message

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 256
PROGRESS_EVERY = 1000
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
MIN_SLEEP_S = 0.002


class PublishClient(Protocol):
    """The part of `aiomqtt.Client` the publisher uses."""

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Publish one message and wait until the broker has it (per QoS)."""


ClientFactory = Callable[[], AbstractAsyncContextManager[PublishClient]]


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
    """What survives a reconnect: the source, unacknowledged messages, counters."""

    def __init__(self, messages: Iterable[Message]) -> None:
        self.source: Iterator[Message] = iter(messages)
        self.unacked: dict[int, Message] = {}
        self.next_index = 0
        self.published = 0
        self.last_ts = 0.0
        self.announced: set[str] = set()

    def take_replay(self) -> None:
        """Put unacknowledged messages back in front of the source."""
        if self.unacked:
            replay = [self.unacked[k] for k in sorted(self.unacked)]
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
) -> int:
    """Publish ``messages`` as device telemetry; return how many were acknowledged.

    Args:
        messages: telemetry in event-time order (e.g. `simulator.telemetry.generate`).
        tenant: the tenant the devices belong to.
        host: broker host.
        port: broker port.
        speed: event seconds per wall second; ``<= 0`` publishes without pacing.
        start_ts: the event time that corresponds to the start of publishing.
        prefix: topic prefix.
        qos: MQTT QoS of telemetry and status messages.
        stop: when set, stop after the messages already in flight.
        on_progress: called with (messages published, event time reached) every
            `PROGRESS_EVERY` messages and at the end.
        client_id: MQTT client identifier.
        client_factory: makes the client (tests); default an `aiomqtt.Client`.

    Returns:
        The number of telemetry messages the broker acknowledged.
    """
    check_prefix(prefix)

    def default_factory() -> AbstractAsyncContextManager[PublishClient]:
        client = aiomqtt.Client(
            host,
            port,
            identifier=client_id,
            max_inflight_messages=MAX_IN_FLIGHT,
        )
        # we keep up to MAX_IN_FLIGHT publishes waiting on purpose: don't warn about them
        client.pending_calls_threshold = MAX_IN_FLIGHT + 16
        return client

    factory = client_factory or default_factory
    state = _State(messages)
    loop = asyncio.get_running_loop()
    wall0 = loop.time()
    backoff = RECONNECT_MIN_S
    while True:
        try:
            async with factory() as client:
                if backoff > RECONNECT_MIN_S:
                    log.info("reconnected to MQTT broker %s:%d", host, port)
                backoff = RECONNECT_MIN_S
                await _pump(
                    client, state, tenant, prefix, qos, speed, start_ts, wall0, stop, on_progress
                )
                break
        except aiomqtt.MqttError as exc:
            state.take_replay()
            if stop is not None and stop.is_set():
                log.warning("MQTT broker %s:%d unreachable while stopping: %s", host, port, exc)
                break
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
    client: PublishClient,
    state: _State,
    tenant: str,
    prefix: str,
    qos: int,
    speed: float,
    start_ts: float,
    wall0: float,
    stop: asyncio.Event | None,
    on_progress: Callable[[int, float], None] | None,
) -> None:
    """Publish from ``state`` until the source ends or ``stop``; raise on MQTT errors."""
    loop = asyncio.get_running_loop()
    in_flight: dict[asyncio.Task[None], int] = {}
    topics: dict[str, str] = {}
    dumps = orjson.dumps

    def settle(done: Iterable[asyncio.Task[None]]) -> None:
        error: BaseException | None = None
        for task in done:
            index = in_flight.pop(task)
            exc = task.exception()
            if exc is not None:
                error = error or exc
                continue
            message = state.unacked.pop(index)
            state.published += 1
            state.last_ts = max(state.last_ts, message.ts)
            if on_progress is not None and state.published % PROGRESS_EVERY == 0:
                on_progress(state.published, message.ts)
        if error is not None:
            raise error

    try:
        for message in state.source:
            if stop is not None and stop.is_set():
                state.source = chain([message], state.source)
                break
            if speed > 0:
                delay = wall0 + (message.ts - start_ts) / speed - loop.time()
                if delay > MIN_SLEEP_S and await _wait(stop, delay):
                    state.source = chain([message], state.source)
                    break
            device = message.device_id
            topic = topics.get(device)
            if topic is None:
                topic = topics[device] = format_topic(tenant, device, "telemetry", prefix)
            if device not in state.announced:
                status = format_topic(tenant, device, "status", prefix)
                await client.publish(status, b"online", qos=qos, retain=True)
                state.announced.add(device)
            payload = dumps({"ts": message.ts, "seq": message.seq, "values": message.values})
            index = state.next_index
            state.next_index += 1
            state.unacked[index] = message
            task = loop.create_task(client.publish(topic, payload, qos=qos))
            in_flight[task] = index
            if len(in_flight) >= MAX_IN_FLIGHT:
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                settle(done)
        while in_flight:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            settle(done)
    finally:
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
