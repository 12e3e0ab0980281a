"""How far each ingest partition says it has handed everything on (``through``), on a real
3-node cluster: a partition with nothing to read says it came as far as the stream
within a heartbeat or two, not only when its fetch gives up; a partition with a message
delivered but not handed on does not."""

import asyncio
import time
from pathlib import Path

import nats
import pytest
from prometheus_client import CollectorRegistry

from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.stores import open_store
from riskstream.cluster import ingest_worker
from riskstream.cluster.ingest_worker import IngestWorker, IngestWorkerConfig
from riskstream.cluster.layout import DEFAULT_PARTITIONS, TELEMETRY_STREAM
from riskstream.cluster.nats_servers import NatsCluster
from tests.cluster.test_qos0 import TENANT, _Device, _fleet, _topic
from tests.cluster.test_workers import _fresh_topology
from tests.servers import admin_options, device_login

pytestmark = pytest.mark.slow

FETCH_WAIT_S = 12.0
"""Long, so that no partition could say it came further by its fetch giving up."""


async def test_idle_partitions_say_they_came_as_far_as_the_stream_without_waiting_out_a_fetch(
    nats_cluster: NatsCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_worker, "FETCH_WAIT_S", FETCH_WAIT_S)
    await _fresh_topology(nats_cluster)
    worker = IngestWorker(
        nats_cluster.nats_urls,
        IngestWorkerConfig(
            fleets=[_fleet()],
            store=open_store(f"duckdb:///{tmp_path}/t.duckdb"),
            deadletter=DeadLetterStore(tmp_path / "dead.jsonl"),
            metrics=IngestMetrics.create(CollectorRegistry()),
            worker_id="i1",
            login=nats_cluster.login("ingest"),
        ),
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    admin = await nats.connect(servers=nats_cluster.nats_urls, **admin_options(nats_cluster))
    js = admin.jetstream(timeout=5.0)
    try:
        deadline = time.monotonic() + 60
        while len(worker.tasks) < DEFAULT_PARTITIONS:
            assert time.monotonic() < deadline and not run.done(), sorted(worker.tasks)
            await asyncio.sleep(0.2)
        await asyncio.sleep(FETCH_WAIT_S)  # every partition is waiting in a fetch now
        device = await asyncio.to_thread(
            _Device, nats_cluster.ports[0].mqtt, device_login(nats_cluster, TENANT), "through"
        )
        try:
            body = {"ts": time.time(), "seq": 1, "values": {"weight_kg": 2e6}}
            info = await asyncio.to_thread(device.publish, _topic("d000000"), body, 1)
            await asyncio.to_thread(info.wait_for_publish, 30)
        finally:
            await asyncio.to_thread(device.close)
        while (seq := (await js.stream_info(TELEMETRY_STREAM)).state.last_seq) < 1:
            await asyncio.sleep(0.01)
        stored = time.monotonic()
        while min(worker._through.get(p, 0) for p in range(DEFAULT_PARTITIONS)) < seq:
            assert time.monotonic() - stored < FETCH_WAIT_S / 2, dict(worker._through)
            await asyncio.sleep(0.01)
        took = time.monotonic() - stored
        assert worker.readings_stored == 1
        # and none of them says more than the stream holds
        assert max(worker._through.values()) == seq
    finally:
        stop.set()
        await run
        await admin.close()
        worker.config.store.close()
        worker.config.deadletter.close()
    print(f"every ingest partition came to message {seq} {took * 1000:.0f} ms after it was stored")
