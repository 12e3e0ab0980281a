"""`riskstream cluster up|status|down` and the cluster it makes: MQTT from devices on any
node lands in the telemetry stream, three replicas, and survives a node killed with -9."""

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js.api import SubjectTransform
from typer.testing import CliRunner

from riskstream.cli import build_app
from riskstream.cluster.errors import ClusterSettingsError
from riskstream.cluster.layout import (
    DEFAULT_PARTITIONS,
    DUPLICATE_WINDOW_S,
    INGEST_SUBJECT_PREFIX,
    RISK_STREAM,
    TELEMETRY_STREAM,
    telemetry_transform,
)
from riskstream.cluster.nats_servers import NatsCluster, NodePorts, plan_ports
from riskstream.cluster.topology import ensure_topology, read_partitions
from tests.paho_publisher import publish_all, sequenced_payloads

# -- without servers ---------------------------------------------------------------------


def test_ports_from_a_base_port() -> None:
    assert plan_ports(3, 4222) == [
        NodePorts(client=4222, cluster=4223, monitor=4224, mqtt=4225),
        NodePorts(client=4232, cluster=4233, monitor=4234, mqtt=4235),
        NodePorts(client=4242, cluster=4243, monitor=4244, mqtt=4245),
    ]
    free = [port for node in plan_ports(3, 0) for port in node.all()]
    assert len(set(free)) == 12


def test_each_node_routes_to_all_and_keeps_its_own_store(tmp_path: Path) -> None:
    cluster = NatsCluster.plan(tmp_path, 3, 4222)
    config = cluster.config(2)
    assert 'server_name: "node-2"' in config
    assert 'listen: "127.0.0.1:4232"' in config and 'http: "127.0.0.1:4234"' in config
    for route in (4223, 4233, 4243):
        assert f'"nats://127.0.0.1:{route}"' in config
    assert f'store_dir: "{tmp_path.resolve()}/node-2/jetstream"' in config
    assert 'mqtt {\n  listen: "127.0.0.1:4235"\n  stream_replicas: 3\n}' in config


def test_a_stale_pid_file_is_never_signalled(tmp_path: Path) -> None:
    cluster = NatsCluster.plan(tmp_path, 1, 0)
    cluster.save()
    cluster.pid_path(1).write_text(f"{os.getpid()}\n")  # a live process, not our server
    again = NatsCluster.load(tmp_path)
    assert again.pid(1) is None
    assert again.stop() == []  # and pytest is still here


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_in_use_is_one_line_and_nothing_starts(tmp_path: Path, taken_port: int) -> None:
    result = CliRunner().invoke(
        build_app(),
        ["cluster", "up", "--dir", str(tmp_path / "c"), "--base-port", str(taken_port)],
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"error: port {taken_port} on 127.0.0.1 is already in use by another program; "
        "choose another --base-port (0: any free ports)"
    ]
    assert not (tmp_path / "c").exists()


# -- the command on a real cluster -------------------------------------------------------


