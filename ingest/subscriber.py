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
when riskstream runs ingest), then sends the PUBACKs (in one write: `ingest.acks`).
When the buffer holds `BUFFER_LIMIT_READINGS` the network thread waits, so a slow store
slows the broker's delivery instead of growing memory.

Sparkplug B: ingest is a Primary Host Application. Unless it shares its subscriptions
(``share_group``) or has no host id, it registers the will ``{"online": false, ...}`` on
``spBv1.0/STATE/{host_id}`` and publishes ``{"online": true, ...}`` there once connected
(`devices.sparkplug.host_state`), and offline again when it stops. The edge nodes'
sessions are saved with each stored batch (`ingest.sparkplug.session_store`) and read
back at start, so what the broker redelivers after a restart is decoded, not refused.

Nothing a message does can stop the loop: the pipeline refuses what it cannot handle,
every callback contains its own faults, and a batch the store refuses on data is split
to isolate the rows at fault (`ingest.isolate`). Should paho's network loop stop all the
same, a watchdog notices within `WATCHDOG_INTERVAL_S`, reports ``loop_alive`` false,
and starts it again after `LOOP_RESTART_DELAY_S`; after `MAX_LOOP_RESTARTS` restarts
within `LOOP_RESTART_WINDOW_S` it gives up and `IngestRunner.run` raises
`IngestStalledError`, so the process exits non-zero for its supervisor to restart it.
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
from devices.sparkplug.topic import sparkplug_subscriptions
from devices.topics import DEFAULT_PREFIX, subscription
from ingest.acks import ack_all
from ingest.device_table import seed_recent_readings
from ingest.errors import IngestStalledError
from ingest.integrity import IntegritySignal
from ingest.isolate import write_isolating
from ingest.pipeline import IngestPipeline
from ingest.sparkplug.primary_host import PrimaryHost
from ingest.sparkplug.session_store import SessionChange, SessionStore
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
WATCHDOG_INTERVAL_S = 1.0
LOOP_RESTART_DELAY_S = 2.0
MAX_LOOP_RESTARTS = 5
LOOP_RESTART_WINDOW_S = 600.0
WRITER_STALL_S = 10.0
SINK_ERROR_LOG_EVERY_S = 60.0
STATE_PUBLISH_WAIT_S = 2.0

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
    sparkplug_host_id: str | None = "riskstream"
    """Primary Host Application id of the Sparkplug STATE topic (None: no STATE)."""


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
        sessions: SessionStore | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.sessions = sessions
        if sessions is not None:
            self._restore_sessions(sessions, store)
        self.retention_s = retention_s
        self.readings_expired = 0
        self._next_retention = 0.0
        self.store = store
        self.broker = broker
        self.sink = sink
        self.signal_sink = signal_sink
        self.options = options or MqttOptions(client_id=client_id, prefix=prefix)
        host_id = None if self.options.share_group else self.options.sparkplug_host_id
        self.host = None if host_id is None else PrimaryHost(host_id)
        self.readings_written = 0
        self.connected = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._pending_acks: list[int] = []
        self._wake_flusher = asyncio.Event()
        self._client: paho.Client | None = None
        self._stopping = False
        self._restarts: list[float] = []
        self._restart_due: float | None = None
        self.started_at = time.time()
        self.last_message_at: float | None = None
        self.writer_heartbeat = time.monotonic()
        self.write_failed: str | None = None
        self.sink_errors = 0
        self.loop_restarts = 0
        self._sink_error_logged_at = -float("inf")
        pipeline.metrics.loop_alive.set_function(lambda: 1.0 if self.loop_alive else 0.0)
        pipeline.metrics.last_message_age.set_function(self.last_message_age)

    def _restore_sessions(self, sessions: SessionStore, store: TelemetryStore) -> None:
        """Read the Sparkplug sessions back, and what the store holds of their devices'
        newest readings (a batch stored just before a crash comes again)."""
        handler = self.pipeline.sparkplug
        handler.restore(sessions.load(handler.bound_edges, handler.map.bindings))
        try:
            seed_recent_readings(self.pipeline, store, handler.restored_devices())
        except Exception:  # a store server down at start: duplicates possible, not loss
            log.exception("ingest: the newest readings of Sparkplug devices cannot be read")

    # -- liveness ----------------------------------------------------------------
    @property
    def network_alive(self) -> bool:
        """Whether paho's network loop thread is running."""
        client = self._client
        # paho keeps its loop thread in _thread and sets it to None when the loop ends
        thread = client._thread if client is not None else None
        return thread is not None and thread.is_alive()

    @property
    def writer_alive(self) -> bool:
        """Whether the batch writer went round its loop within `WRITER_STALL_S`."""
        return time.monotonic() - self.writer_heartbeat < WRITER_STALL_S

    @property
    def loop_alive(self) -> bool:
        """Both the network loop and the batch writer are running."""
        return self.network_alive and self.writer_alive

    def last_message_age(self) -> float:
        """Seconds since the last message was handled (since start when none was)."""
        return time.time() - (self.last_message_at or self.started_at)

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
        if self.options.share_group:
            log.info("Sparkplug B topics not subscribed: an edge node's seq needs one ingest")
        else:
            for topic in sparkplug_subscriptions():
                client.subscribe(topic, qos=self.options.qos)
        if self.host is not None:
            client.subscribe(self.host.topic, qos=1)  # to answer a false "offline"
            self.host.announce(client, online=True)
        log.info("ingest connected to %s:%d", self.broker.host, self.broker.port)
        self._signal(connected=True)

    def _on_disconnect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not self._stopping:
            log.warning(
                "MQTT broker %s:%d lost (%s); reconnecting with back-off up to %d s",
                self.broker.host,
                self.broker.port,
                reason,
                RECONNECT_MAX_S,
            )
        if self.host is not None and not self._stopping:
            self.host.register_will(client)  # the next connection's, with its timestamp
        self._signal(connected=False)

    def _on_message(self, client: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        try:
            self._take(client, message)
        except Exception:  # never into paho: its network loop would end
            log.exception("ingest: a message could not be taken")

    def _take(self, client: paho.Client, message: paho.MQTTMessage) -> None:
        now = time.time()
        with self._room:
            while self.pipeline.buffered >= BUFFER_LIMIT_READINGS and not self._stopping:
                self._room.wait(0.5)
            try:
                topic = message.topic
            except UnicodeDecodeError:  # paho decodes the topic lazily; not UTF-8
                topic = message._topic.decode("utf-8", "replace")
            if self.host is not None and topic == self.host.topic:
                if not self._stopping:
                    self.host.answer(client, bytes(message.payload))
            else:
                self.pipeline.handle(topic, bytes(message.payload), now)
            for command_topic, command in self.pipeline.drain_commands():
                client.publish(command_topic, command, qos=0)  # Sparkplug rebirth requests
            if message.qos > 0:
                self._pending_acks.append(message.mid)
            full = self.pipeline.buffered >= BATCH_MAX_READINGS
            self.last_message_at = now
        if full and self._loop is not None:
            with contextlib.suppress(RuntimeError):
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
        if self.host is not None:
            self.host.register_will(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.suppress_exceptions = True  # a callback's fault is logged, the loop goes on
        return client

    def _restart_network(self, client: paho.Client) -> None:
        """Reconnect (so the broker redelivers what was not acknowledged) and loop again."""
        try:
            client.reconnect()
        except (OSError, ValueError) as exc:
            log.warning("MQTT reconnect failed (%s); the loop keeps retrying", exc)
        client.loop_start()

    async def _watch_network(self, client: paho.Client) -> None:
        """Restart a network loop that stopped; raise `IngestStalledError` past the limit."""
        if self.network_alive or self._stopping:
            return
        now = time.monotonic()
        if self._restart_due is None:
            log.error(
                "MQTT network loop is not running; starting it again in %.0f s",
                LOOP_RESTART_DELAY_S,
            )
            self._signal(connected=False)
            self._restart_due = now + LOOP_RESTART_DELAY_S
            return
        if now < self._restart_due:
            return
        self._restart_due = None
        self._restarts = [t for t in self._restarts if now - t < LOOP_RESTART_WINDOW_S]
        if len(self._restarts) >= MAX_LOOP_RESTARTS:
            raise IngestStalledError(
                f"MQTT network loop stopped {len(self._restarts) + 1} times within "
                f"{LOOP_RESTART_WINDOW_S:.0f} s; giving up so a supervisor restarts ingest"
            )
        self._restarts.append(now)
        self.loop_restarts += 1
        self.pipeline.metrics.loop_restarts.inc()
        await asyncio.to_thread(self._restart_network, client)

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
        next_watch = time.monotonic() + WATCHDOG_INTERVAL_S
        try:
            while not stop.is_set():
                self.writer_heartbeat = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_flusher.wait(), FLUSH_INTERVAL_S)
                self._wake_flusher.clear()
                await self.flush()
                await self._apply_retention()
                if time.monotonic() >= next_watch:
                    next_watch = time.monotonic() + WATCHDOG_INTERVAL_S
                    await self._watch_network(client)
        finally:
            self._stopping = True
            with self._room:
                self._room.notify_all()
            await self.flush()
            if self.host is not None and client.is_connected():
                offline = self.host.announce(client, online=False)
                with contextlib.suppress(RuntimeError, ValueError):
                    await asyncio.to_thread(offline.wait_for_publish, STATE_PUBLISH_WAIT_S)
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    def _write(self, batch: list[Reading]) -> tuple[int, int]:
        """Store a batch: (readings stored or spooled, readings the store refused on data,
        which are dead-lettered rather than retried)."""
        now = time.time()
        refused = 0

        def refuse(reading: Reading, exc: Exception) -> None:
            nonlocal refused
            refused += 1
            self.pipeline.refuse_reading(reading, "store_rejected", exc, now)

        try:
            kept: int = write_isolating(self.store, batch, refuse)
        except Exception as exc:
            self.write_failed = f"{type(exc).__name__}: {exc}"[:300]
            raise
        self.write_failed = None
        return kept, refused

    def _save_sessions(self, changes: list[SessionChange]) -> None:
        """Save the Sparkplug sessions as of the batch just stored, before its PUBACKs."""
        assert self.sessions is not None
        try:
            self.sessions.save(changes)
        except Exception:  # a full disk must not stop ingest; a restart then asks rebirths
            log.exception("Sparkplug sessions could not be saved to %s", self.sessions.path)

    def _contained(self, sink: Callable[[Any], None], items: Any) -> None:
        """Hand stored readings (or signals) on; a fault there is logged, never ingest's end."""
        try:
            sink(items)
        except Exception:
            self.sink_errors += 1
            now = time.monotonic()
            if now - self._sink_error_logged_at >= SINK_ERROR_LOG_EVERY_S:
                self._sink_error_logged_at = now
                log.exception("the consumer of stored readings failed (%d times)", self.sink_errors)

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
            sessions = self.pipeline.sparkplug.changes() if self.sessions is not None else []
            signals = self.pipeline.drain_signals()
            acks, self._pending_acks = self._pending_acks, []
            self._room.notify_all()
        metrics = self.pipeline.metrics
        if batch:
            started = time.perf_counter()
            kept, refused = await asyncio.to_thread(self._write, batch)
            if kept + refused < len(batch):
                dropped = len(batch) - kept - refused
                metrics.store_refused.inc(dropped)
                log.error("store and spool full: %d readings dropped", dropped)
            metrics.write_seconds.observe(time.perf_counter() - started)
            metrics.batch_size.observe(len(batch))
            metrics.lag_seconds.set(time.time() - max(r.ts for r in batch))
            self.readings_written += len(batch) - refused
            if self.sink is not None:
                self._contained(self.sink, batch)
        elif isinstance(self.store, SpoolingStore) and self.store.spooled_batches:
            await asyncio.to_thread(self.store.drain)
        if sessions:
            await asyncio.to_thread(self._save_sessions, sessions)
        if signals and self.signal_sink is not None:
            self._contained(self.signal_sink, signals)
        if isinstance(self.store, SpoolingStore):
            metrics.spool_bytes.set(self.store.spool_bytes)
            metrics.spool_batches.set(self.store.spooled_batches)
        client = self._client
        if client is not None:
            ack_all(client, acks, self.options.qos)
        return len(batch)
