"""`riskstream cluster up|status|down` and the cluster it makes: MQTT from devices on any
node lands in the telemetry stream, three replicas, and no acknowledged message is lost
when a node is killed with -9 mid-publish."""

import asyncio
import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.js.errors
import orjson
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamConsumerSource,
    StreamSource,
    SubjectTransform,
)
from typer.testing import CliRunner

from riskstream.cli import build_app
from riskstream.cluster.errors import ClusterSettingsError
from riskstream.cluster.layout import (
    DEFAULT_PARTITIONS,
    DUPLICATE_WINDOW_S,
    INGEST_SUBJECT_PREFIX,
    MQTT_STREAM,
    QOS0_SUBJECT_PREFIX,
    RISK_STREAM,
    TELEMETRY_SOURCE_CONSUMER,
    TELEMETRY_SOURCE_DELIVER,
    TELEMETRY_STREAM,
    TELEMETRY_SUBJECT,
    qos0_transform,
    telemetry_transform,
)
from riskstream.cluster.nats_servers import NatsCluster, NodePorts, plan_ports
from riskstream.cluster.topology import ensure_topology, read_partitions, stream_configs
from tests.paho_publisher import publish_all, sequenced_payloads
from tests.servers import admin_options, device_login

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
        assert f'@127.0.0.1:{route}"' in config  # with the routes' user and password
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
            app,
            ["cluster", "up", "--nodes", "3", "--dir", str(directory), "--base-port", "0",
             "--tenant", "bank-a", "--tenant", "bank-b"],
        )  # fmt: skip
        assert up.exit_code == 0, up.output
        cluster = NatsCluster.load(directory)
        lines = up.output.splitlines()
        assert (
            f"logins in {directory / 'logins'}: admin, ingest, risk, api; "
            "devices: devices-bank-a, devices-bank-b"
        ) in lines
        for user in ("admin", "ingest", "risk", "api", "route", "devices-bank-a"):
            assert cluster.login(user).password not in up.output  # never printed
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
    return await nats.connect(urls, connect_timeout=2, **admin_options(cluster))


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
    which needs no consumer and so nothing that could still be electing its leader).
    A read the cluster answers "temporarily unavailable" (JetStream's own meta leader
    being elected after a node was killed) or not in time is asked again, for at most
    `WAIT_S` in all."""
    js = nc.jetstream(timeout=2.0)
    deadline = asyncio.get_running_loop().time() + WAIT_S
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
        except (nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError):
            assert asyncio.get_running_loop().time() < deadline, f"stream unreadable at {seq}"
            await asyncio.sleep(0.25)
            continue
        assert msg.subject is not None and msg.seq is not None
        found.append((msg.subject, msg.data or b""))
        seq = msg.seq + 1


async def _publish_over(
    cluster: NatsCluster, ports: list[int], messages: list[tuple[str, bytes]], tag: str
) -> None:
    """Publish at QoS 1 as the lender's devices, the messages dealt round-robin over the
    MQTT ``ports``."""
    login = device_login(cluster, messages[0][0].split("/")[2])
    for k, port in enumerate(ports):
        share = messages[k :: len(ports)]
        await asyncio.to_thread(publish_all, port, share, 100_000.0, f"{tag}-{k}", login)


async def test_mqtt_on_every_node_lands_in_the_telemetry_stream(nats_cluster: NatsCluster) -> None:
    devices = tuple(f"dev-{n}" for n in range(1, 11))
    messages = sequenced_payloads("bank-a", devices, per_device=30, start_ts=1.7e9)
    assert len(messages) == 300
    await _publish_over(nats_cluster, [p.mqtt for p in nats_cluster.ports], messages, "spread")
    nc = await _connect(nats_cluster)
    try:
        assert await _count(nc, "bank-a", 300) == 300
        stored = await _stored(nc, "bank-a")
        assert sorted(_as_published(stored)) == sorted(messages)
        info = await nc.jetstream().stream_info(TELEMETRY_STREAM)
        assert info.config.num_replicas == 3
        # sourced from $MQTT_msgs, not captured: the stream's own subject is the one the
        # ingest workers relay QoS 0 telemetry to, filed under the same partitions
        assert info.config.subjects == [f"{QOS0_SUBJECT_PREFIX}.*.*"]
        assert info.config.subject_transform == SubjectTransform(
            *qos0_transform(DEFAULT_PARTITIONS)
        )
        assert info.config.sources == [
            StreamSource(
                name=MQTT_STREAM,
                subject_transforms=[SubjectTransform(*telemetry_transform(DEFAULT_PARTITIONS))],
                consumer=StreamConsumerSource(TELEMETRY_SOURCE_CONSUMER, TELEMETRY_SOURCE_DELIVER),
            )
        ]
        source = await nc.jetstream().consumer_info(MQTT_STREAM, TELEMETRY_SOURCE_CONSUMER)
        assert source.config.ack_policy == AckPolicy.FLOW_CONTROL
        assert source.cluster is not None and len(source.cluster.replicas or []) == 2
        mqtt = await nc.jetstream().stream_info(MQTT_STREAM)
        assert mqtt.config.retention == RetentionPolicy.INTEREST
        assert mqtt.config.num_replicas == 3
        assert info.cluster is not None and info.cluster.leader is not None
        assert len(info.cluster.replicas or []) == 2
        risk = await nc.jetstream().stream_info(RISK_STREAM)
        assert risk.config.duplicate_window == DUPLICATE_WINDOW_S
    finally:
        await nc.close()


async def _telemetry_leader(nc: Client) -> str:
    """The telemetry stream's leader, once it has one."""
    js = nc.jetstream(timeout=1.0)
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        leader = await _leader(js, TELEMETRY_STREAM, None)
        if leader is not None:
            return leader
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{TELEMETRY_STREAM} elected no leader in {WAIT_S:g} s")