@pytest.mark.cluster
def test_up_status_down(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    app, runner = build_app(), CliRunner()
    try:
        up = runner.invoke(
            app, ["cluster", "up", "--nodes", "3", "--dir", str(directory), "--base-port", "0"]
        )
        assert up.exit_code == 0, up.output
        cluster = NatsCluster.load(directory)
        lines = up.output.splitlines()
        assert lines[0].startswith(f"3 nodes up in {directory} (JetStream ready in ")
        assert "3 replicas, 16 partitions" in lines[1]
        assert f"NATS: {','.join(cluster.nats_urls)}" in lines
        assert f"MQTT: {' '.join(cluster.mqtt_urls)}" in lines
        assert all(cluster.running(node) for node in (1, 2, 3))
        for node in (1, 2, 3):
            assert (directory / f"node-{node}.pid").exists()
            assert (directory / f"node-{node}" / "server.log").stat().st_size > 0

        status = runner.invoke(app, ["cluster", "status", "--dir", str(directory)])
        assert status.exit_code == 0, status.output
        assert f"{directory}: 3 nodes, 3 running" in status.output
        for node, (nats_url, mqtt_url) in enumerate(
            zip(cluster.nats_urls, cluster.mqtt_urls, strict=True), 1
        ):
            line = next(x for x in status.output.splitlines() if x.startswith(f"node-{node} "))
            assert "running (pid " in line and nats_url in line and mqtt_url in line

        other = runner.invoke(app, ["cluster", "up", "--dir", str(directory), "--partitions", "32"])
        assert other.exit_code == 2
        assert "has 16 partitions and cannot change to 32" in other.output

        down = runner.invoke(app, ["cluster", "down", "--dir", str(directory)])
        assert down.exit_code == 0, down.output
        assert down.output == f"stopped node-1, node-2, node-3; data kept in {directory}\n"
        assert not any(cluster.running(node) for node in (1, 2, 3))
        status = runner.invoke(app, ["cluster", "status", "--dir", str(directory)])
        assert f"{directory}: 3 nodes, 0 running" in status.output
        assert status.output.count("  stopped ") == 3
    finally:
        if (directory / "cluster.json").exists():
            NatsCluster.load(directory).stop()


# -- the session's cluster ---------------------------------------------------------------


async def _connect(cluster: NatsCluster, without: int | None = None) -> Client:
    urls = [url for node, url in enumerate(cluster.nats_urls, 1) if node != without]
    return await nats.connect(urls, connect_timeout=2)


WAIT_S = 30.0
"""How long a test waits for messages to land or a leader to be elected."""


async def _count(nc: Client, tenant: str, at_least: int) -> int:
    """Messages of ``tenant`` in the telemetry stream, once there are ``at_least`` (riding
    out a stream without a leader), or when `WAIT_S` passes."""
    js = nc.jetstream(timeout=1.0)
    deadline = asyncio.get_running_loop().time() + WAIT_S
    count = -1
    while True:
        try:
            info = await js.stream_info(
                TELEMETRY_STREAM, subjects_filter=f"{INGEST_SUBJECT_PREFIX}.*.{tenant}.*"
            )
            count = sum((info.state.subjects or {}).values())
        except (nats.errors.TimeoutError, nats.js.errors.APIError):
            pass
        if count >= at_least or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.1)


