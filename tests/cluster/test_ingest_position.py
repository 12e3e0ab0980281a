"""Where an ingest partition reads on when a telemetry stream was made anew while the
partitions' positions of the old one remained (as `cluster up` over an old settings
bucket, an operator's repair, or one test after another on one cluster): from the new
stream's first message, not from the old position's number."""

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig, StreamInfo, StreamState
from prometheus_client import CollectorRegistry

from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.stores import open_store
from riskstream.cluster.ingest_position import (
    Start,
    encode_position,
    start_after,
    stream_identity,
)
from riskstream.cluster.ingest_worker import IngestWorker, IngestWorkerConfig
from riskstream.cluster.layout import DEFAULT_PARTITIONS, SETTINGS_BUCKET, TELEMETRY_STREAM
from riskstream.cluster.nats_servers import NatsCluster
from riskstream.cluster.topology import prepare_cluster
from tests.cluster.test_qos0 import TENANT, _Device, _fleet, _topic
from tests.cluster.test_workers import _fresh_topology
from tests.servers import admin_options, device_login

OLD = "2026-12-01T08:00:00.123456+00:00"
NEW = "2026-12-06T06:10:00.654321+00:00"

# -- without servers ---------------------------------------------------------------------


def test_a_position_of_the_stream_is_read_on_from_the_message_after_it() -> None:
    assert start_after(encode_position(601, NEW), NEW, 700) == Start(602)
    assert start_after(encode_position(700, NEW), NEW, 700) == Start(701)
    assert start_after(None, NEW, 700) == Start(1)


def test_a_position_of_a_stream_made_before_is_not_followed_however_long_the_new_one() -> None:
    # the flake: partition 9's position 601 of the day before, the new stream past 601
    start = start_after(encode_position(601, OLD), NEW, 700)
    assert start.sequence == 1
    assert start.reason is not None and OLD in start.reason and NEW in start.reason


def test_a_position_without_a_stream_is_followed_only_up_to_the_streams_end() -> None:
    assert start_after(b"601", NEW, 700) == Start(602)
    assert start_after(b"601", NEW, 600).sequence == 1
    assert start_after(encode_position(601, ""), NEW, 700) == Start(602)


@pytest.mark.parametrize("value", [b"", b"x 1", b"-3 " + NEW.encode(), b"\xff\xfe", b"1.5"])
def test_a_position_that_is_no_sequence_number_reads_from_the_start(value: bytes) -> None:
    start = start_after(value, NEW, 700)
    assert start.sequence == 1 and start.reason is not None


def test_a_stream_is_named_by_its_creation_time() -> None:
    made = datetime(2026, 12, 6, 6, 10, 0, 654321, tzinfo=UTC)
    state = StreamState(messages=0, bytes=0, first_seq=0, last_seq=0, consumer_count=0)
    info = StreamInfo(config=StreamConfig(name=TELEMETRY_STREAM), state=state, created=made)
    assert stream_identity(info) == NEW
    assert stream_identity(StreamInfo(config=info.config, state=state)) == ""


# -- on a real 3-node cluster -----------------------------------------------------------


async def _publish(cluster: NatsCluster, device: str, seqs: range) -> None:
    """QoS 1 messages of one device (so one ingest partition), each acknowledged."""
    mqtt = await asyncio.to_thread(
        _Device, cluster.ports[0].mqtt, device_login(cluster, TENANT), f"position-{seqs[0]}"
    )
    try:
        for seq in seqs:
            body = {"ts": time.time(), "seq": seq, "values": {"weight_kg": 2e6}}
            info = await asyncio.to_thread(mqtt.publish, _topic(device), body, 1)
            await asyncio.to_thread(info.wait_for_publish, 30)
    finally:
        await asyncio.to_thread(mqtt.close)


async def _stores(cluster: NatsCluster, folder: Path, wanted: int, within_s: float) -> int:
    """Run an ingest worker (a fresh store in ``folder``) until it stored ``wanted``
    readings or ``within_s`` passed after it owned every partition; what it stored."""
    folder.mkdir()
    worker = IngestWorker(
        cluster.nats_urls,
        IngestWorkerConfig(
            fleets=[_fleet()],
            store=open_store(f"duckdb:///{folder}/t.duckdb"),
            deadletter=DeadLetterStore(folder / "dead.jsonl"),
            metrics=IngestMetrics.create(CollectorRegistry()),
            worker_id=folder.name,
            login=cluster.login("ingest"),
        ),
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        deadline = time.monotonic() + 60
        while len(worker.tasks) < DEFAULT_PARTITIONS:
            assert time.monotonic() < deadline and not run.done(), sorted(worker.tasks)
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + within_s
        while worker.readings_stored < wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return worker.readings_stored
    finally:
        stop.set()
        await run
        worker.config.store.close()
        worker.config.deadletter.close()


@pytest.mark.slow
async def test_a_telemetry_stream_made_anew_is_read_from_its_first_message(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    await _fresh_topology(nats_cluster)
    await _publish(nats_cluster, "d000000", range(1, 4))
    assert await _stores(nats_cluster, tmp_path / "before", 3, 60) == 3
    admin = await nats.connect(servers=nats_cluster.nats_urls, **admin_options(nats_cluster))
    try:
        js = admin.jetstream(timeout=10.0)
        settings = await js.key_value(SETTINGS_BUCKET)
        positions = [
            (await settings.get(key)).value or b""
            for key in await settings.keys()
            if key.startswith("position.ingest.")
        ]
        # its partition's position is message 3 of this stream; the stream is made anew
        assert [p.split()[0] for p in positions if p.split()[0] != b"0"] == [b"3"], positions
        await js.delete_stream(TELEMETRY_STREAM)
    finally:
        await admin.close()
    await prepare_cluster(
        nats_cluster.nats_urls, nats_cluster.replicas, login=nats_cluster.login("admin")
    )
    await _publish(nats_cluster, "d000000", range(11, 14))  # messages 1-3 of the new one
    admin = await nats.connect(servers=nats_cluster.nats_urls, **admin_options(nats_cluster))
    try:
        js = admin.jetstream(timeout=10.0)
        deadline = time.monotonic() + 60  # the stream sources them from the MQTT stream
        while (await js.stream_info(TELEMETRY_STREAM)).state.last_seq < 3:
            assert time.monotonic() < deadline, "the new stream did not take the messages"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    assert await _stores(nats_cluster, tmp_path / "after", 3, 20) == 3
