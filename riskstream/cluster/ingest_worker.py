"""`riskstream worker ingest`: validate and store device messages, hand them to risk workers.

The telemetry stream files each device's messages under one ingest partition (a hash of
tenant and device, computed by NATS: `riskstream.cluster.layout.telemetry_transform`).
An ingest worker owns some ingest partitions (`riskstream.cluster.leases`) and reads each
through a durable consumer named after it, so a partition taken over goes on from the
first message its last owner did not acknowledge. Each message goes through the same
`IngestPipeline` as in the single-process service (decoding, signatures, validation,
de-duplication by the device's sequence number, dead letters); the readings it gives are
written to the time-series store and then published, with the data-integrity signals,
to the risk stream's subject of the borrower's partition, with the telemetry stream's
sequence number as de-duplication id. Messages are acknowledged only after that, so a
worker that dies loses nothing, and what it had published already is stored once.

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
from dataclasses import dataclass, field

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from devices.model import Fleet
from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table, seed_sequences
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.stores import TelemetryStore
from riskstream.cluster.layout import (
    INGEST_CONSUMER,
    INGEST_SUBJECT_PREFIX,
    LEASE_TTL_S,
    LEASES_BUCKET,
    TELEMETRY_STREAM,
    ingest_subject,
    partition_of,
    risk_subject,
)
from riskstream.cluster.leases import PartitionLeases
from riskstream.cluster.messages import encode_heartbeat, encode_risk, risk_message_id
from riskstream.cluster.risk_worker import read_partitions

log = logging.getLogger(__name__)

FETCH_BATCH = 512
FETCH_WAIT_S = 0.5
ACK_WAIT_S = 60.0
PUBLISH_IN_FLIGHT = 256
HEARTBEAT_S = 0.5


@dataclass
class IngestWorkerConfig:
    """What an ingest worker needs besides the cluster."""

    fleets: list[Fleet]
    store: TelemetryStore
    deadletter: DeadLetterStore
    metrics: IngestMetrics
    prefix: str = "rs/v1"
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def consumer_name(partition: int) -> str:
    return f"{INGEST_CONSUMER}-p{partition}"


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
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.messages_handled = 0
        self.readings_stored = 0
        self._js: JetStreamContext | None = None
        self._risk_partitions = 0

    @property
    def worker_id(self) -> str:
        return self.config.worker_id

    async def run(self, stop: asyncio.Event) -> None:
        """Own ingest partitions and work them until ``stop``; then hand them back."""
        nc = await nats.connect(servers=self.servers, name=f"ingest-{self.worker_id}")
        self._js = nc.jetstream()
        try:
            partitions = await read_partitions(self._js)
            self._risk_partitions = partitions
            seed_sequences(self.pipeline, self.config.store)
            leases = PartitionLeases(
                await self._js.key_value(LEASES_BUCKET), "ingest", self.worker_id, partitions
            )
            while not stop.is_set():
                changes = await leases.renew()
                for partition in changes.lost:
                    task = self.tasks.pop(partition, None)
                    if task is not None:
                        task.cancel()
                for partition in changes.surplus:
                    await self._stop_partition(partition)
                    await leases.release(partition)
                for partition in changes.gained:
                    self.tasks[partition] = asyncio.create_task(
                        self._run_partition(partition), name=f"ingest-p{partition}"
                    )
                for partition, task in list(self.tasks.items()):
                    if task.done():
                        why = "cancelled" if task.cancelled() else repr(task.exception())
                        log.error(
                            "ingest partition %d stopped (%s): giving it back", partition, why
                        )
                        self.tasks.pop(partition)
                        await leases.release(partition)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), LEASE_TTL_S / 3)
            for partition in sorted(self.tasks):
                await self._stop_partition(partition)
            await leases.release_all()
        finally:
            for task in self.tasks.values():
                task.cancel()
            await nc.close()

    async def _stop_partition(self, partition: int) -> None:
        task = self.tasks.pop(partition, None)
        if task is None:
            return
        task.cancel()  # unacknowledged messages go to the next owner
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run_partition(self, partition: int) -> None:
        assert self._js is not None
        config = ConsumerConfig(
            durable_name=consumer_name(partition),
            filter_subject=ingest_subject(partition),
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.ALL,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=-1,
        )
        subscription = await self._js.pull_subscribe(
            ingest_subject(partition),
            durable=consumer_name(partition),
            stream=TELEMETRY_STREAM,
            config=config,
        )
        watermark = -math.inf
        last_heartbeat = -math.inf
        while True:
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
            except (nats.errors.TimeoutError, TimeoutError):
                messages = []
            if messages:
                watermark = max(watermark, await self._handle(messages, partition))
                await messages[-1].ack()
            if time.monotonic() - last_heartbeat >= HEARTBEAT_S or not messages:
                await self._heartbeat(partition, watermark, idle=not messages)
                last_heartbeat = time.monotonic()

    async def _heartbeat(self, source: int, watermark: float, idle: bool) -> None:
        """Tell every risk partition how far this ingest partition has come."""
        js = self._js
        assert js is not None
        data = encode_heartbeat(source, watermark, idle)
        await asyncio.gather(
            *(js.publish(risk_subject(p), data) for p in range(self._risk_partitions))
        )

    async def _handle(self, messages: list[Msg], source: int) -> float:
        """Validate, store, and publish to the risk stream: one risk message per device
        message that gave readings or signals. The newest event time handed on."""
        now = time.time()
        by_partition: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
        stored = []
        for message in messages:
            tenant, device = _tenant_and_device(message.subject)
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
                (risk_message_id(seq), encode_risk(readings, signals, source))
            )
        if stored:
            await asyncio.to_thread(self.config.store.write, stored)
            self.readings_stored += len(stored)
        await asyncio.gather(*(self._publish(p, items) for p, items in by_partition.items()))
        self.messages_handled += len(messages)
        return max((r.ts for r in stored), default=-math.inf)

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