def _as_published(stored: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """(MQTT topic, payload) of messages stored as ``rs.ingest.{partition}.{tenant}.{device}``,
    checking that each device has one ingest partition of the 16."""
    partition_of_device: dict[tuple[str, str], str] = {}
    published = []
    for subject, payload in stored:
        prefix, partition, tenant, device = subject.rsplit(".", 3)
        assert prefix == INGEST_SUBJECT_PREFIX and 0 <= int(partition) < DEFAULT_PARTITIONS
        assert partition_of_device.setdefault((tenant, device), partition) == partition
        published.append((f"rs/v1/{tenant}/{device}/telemetry", payload))
    return published


async def _stored(nc: Client, tenant: str) -> list[tuple[str, bytes]]:
    """Every message of ``tenant`` in the telemetry stream, in order (read one by one,
    which needs no consumer and so nothing that could still be electing its leader)."""
    js = nc.jetstream(timeout=2.0)
    found: list[tuple[str, bytes]] = []
    seq = 1
    while True:
        try:
            msg = await js.get_msg(
                TELEMETRY_STREAM,
                seq=seq,
                subject=f"{INGEST_SUBJECT_PREFIX}.*.{tenant}.*",
                next=True,
            )
        except nats.js.errors.NotFoundError:
            return found
        assert msg.subject is not None and msg.seq is not None
        found.append((msg.subject, msg.data or b""))
        seq = msg.seq + 1


async def _publish_over(ports: list[int], messages: list[tuple[str, bytes]], tag: str) -> None:
    """Publish at QoS 1, the messages dealt round-robin over the MQTT ``ports``."""
    for k, port in enumerate(ports):
        share = messages[k :: len(ports)]
        await asyncio.to_thread(publish_all, port, share, 100_000.0, f"{tag}-{k}")


async def test_mqtt_on_every_node_lands_in_the_telemetry_stream(nats_cluster: NatsCluster) -> None:
    devices = tuple(f"dev-{n}" for n in range(1, 11))
    messages = sequenced_payloads("bank-a", devices, per_device=30, start_ts=1.7e9)
    assert len(messages) == 300
    await _publish_over([p.mqtt for p in nats_cluster.ports], messages, "spread")
    nc = await _connect(nats_cluster)
    try:
        assert await _count(nc, "bank-a", 300) == 300
        stored = await _stored(nc, "bank-a")
        assert sorted(_as_published(stored)) == sorted(messages)
        info = await nc.jetstream().stream_info(TELEMETRY_STREAM)
        assert info.config.num_replicas == 3
        assert info.config.subject_transform == SubjectTransform(
            *telemetry_transform(DEFAULT_PARTITIONS)
        )
        assert info.cluster is not None and info.cluster.leader is not None
        assert len(info.cluster.replicas or []) == 2
        risk = await nc.jetstream().stream_info(RISK_STREAM)
        assert risk.config.duplicate_window == DUPLICATE_WINDOW_S
    finally:
        await nc.close()


async def _new_leader(nc: Client, not_on: str) -> str:
    """The telemetry stream's leader once it is elected on a node other than ``not_on``."""
    js = nc.jetstream(timeout=1.0)
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        try:
            info = await js.stream_info(TELEMETRY_STREAM)
            if info.cluster and info.cluster.leader and info.cluster.leader != not_on:
                return info.cluster.leader
        except (nats.errors.TimeoutError, nats.js.errors.APIError):
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{TELEMETRY_STREAM} elected no leader in {WAIT_S:g} s")


@pytest.mark.slow  # 8-13 s here: NATS takes seconds to elect the stream's new leader
async def test_after_the_stream_leader_is_killed_publishing_still_lands(
    nats_cluster: NatsCluster,
) -> None:
    """SIGKILL the telemetry stream's leader; once the stream answers again (a new leader),
    MQTT published through a surviving node lands in full.

    Not asserted, because NATS does not offer it: messages published *while* the stream
    has no leader. The MQTT side acknowledges a QoS 1 PUBLISH once its own ``$MQTT_msgs``
    stream has it and hands the message to our stream as a plain NATS publish, which a
    stream without a leader drops (seen here: 0 of 50 landed, every one acknowledged).
    """
    nc = await _connect(nats_cluster)
    try:
        info = await nc.jetstream().stream_info(TELEMETRY_STREAM)
    finally:
        await nc.close()
    assert info.cluster is not None and info.cluster.leader is not None
    victim = int(info.cluster.leader.removeprefix("node-"))
    survivor = next(n for n in nats_cluster.node_numbers if n != victim)
    nats_cluster.kill(victim)
    try:
        assert not nats_cluster.running(victim)
        nc = await _connect(nats_cluster, without=victim)
        try:
            await _new_leader(nc, not_on=f"node-{victim}")  # the stream answers again
            messages = sequenced_payloads("bank-k", ("dev-1", "dev-2"), 25, start_ts=1.7e9)
            await _publish_over([nats_cluster.ports[survivor - 1].mqtt], messages, "after-kill")
            # QoS 1 is at least once: a PUBLISH whose acknowledgement was lost while the
            # MQTT streams changed leader is sent again, so a message may be stored twice
            landed = await _count(nc, "bank-k", 50)
            assert landed >= 50, f"{landed} of 50 in the stream with node-{victim} down"
            stored = await _stored(nc, "bank-k")
            assert len(stored) == landed
            assert set(_as_published(stored)) == set(messages)
        finally:
            await nc.close()
    finally:
        nats_cluster.restart(victim)
    nc = await _connect(nats_cluster)
    try:  # whole again for the session's other tests: every replica current
        for _ in range(100):
            info = await nc.jetstream().stream_info(TELEMETRY_STREAM)
            replicas = info.cluster.replicas if info.cluster else None
            if replicas and len(replicas) == 2 and all(r.current for r in replicas):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"replicas not current after restarting node-{victim}: {info.cluster}")
        assert await _count(nc, "bank-k", landed) == landed
    finally:
        await nc.close()


async def test_the_partition_count_is_readable_and_fixed(nats_cluster: NatsCluster) -> None:
    nc = await _connect(nats_cluster)
    try:
        js = nc.jetstream()
        assert await read_partitions(js) == DEFAULT_PARTITIONS
        assert await ensure_topology(nc, 3, DEFAULT_PARTITIONS) == DEFAULT_PARTITIONS
        assert await ensure_topology(js, 3) == DEFAULT_PARTITIONS
        with pytest.raises(ClusterSettingsError, match="has 16 partitions and cannot change to 8"):
            await ensure_topology(js, 3, 8)
        assert await read_partitions(js) == DEFAULT_PARTITIONS
    finally:
        await nc.close()
