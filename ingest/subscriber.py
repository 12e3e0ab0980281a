"""The MQTT side of ingest: subscribe with QoS 1, validate, batch, write, then acknowledge.

paho-mqtt is used directly (its network thread feeds the pipeline) because ingest must
acknowledge a message only after its readings are stored: with ``manual_ack`` the
broker keeps every unacknowledged message of our persistent session (stable client
id, clean session off) and redelivers it after a crash, so nothing is lost; the
store's per-device ``seq`` high-water mark makes the redelivered copy a no-op.
aiomqtt has no manual acknowledgement, and its per-message overhead halves the rate
(see ``riskstream bench ingest``).

A flusher on the asyncio loop writes the buffered readings every `FLUSH_INTERVAL_S`
or when `BATCH_MAX_READINGS` are waiting, hands them to the sink (the risk engine
when riskstream runs ingest), then sends the PUBACKs. When the buffer holds
`BUFFER_LIMIT_READINGS` the network thread waits, so a slow store slows the broker's
delivery instead of growing memory.
"""

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices.reading import Reading
from devices.topics import DEFAULT_PREFIX, subscription
from ingest.integrity import IntegritySignal
from ingest.pipeline import IngestPipeline
from ingest.spool import SpoolingStore
from ingest.stores.base import RetainingStore, TelemetryStore

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.05
BATCH_MAX_READINGS = 5000
BUFFER_LIMIT_READINGS = 50_000
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
SESSION_EXPIRY_S = 7 * 86400
RETENTION_CHECK_S = 60.0

BatchSink = Callable[[list[Reading]], None]
SignalSink = Callable[[list[IntegritySignal]], None]


@dataclass(frozen=True)
class BrokerAddress:
    """Where the MQTT broker listens, and how to log in."""

    host: str
    port: int = 1883
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> "BrokerAddress":
        """Parse ``mqtt://host[:port]`` or ``mqtts://host[:port]``; ValueError says why not."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL {url!r} must look like mqtt://HOST:PORT")
        rest = rest.rstrip("/")
        default = "8883" if scheme == "mqtts" else "1883"
        host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", default)
        if not host:
            raise ValueError(f"broker URL {url!r} has no host")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"broker URL {url!r}: port {port!r} is not a number in 1..65535")
        return cls(host, int(port), scheme == "mqtts")


@dataclass(frozen=True)
class MqttOptions:
    """Session and security options of the ingest client."""

    client_id: str = "riskstream-ingest"
    prefix: str = DEFAULT_PREFIX
    protocol: str = "3.1.1"
    share_group: str | None = None
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    qos: int = 1


class IngestRunner:
    """Runs the subscriber and the batch writer until stopped."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        store: TelemetryStore,
        broker: BrokerAddress,
        *,
        sink: BatchSink | None = None,
        signal_sink: SignalSink | None = None,
        client_id: str = "riskstream-ingest",
        prefix: str = DEFAULT_PREFIX,
        options: MqttOptions | None = None,
        retention_s: float | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.retention_s = retention_s
        self.readings_expired = 0
        self._next_retention = 0.0
        self.store = store
        self.broker = broker
        self.sink = sink
        self.signal_sink = signal_sink
        self.options = options or MqttOptions(client_id=client_id, prefix=prefix)
        self.readings_written = 0
        self.connected = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._pending_acks: list[int] = []
        self._wake_flusher = asyncio.Event()
        self._client: paho.Client | None = None
        self._stopping = False

    # -- paho thread -------------------------------------------------------------
    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning(
                "MQTT broker %s:%d refused the connection: %s",
                self.broker.host,
                self.broker.port,
                reason,
            )
            return
        for kind in ("telemetry", "status"):
            topic = subscription(self.options.prefix, kind)
            if self.options.share_group:
                topic = f"$share/{self.options.share_group}/{topic}"
            client.subscribe(topic, qos=self.options.qos)
        log.info("ingest connected to %s:%d", self.broker.host, self.broker.port)
        self._signal(connected=True)

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not self._stopping:
            log.warning(
                "MQTT broker %s:%d lost (%s); reconnecting with back-off up to %d s",
                self.broker.host,
                self.broker.port,
                reason,
                RECONNECT_MAX_S,
            )
        self._signal(connected=False)

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        with self._room:
            while self.pipeline.buffered >= BUFFER_LIMIT_READINGS and not self._stopping:
                self._room.wait(0.5)
            self.pipeline.handle(message.topic, bytes(message.payload), time.time())
            if message.qos > 0:
                self._pending_acks.append(message.mid)
            full = self.pipeline.buffered >= BATCH_MAX_READINGS
        if full and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake_flusher.set)

    def _signal(self, *, connected: bool) -> None:
        if self._loop is None:
            return
        action = self.connected.set if connected else self.connected.clear
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(action)

    # -- asyncio side ------------------------------------------------------------
    def _make_client(self) -> paho.Client:
        v5 = self.options.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            clean_session=None if v5 else False,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        if self.options.username is not None:
            client.username_pw_set(self.options.username, self.options.password)
        if self.broker.tls or self.options.tls_ca:
            client.tls_set(ca_certs=self.options.tls_ca, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe and write until ``stop`` is set; then flush, acknowledge and disconnect."""
        self._loop = asyncio.get_running_loop()
        client = self._client = self._make_client()
        properties = None
        if self.options.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=30,
            clean_start=False if self.options.protocol == "5" else 3,
            properties=properties,
        )
        client.loop_start()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_flusher.wait(), FLUSH_INTERVAL_S)
                self._wake_flusher.clear()
                await self.flush()
                await self._apply_retention()
        finally:
            self._stopping = True
            with self._room:
                self._room.notify_all()
            await self.flush()
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    async def _apply_retention(self) -> None:
        """Once a minute, drop readings older than the retention period (embedded store)."""
        if self.retention_s is None or not isinstance(self.store, RetainingStore):
            return
        now = time.time()
        if now < self._next_retention:
            return
        self._next_retention = now + RETENTION_CHECK_S
        dropped = await asyncio.to_thread(self.store.delete_older_than, now - self.retention_s)
        self.readings_expired += dropped

    async def flush(self) -> int:
        """Write buffered readings, pass them to the sink, then acknowledge their messages."""
        with self._room:
            batch = self.pipeline.drain()
            signals = self.pipeline.drain_signals()
            acks, self._pending_acks = self._pending_acks, []
            self._room.notify_all()
        metrics = self.pipeline.metrics
        if batch:
            started = time.perf_counter()
            kept = await asyncio.to_thread(self.store.write, batch)
            if kept < len(batch):
                metrics.store_refused.inc(len(batch) - kept)
                log.error("store and spool full: %d readings dropped", len(batch) - kept)
            metrics.write_seconds.observe(time.perf_counter() - started)
            metrics.batch_size.observe(len(batch))
            metrics.lag_seconds.set(time.time() - max(r.ts for r in batch))
            self.readings_written += len(batch)
            if self.sink is not None:
                self.sink(batch)
        elif isinstance(self.store, SpoolingStore) and self.store.spooled_batches:
            await asyncio.to_thread(self.store.drain)
        if signals and self.signal_sink is not None:
            self.signal_sink(signals)
        if isinstance(self.store, SpoolingStore):
            metrics.spool_bytes.set(self.store.spool_bytes)
            metrics.spool_batches.set(self.store.spooled_batches)
        client = self._client
        if client is not None:
            for mid in acks:
                client.ack(mid, self.options.qos)
        return len(batch)
