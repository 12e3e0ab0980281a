"""The MQTT side of ingest: subscribe with QoS 1, validate, batch, write, hand on.

`IngestRunner.run` keeps a persistent session (stable client id, clean session off)
and reconnects with exponential backoff. A flusher writes the buffered readings to
the store every `FLUSH_INTERVAL_S` or when `BATCH_MAX_READINGS` are waiting, then
passes the batch to the sink (the risk engine, when riskstream runs ingest).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from devices.reading import Reading
from devices.topics import DEFAULT_PREFIX, subscription
from ingest.pipeline import IngestPipeline
from ingest.stores.base import TelemetryStore

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.1
BATCH_MAX_READINGS = 5000
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0

BatchSink = Callable[[list[Reading]], None]


@dataclass(frozen=True)
class BrokerAddress:
    """Where the MQTT broker listens."""

    host: str
    port: int = 1883

    @classmethod
    def parse(cls, url: str) -> "BrokerAddress":
        """Parse ``mqtt://host[:port]``; ValueError says what is wrong."""
        if not url.startswith("mqtt://"):
            raise ValueError(f"broker URL {url!r} must look like mqtt://HOST:PORT")
        rest = url[len("mqtt://") :].rstrip("/")
        host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "1883")
        if not host:
            raise ValueError(f"broker URL {url!r} has no host")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"broker URL {url!r}: port {port!r} is not a number in 1..65535")
        return cls(host, int(port))


class IngestRunner:
    """Runs the subscriber and the batch writer until stopped."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        store: TelemetryStore,
        broker: BrokerAddress,
        *,
        sink: BatchSink | None = None,
        client_id: str = "riskstream-ingest",
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.broker = broker
        self.sink = sink
        self.client_id = client_id
        self.prefix = prefix
        self.readings_written = 0
        self.connected = asyncio.Event()
        self._wake_flusher = asyncio.Event()
        self._write_seconds = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe and write until ``stop`` is set; then flush what is buffered."""
        receiver = asyncio.create_task(self._receive_forever(), name="ingest-receive")
        flusher = asyncio.create_task(self._flush_forever(stop), name="ingest-flush")
        await stop.wait()
        receiver.cancel()
        self._wake_flusher.set()
        await asyncio.gather(receiver, return_exceptions=True)
        await flusher

    async def _receive_forever(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            try:
                async with aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    identifier=self.client_id,
                    clean_session=False,
                    keepalive=30,
                ) as client:
                    await client.subscribe(subscription(self.prefix, "telemetry"), qos=1)
                    await client.subscribe(subscription(self.prefix, "status"), qos=1)
                    self.connected.set()
                    delay = RECONNECT_MIN_S
                    log.info("ingest connected to %s:%d", self.broker.host, self.broker.port)
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes | bytearray):
                            payload = str(payload).encode()
                        self.pipeline.handle(message.topic.value, bytes(payload), time.time())
                        if self.pipeline.buffered >= BATCH_MAX_READINGS:
                            self._wake_flusher.set()
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                log.warning(
                    "MQTT broker %s:%d unreachable (%s); retrying in %.1f s",
                    self.broker.host,
                    self.broker.port,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _flush_forever(self, stop: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_flusher.wait(), FLUSH_INTERVAL_S)
            self._wake_flusher.clear()
            await self.flush()
            if stop.is_set():
                await self.flush()
                return

    async def flush(self) -> int:
        """Write the buffered readings and pass them to the sink; return how many."""
        batch = self.pipeline.drain()
        if not batch:
            return 0
        started = time.perf_counter()
        await asyncio.to_thread(self.store.write, batch)
        elapsed = time.perf_counter() - started
        metrics = self.pipeline.metrics
        metrics.write_seconds.observe(elapsed)
        metrics.batch_size.observe(len(batch))
        metrics.lag_seconds.set(time.time() - max(r.ts for r in batch))
        self.readings_written += len(batch)
        if self.sink is not None:
            self.sink(batch)
        return len(batch)
