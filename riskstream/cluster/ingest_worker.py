"""`riskstream worker ingest`: validate and store device messages, hand them to risk workers.

The telemetry stream files each device's messages under one ingest partition (a hash of
tenant and device, computed by NATS: `riskstream.cluster.layout.telemetry_transform`).
An ingest worker owns some ingest partitions (`riskstream.cluster.leases`) and reads each
from the message after the last one handed on in the stream
(`riskstream.cluster.ingest_position`, written after every batch), through a consumer of
its own: a partition taken over, after a hand-back or a worker's death, goes on at once
from there, with no acknowledgement to time out first.
Each message goes through the same `IngestPipeline` as in the single-process service
(decoding, signatures, validation, de-duplication by the device's sequence number, dead
letters); the readings it gives are written to the time-series store and then
published, with the data-integrity signals, to the risk stream's subject of the
borrower's partition, with the telemetry stream's sequence number as de-duplication id.
The position moves on only after that, so a worker that dies loses nothing, and what it
had published already and its successor publishes again is stored once.

Devices' QoS 0 telemetry, which nats-server does not store, reaches the telemetry stream
through each worker's `riskstream.cluster.qos0_relay.Qos0Relay`.

A risk worker orders each partition's readings by event time before its engine sees
them (`riskstream.cluster.partition_engine`).
"""

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from devices.model import Fleet
from devices.reading import Reading
from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table, seed_sequences
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline, sequence_key
from ingest.stores import TelemetryStore
from riskstream.cluster.connection import connect_cluster
from riskstream.cluster.ingest_position import (
    encode_position,
    position_key,
    start_after,
    stream_identity,
)
from riskstream.cluster.layout import (
    INGEST_SUBJECT_PREFIX,
    LEASES_BUCKET,
    SETTINGS_BUCKET,
    TELEMETRY_STREAM,
    TRANSIENT_ERRORS,
    ingest_subject,
    partition_of,
    risk_subject,
)
from riskstream.cluster.leases import PartitionLeases
from riskstream.cluster.logins import NatsLogin
from riskstream.cluster.messages import encode_heartbeat, encode_risk, risk_message_id
from riskstream.cluster.qos0_relay import Qos0Relay
from riskstream.cluster.supervisor import CLUSTER_ERRORS, PartitionSupervisor, close_quietly
from riskstream.cluster.topology import read_partitions

log = logging.getLogger(__name__)

FETCH_BATCH = 512
FETCH_WAIT_S = 0.5
STALE_WAIT_S = 0.2
STOP_WAIT_S = 30.0
PUBLISH_IN_FLIGHT = 256
HEARTBEAT_S = 0.1
"""How often the worker looks whether its partitions came further, to say so."""
IDLE_AFTER_S = 0.05
"""A partition whose fetch has waited this long for a message is idle: the heartbeat
loop asks its consumer whether it may say the partition came as far as the stream."""
HEARTBEAT_ANYWAY_S = 5.0
"""A heartbeat even when nothing changed, so that risk partitions know the worker lives
(well under `riskstream.cluster.partition_engine.SOURCE_TIMEOUT_S`)."""


@dataclass
class IngestWorkerConfig:
    """What an ingest worker needs besides the cluster."""

    fleets: list[Fleet]
    store: TelemetryStore
    deadletter: DeadLetterStore
    metrics: IngestMetrics
    prefix: str = "rs/v1"
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    login: NatsLogin | None = None
    """The NATS user ``ingest`` of a cluster with users (`riskstream.cluster.permissions`)."""