async def _leader(js: JetStreamContext, stream: str, consumer: str | None) -> str | None:
    try:
        if consumer is None:
            cluster = (await js.stream_info(stream)).cluster
        else:
            cluster = (await js.consumer_info(stream, consumer)).cluster
    except (nats.errors.TimeoutError, nats.js.errors.APIError):
        return None
    return cluster.leader if cluster is not None else None


async def _lead_on(nc: Client, node: str, stream: str, consumer: str | None = None) -> None:
    """Move the leader of a stream (or of one of its consumers) to ``node``: a leader
    step-down naming the preferred server, again until it is there."""
    js = nc.jetstream(timeout=1.0)
    if consumer is None:
        stepdown = f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}"
    else:
        stepdown = f"$JS.API.CONSUMER.LEADER.STEPDOWN.{stream}.{consumer}"
    request = json.dumps({"placement": {"preferred": node}}).encode()
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while (leader := await _leader(js, stream, consumer)) != node:
        assert asyncio.get_running_loop().time() < deadline, f"{stream} {consumer}: {leader}"
        if leader is not None:
            with contextlib.suppress(nats.errors.TimeoutError):
                await nc.request(stepdown, request, timeout=1.0)
        await asyncio.sleep(0.2)


def _published_while(
    port: int,
    messages: list[tuple[str, bytes]],
    client_id: str,
    done: threading.Event,
    login: tuple[str, str],
) -> None:
    publish_all(
        port, messages, 100.0, client_id, login
    )  # returns once every message is acknowledged
    done.set()


@pytest.mark.slow  # 5-15 s each here: NATS takes seconds to elect the new leaders
@pytest.mark.parametrize("mqtt_leader_too", [False, True], ids=["telemetry-leader", "all-leaders"])
async def test_a_node_killed_mid_publish_loses_no_acknowledged_reading(
    nats_cluster: NatsCluster, mqtt_leader_too: bool
) -> None:
    """SIGKILL the node that leads the telemetry stream and the consumer it sources
    through (and, the second time, ``$MQTT_msgs``) while devices publish QoS 1 through the
    other two nodes: every message acknowledged to a device is in the telemetry stream.

    NATS acknowledges a QoS 1 PUBLISH once ``$MQTT_msgs`` has stored it (on a quorum of
    its replicas); the message stays there (interest retention) until the telemetry
    stream's flow-control reply, sent through its own replication log, acknowledges it.
    With the telemetry stream capturing the core subject instead, as before, the first
    case fails (tried: 42 of the 400 acknowledged messages landed). The second lost none
    even so: while ``$MQTT_msgs`` has no leader NATS acknowledges nothing, and the
    devices send again."""
    nc = await _connect(nats_cluster)
    try:
        doomed = await _telemetry_leader(nc)
        await _lead_on(nc, doomed, MQTT_STREAM, TELEMETRY_SOURCE_CONSUMER)
        spared = next(f"node-{n}" for n in nats_cluster.node_numbers if f"node-{n}" != doomed)
        await _lead_on(nc, doomed if mqtt_leader_too else spared, MQTT_STREAM)
        await _lead_on(nc, doomed, TELEMETRY_STREAM)  # moved by none of the above
    finally:
        await nc.close()
    victim = int(doomed.removeprefix("node-"))
    survivors = [n for n in nats_cluster.node_numbers if n != victim]
    tenant = "bank-all" if mqtt_leader_too else "bank-k"
    devices = tuple(f"dev-{n}" for n in range(1, 11))
    messages = sequenced_payloads(tenant, devices, per_device=40, start_ts=1.7e9)
    expected = {(device, seq) for device in devices for seq in range(1, 41)}
    done = [threading.Event() for _ in survivors]
    publishers = [
        asyncio.create_task(
            asyncio.to_thread(
                _published_while,
                nats_cluster.ports[node - 1].mqtt,
                messages[k :: len(survivors)],
                f"{tenant}-{k}",
                done[k],
                device_login(nats_cluster, tenant),
            )
        )
        for k, node in enumerate(survivors)
    ]
    nc = await _connect(nats_cluster, without=victim)
    try:
        started = asyncio.get_running_loop().time()
        assert await _count(nc, tenant, 40) >= 40  # publishing is under way
        assert not any(event.is_set() for event in done)
        nats_cluster.kill(victim)
        killed_after = asyncio.get_running_loop().time() - started
        await asyncio.gather(*publishers)  # every message acknowledged, or TimeoutError
        acknowledged_after = asyncio.get_running_loop().time() - started
        landed = await _count(nc, tenant, len(messages))
        stored = await _stored(nc, tenant)
        assert len(stored) == landed
        found = {_device_and_seq(subject, payload) for subject, payload in stored}
        missing = sorted(expected - found)
        assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:10]}"
        assert found == expected
        print(
            f"\nnode-{victim} (leading {'all' if mqtt_leader_too else 'but $MQTT_msgs'}) "
            f"killed {killed_after:.1f} s into publishing; "
            f"{len(messages)} acknowledged after {acknowledged_after:.1f} s; "
            f"{landed} stored ({len(found)} distinct)"
        )
    finally:
        await nc.close()
        nats_cluster.restart(victim)
    nc = await _connect(nats_cluster)
    try:  # whole again for the session's other tests, and $MQTT_msgs has let go of all
        js = nc.jetstream(timeout=1.0)
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while not await _whole(js):
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"not whole {WAIT_S:g} s after restarting node-{victim}")
            await asyncio.sleep(0.1)
        assert await _count(nc, tenant, landed) == landed
    finally:
        await nc.close()