class IngestWorker:
    """One ingest worker: leases on ingest partitions, one pipeline, the store."""

    def __init__(self, servers: list[str], config: IngestWorkerConfig) -> None:
        self.servers = servers
        self.config = config
        self.pipeline = IngestPipeline(
            device_table(config.fleets), config.deadletter, config.metrics, prefix=config.prefix
        )
        self.borrower_of = {
            (fleet.tenant.id, device.id): borrower.id
            for fleet in config.fleets
            for borrower in fleet.borrowers
            for device in borrower.devices
        }
        self._supervisor: PartitionSupervisor | None = None
        self._through: dict[int, int] = {}
        """ingest partition -> telemetry sequence number it has handed everything on up to."""
        self._handed: dict[int, int] = {}
        """ingest partition -> telemetry sequence number of the last message handed on."""
        self._waiting: dict[int, tuple[float, JetStreamContext.PullSubscription]] = {}
        """ingest partition -> (since when, subscription) of a fetch waiting for messages."""
        self._stream_last = 0
        """The telemetry stream's last sequence number, read every `HEARTBEAT_S` (one
        request for all partitions, not one per partition and fetch)."""
        self._devices_of: dict[int, set[str]] = {}
        """ingest partition -> sequence keys of the devices seen in it."""
        self._work = ThreadPoolExecutor(1, thread_name_prefix="ingest-work")
        self.messages_handled = 0
        self.readings_stored = 0
        self._js: JetStreamContext | None = None
        self._leases: PartitionLeases | None = None
        self._risk_partitions = 0
        self.qos0 = Qos0Relay(servers, f"ingest-{config.worker_id}", config.login)

    @property
    def worker_id(self) -> str:
        return self.config.worker_id

    async def run(self, stop: asyncio.Event) -> None:
        """Own ingest partitions and work them until ``stop``; then hand them back."""
        nc = await connect_cluster(
            self.servers, f"ingest-{self.worker_id}", login=self.config.login
        )
        self._js = nc.jetstream()
        try:
            partitions = await read_partitions(self._js)
            self._risk_partitions = partitions
            await asyncio.get_running_loop().run_in_executor(
                self._work, seed_sequences, self.pipeline, self.config.store
            )
            self._leases = leases = PartitionLeases(
                await self._js.key_value(LEASES_BUCKET), "ingest", self.worker_id, partitions
            )
            self._supervisor = PartitionSupervisor(leases, self._start_partition, STOP_WAIT_S)
            heartbeats = asyncio.create_task(self._heartbeats(stop), name="ingest-heartbeats")
            relay = asyncio.create_task(self.qos0.run(stop), name="ingest-qos0")
            try:
                await self._supervisor.run(stop, nc)
            finally:
                heartbeats.cancel()
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError, *CLUSTER_ERRORS):
                    await relay
        finally:
            if self._supervisor is not None:
                for task in self._supervisor.tasks.values():
                    task.cancel()
            await close_quietly(nc)
            self._work.shutdown(wait=True)

    @property
    def tasks(self) -> dict[int, asyncio.Task[None]]:
        """The partitions this worker works now, and their tasks."""
        return self._supervisor.tasks if self._supervisor is not None else {}

    async def _start_partition(self, partition: int, stop: asyncio.Event) -> asyncio.Task[None]:
        self._through.pop(partition, None)
        self._handed.pop(partition, None)
        self._waiting.pop(partition, None)
        await asyncio.get_running_loop().run_in_executor(
            self._work, self._forget_devices_of, partition
        )
        return asyncio.create_task(
            self._run_partition(partition, stop), name=f"ingest-p{partition}"
        )

    async def _run_partition(self, partition: int, stop: asyncio.Event) -> None:
        js = self._js
        assert js is not None
        positions = await js.key_value(SETTINGS_BUCKET)
        key = position_key(partition)
        start, stream = await self._start_of(partition, positions)
        config = ConsumerConfig(
            filter_subject=ingest_subject(partition),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
        )
        subscription = await js.pull_subscribe(
            ingest_subject(partition), stream=TELEMETRY_STREAM, config=config
        )
        self._through[partition] = self._handed[partition] = start - 1
        try:
            while not stop.is_set():
                if self._leases is not None and not self._leases.fresh():
                    await asyncio.sleep(STALE_WAIT_S)  # renewals are late: someone may own it now
                    continue
                # the stream's end before the fetch (as the heartbeat loop last read it):
                # if the fetch leaves nothing pending, every message of this partition up
                # to it has been handed on
                known = self._stream_last
                self._waiting[partition] = (time.monotonic(), subscription)
                try:
                    messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                except (nats.errors.TimeoutError, TimeoutError):
                    messages = []
                except TRANSIENT_ERRORS:
                    await asyncio.sleep(STALE_WAIT_S)
                    continue
                finally:
                    self._waiting.pop(partition, None)
                if messages:
                    await self._handle(messages, partition)
                    last = messages[-1].metadata.sequence.stream
                    await positions.put(key, encode_position(last, stream))
                    self._handed[partition] = last
                    caught_up = messages[-1].metadata.num_pending == 0
                    self._came_to(partition, max(last, known if caught_up else 0))
                else:
                    self._came_to(partition, known)
        finally:
            self._waiting.pop(partition, None)
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    def _came_to(self, partition: int, through: int) -> None:
        """Every message of ``partition`` up to telemetry sequence ``through`` is handed on."""
        if partition in self._through:
            self._through[partition] = max(self._through[partition], through)

    async def _advance_idle(self) -> None:
        """Say that idle partitions came as far as the stream: a partition whose fetch is
        waiting has nothing pending if its consumer has none and delivered nothing past
        what was handed on. Without this, an idle partition would say so only after its
        fetch gave up (`FETCH_WAIT_S`), and every risk partition would wait for it."""
        stream_last = self._stream_last  # read before the consumers: all up to it count
        now = time.monotonic()
        for partition, (since, subscription) in list(self._waiting.items()):
            if now - since < IDLE_AFTER_S or self._through.get(partition, stream_last) >= (
                stream_last
            ):
                continue
            try:
                info = await subscription.consumer_info()
            except CLUSTER_ERRORS:
                continue  # the partition says so itself after its fetch
            if (
                info.num_pending == 0
                and not info.num_ack_pending
                and info.delivered is not None
                and info.delivered.stream_seq <= self._handed.get(partition, -1)
            ):
                self._came_to(partition, stream_last)

    async def _start_of(self, partition: int, positions: KeyValue) -> tuple[int, str]:
        """The telemetry stream sequence to read a partition from (after the last one
        handed on in this stream, or from the start), and the stream's identity."""
        assert self._js is not None
        try:
            value = (await positions.get(position_key(partition))).value
        except KeyNotFoundError:
            value = None
        # the stream after the position: it holds every message the position counts
        info = await self._js.stream_info(TELEMETRY_STREAM)
        stream = stream_identity(info)
        start = start_after(value, stream, info.state.last_seq)
        if start.reason is not None:
            log.warning(
                "ingest partition %d: %s; reading the stream from the start",
                partition,
                start.reason,
            )
        return start.sequence, stream

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        """Tell every risk partition how far each of this worker's partitions has come:
        one message for all of them, when that changed, and every `HEARTBEAT_ANYWAY_S`."""
        js = self._js
        assert js is not None
        said: dict[int, int] = {}
        said_at = -math.inf
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_S)
            with contextlib.suppress(*TRANSIENT_ERRORS):  # a leader is being elected
                last = (await js.stream_info(TELEMETRY_STREAM)).state.last_seq
                self._stream_last = max(self._stream_last, last)
            fresh = self._leases is not None and self._leases.fresh()
            if fresh:
                await self._advance_idle()
            now = {p: through for p, through in self._through.items() if p in self.tasks}
            if (
                not fresh
                or not now
                or (now == said and time.monotonic() - said_at < HEARTBEAT_ANYWAY_S)
            ):
                continue
            data = encode_heartbeat(now)
            try:
                await asyncio.gather(
                    *(js.publish(risk_subject(p), data) for p in range(self._risk_partitions))
                )
            except CLUSTER_ERRORS as exc:
                log.warning("ingest worker %s: heartbeat not sent (%r)", self.worker_id, exc)
                continue
            said, said_at = now, time.monotonic()

    async def _handle(self, messages: list[Msg], source: int) -> None:
        """Validate, store, and publish to the risk stream: one risk message per device
        message that gave readings or signals.

        The pipeline and the store's write run in the worker's one thread for such work
        (`_work`), so the event loop stays free to renew leases and send heartbeats."""
        loop = asyncio.get_running_loop()
        by_partition, stored = await loop.run_in_executor(
            self._work, self._validate, messages, source
        )
        if stored:
            await loop.run_in_executor(self._work, self.config.store.write, stored)
            self.readings_stored += len(stored)
        await asyncio.gather(*(self._publish(p, items) for p, items in by_partition.items()))
        self.messages_handled += len(messages)

    def _validate(
        self, messages: list[Msg], source: int
    ) -> tuple[dict[int, list[tuple[str, bytes]]], list[Reading]]:
        now = time.time()
        by_partition: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
        stored: list[Reading] = []
        seen = self._devices_of.setdefault(source, set())
        for message in messages:
            tenant, device = _tenant_and_device(message.subject)
            seen.add(sequence_key(tenant, device))
            topic = f"{self.config.prefix}/{tenant}/{device}/telemetry"
            self.pipeline.handle(topic, message.data, now)
            readings = self.pipeline.drain()
            signals = self.pipeline.drain_signals()
            if not readings and not signals:
                continue
            stored.extend(readings)
            borrower = self.borrower_of.get((tenant, device))
            if borrower is None:
                continue  # accepted by the pipeline, so registered: only a fleet change
            partition = partition_of(tenant, borrower, self._risk_partitions)
            seq = message.metadata.sequence.stream
            by_partition[partition].append(
                (risk_message_id(seq), encode_risk(readings, signals, source, seq))
            )
        return by_partition, stored

    def _forget_devices_of(self, partition: int) -> None:
        """Another worker may have taken this partition's messages since this one last
        had it: start its devices' sequences afresh (what it hands on again is stored
        once by the risk stream's de-duplication)."""
        for key in self._devices_of.pop(partition, set()):
            self.pipeline.sequences.forget(key)

    async def _publish(self, partition: int, items: list[tuple[str, bytes]]) -> None:
        """Publish one partition's messages, many in flight at once on the one connection
        (the server takes them in the order they were sent; the risk worker orders
        readings by event time anyway)."""
        js = self._js
        assert js is not None
        subject = risk_subject(partition)
        for start in range(0, len(items), PUBLISH_IN_FLIGHT):
            await asyncio.gather(
                *(
                    js.publish(subject, data, headers={"Nats-Msg-Id": message_id})
                    for message_id, data in items[start : start + PUBLISH_IN_FLIGHT]
                )
            )


def _tenant_and_device(subject: str) -> tuple[str, str]:
    """(tenant, device) of ``rs.ingest.{partition}.{tenant}.{device}``; NATS writes a ``.``
    of an MQTT topic as ``//`` in the subject."""
    rest = subject[len(INGEST_SUBJECT_PREFIX) + 1 :]
    _, tenant, device = rest.split(".", 2)
    return tenant.replace("//", "."), device.replace("//", ".")