async def _whole(js: JetStreamContext) -> bool:
    """Whether every replica of the telemetry stream is current and the source consumer
    has handed on (and had acknowledged) everything."""
    try:
        info = await js.stream_info(TELEMETRY_STREAM)
        source = await js.consumer_info(MQTT_STREAM, TELEMETRY_SOURCE_CONSUMER)
    except (nats.errors.TimeoutError, nats.js.errors.APIError):  # restarting node-N
        return False
    replicas = info.cluster.replicas if info.cluster else None
    return (
        replicas is not None
        and len(replicas) == 2
        and all(r.current for r in replicas)
        and source.num_pending == 0
        and source.num_ack_pending == 0
    )


def _device_and_seq(subject: str, payload: bytes) -> tuple[str, int]:
    return subject.rsplit(".", 1)[1], int(orjson.loads(payload)["seq"])


OLD_TELEMETRY = StreamConfig(
    name=TELEMETRY_STREAM,
    subjects=[TELEMETRY_SUBJECT],
    storage=StorageType.FILE,
    num_replicas=3,
    subject_transform=SubjectTransform(
        TELEMETRY_SUBJECT,
        f"{INGEST_SUBJECT_PREFIX}.{{{{partition({DEFAULT_PARTITIONS},1,2)}}}}"
        ".{{wildcard(1)}}.{{wildcard(2)}}",
    ),
)
"""The telemetry stream as `cluster up` made it before 2026-12: capturing the core subject."""


async def test_a_telemetry_stream_of_an_older_cluster_up_is_updated_in_place(
    nats_cluster: NatsCluster,
) -> None:
    nc = await _connect(nats_cluster)
    try:
        js = nc.jetstream(timeout=2.0)
        await js.delete_consumer(MQTT_STREAM, TELEMETRY_SOURCE_CONSUMER)
        await js.update_stream(OLD_TELEMETRY)
        port = nats_cluster.ports[0].mqtt
        messages = sequenced_payloads("bank-m", ("dev-1", "dev-2"), 20, start_ts=1.7e9)
        await _publish_over(nats_cluster, [port], messages[:20], "old")
        assert await _count(nc, "bank-m", 20) == 20
        before = (await js.stream_info(TELEMETRY_STREAM)).state.last_seq

        assert await ensure_topology(nc, 3) == DEFAULT_PARTITIONS
        info = await js.stream_info(TELEMETRY_STREAM)
        assert info.config.subjects == [f"{QOS0_SUBJECT_PREFIX}.*.*"]
        assert info.config.subject_transform == SubjectTransform(
            *qos0_transform(DEFAULT_PARTITIONS)
        )
        assert info.config.sources == stream_configs(3, DEFAULT_PARTITIONS)[0].sources
        assert info.state.last_seq == before  # the same stream: its messages stay
        await _publish_over(nats_cluster, [port], messages[20:], "new")
        assert await _count(nc, "bank-m", 40) == 40
        stored = await _stored(nc, "bank-m")
        assert sorted(_as_published(stored)) == sorted(messages)
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
