"""QoS 0 telemetry on a real 3-node cluster: nats-server stores only QoS 1 and 2 messages,
so the ingest workers relay the QoS 0 ones (`riskstream.cluster.qos0_relay`).

A device publishing QoS 0 and QoS 1 alternately has every reading stored once, each
message filed under its device's one ingest partition, and an alert raised from a QoS 0
reading; another lender's devices, a worker user forging nats-server's QoS header and
core messages without it put nothing in the stream; a QoS 0 flood beyond the relay's
bound is dropped and counted while the QoS 1 messages sent with it are all stored."""

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import nats.errors
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from devices.model import Fleet
from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.stores import open_store
from riskstream.bench.cluster import cluster_fleet
from riskstream.bench.latency import INSIDE, OUTSIDE
from riskstream.cluster import qos0_relay
from riskstream.cluster.ingest_worker import IngestWorker, IngestWorkerConfig
from riskstream.cluster.layout import (
    ALERTS_STREAM,
    DEFAULT_PARTITIONS,
    MQTT_QOS_HEADER,
    TELEMETRY_STREAM,
)
from riskstream.cluster.nats_servers import NatsCluster
from riskstream.cluster.qos0_relay import qos0_tokens, relayed_message_id
from riskstream.cluster.risk_worker import RiskWorker, RiskWorkerConfig
from riskstream.rules.schema import parse_rules
from tests.cluster.test_workers import KEY, _fresh_topology
from tests.servers import admin_options, device_login

pytestmark = pytest.mark.slow

TENANT = "bank-a"
STRANGER = "bank-b"
WAIT_S = 120.0
RULES = """
[rules.geofence_exit]
for = "0s"
clear_after = "0s"
[rules.inventory_below_pledge]
enabled = false
[rules.device_silent]
enabled = false
"""


def _fleet() -> Fleet:
    fleet = cluster_fleet(devices=4, borrowers=2).model_dump()
    fleet["tenant"]["id"] = TENANT
    return Fleet.model_validate(fleet)


# -- without servers ---------------------------------------------------------------------


def test_only_a_qos0_telemetry_message_of_one_lender_and_device_is_relayed() -> None:
    subject = "rs.v1.bank-a.d//1.telemetry"
    assert qos0_tokens(subject, {MQTT_QOS_HEADER: "0"}) == ("bank-a", "d//1")
    for headers in (None, {}, {MQTT_QOS_HEADER: "1"}, {MQTT_QOS_HEADER: "2"},
                    {MQTT_QOS_HEADER: " 0"}, {MQTT_QOS_HEADER: "00"}, {"nmqtt-pub": "0"}):  # fmt: skip
        assert qos0_tokens(subject, headers) is None, headers
    for other in ("rs.v1.bank-a.d1.status", "rs.v1.bank-a.d1.x.telemetry", "rs.v2.a.d.telemetry",
                  "rs.v1.bank-a.telemetry", "x.v1.bank-a.d1.telemetry"):  # fmt: skip
        assert qos0_tokens(other, {MQTT_QOS_HEADER: "0"}) is None, other


def test_the_relay_id_tells_lenders_devices_and_payloads_apart() -> None:
    ids = {
        relayed_message_id("a", "bc", b"x"),
        relayed_message_id("ab", "c", b"x"),  # no ambiguity where one id ends
        relayed_message_id("a", "bc", b"y"),
        relayed_message_id("b", "bc", b"x"),
    }
    assert len(ids) == 4
    assert relayed_message_id("a", "bc", b"x") == relayed_message_id("a", "bc", b"x")


# -- on the session's cluster ------------------------------------------------------------


@asynccontextmanager
async def _workers(cluster: NatsCluster, tmp_path: Path) -> AsyncIterator[IngestWorker]:
    """One ingest and one risk worker, in this process, owning every partition."""
    await _fresh_topology(cluster)
    fleet = _fleet()
    ingest = IngestWorker(
        cluster.nats_urls,
        IngestWorkerConfig(
            fleets=[fleet],
            store=open_store(f"duckdb:///{tmp_path}/t.duckdb"),
            deadletter=DeadLetterStore(tmp_path / "dead.jsonl"),
            metrics=IngestMetrics.create(CollectorRegistry()),
            worker_id="i1",
            login=cluster.login("ingest"),
        ),
    )
    risk = RiskWorker(
        cluster.nats_urls,
        RiskWorkerConfig(
            fleets=[fleet],
            rules=parse_rules(RULES, "test rules"),
            own_rules={},
            checkpoint_key=KEY.encode(),
            worker_id="r1",
            login=cluster.login("risk"),
        ),
    )
    stop = asyncio.Event()
    runs = [asyncio.create_task(ingest.run(stop)), asyncio.create_task(risk.run(stop))]
    try:
        deadline = time.monotonic() + WAIT_S
        while len(ingest.tasks) < DEFAULT_PARTITIONS or len(risk.owned) < DEFAULT_PARTITIONS:
            assert time.monotonic() < deadline, f"{sorted(ingest.tasks)}, {sorted(risk.owned)}"
            assert not any(run.done() for run in runs), [run.exception() for run in runs]
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the relay's subscription is in place
        yield ingest
    finally:
        stop.set()
        await asyncio.gather(*runs)
        ingest.config.store.close()
        ingest.config.deadletter.close()


class _Device:
    """An MQTT connection of one lender's devices that waits for each QoS 1 PUBACK."""

    def __init__(self, port: int, login: tuple[str, str], client_id: str) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(*login)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        connected = threading.Event()
        self.client.on_connect = lambda *_: connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert connected.wait(30), "the MQTT listener did not accept the device"

    def publish(self, topic: str, body: dict[str, Any], qos: int) -> paho.MQTTMessageInfo:
        return self.client.publish(topic, orjson.dumps(body), qos=qos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _topic(device: str, tenant: str = TENANT) -> str:
    return f"rs/v1/{tenant}/{device}/telemetry"


async def _stored_subjects(js: Any, tenant: str) -> dict[str, int]:
    info = await js.stream_info(TELEMETRY_STREAM, subjects_filter=f"rs.ingest.*.{tenant}.>")
    return dict(info.state.subjects or {})


async def _alerts(js: Any) -> list[dict[str, Any]]:
    state = (await js.stream_info(ALERTS_STREAM)).state
    found = []
    for seq in range(max(state.first_seq, 1), state.last_seq + 1) if state.messages else ():
        found.append(json.loads((await js.get_msg(ALERTS_STREAM, seq)).data))
    return found


async def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S:g} s: {what}"
        await asyncio.sleep(0.2)


async def test_qos0_and_qos1_readings_are_each_stored_once_and_raise_alerts(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    cells = ("d000000", "d000002")  # borrower b0000's load cells
    start = time.time() - 60
    async with _workers(nats_cluster, tmp_path) as ingest:
        admin = await nats.connect(servers=nats_cluster.nats_urls, **admin_options(nats_cluster))
        js = admin.jetstream(timeout=5.0)
        device = await asyncio.to_thread(
            _Device, nats_cluster.ports[1].mqtt, device_login(nats_cluster, TENANT), "qos-mix"
        )
        try:
            sent = []
            for i in range(20):  # QoS 0, 1, 0, 1, ... for each cell
                for cell in cells:
                    body = {"ts": start + i, "seq": i + 1, "values": {"weight_kg": 2e6 + i}}
                    sent.append(await asyncio.to_thread(device.publish, _topic(cell), body, i % 2))
            # a vehicle leaves its fence in a QoS 0 message; the other stays inside at QoS 1
            for vehicle, (lat, lon), qos in (
                ("b0000-gps-a", OUTSIDE, 0),
                ("b0001-gps-a", INSIDE, 1),
            ):
                body = {"ts": start + 30, "seq": 1, "values": {"lat_deg": lat, "lon_deg": lon}}
                sent.append(await asyncio.to_thread(device.publish, _topic(vehicle), body, qos))
            for info in sent:
                await asyncio.to_thread(info.wait_for_publish, 30)
        finally:
            await asyncio.to_thread(device.close)

        async def stored() -> bool:
            return ingest.readings_stored >= 44

        await _until(
            stored, f"44 readings stored (a position is two), {ingest.readings_stored} so far"
        )

        async def raised() -> bool:
            return any(a["kind"] == "geofence_exit" for a in await _alerts(js))

        await _until(raised, "the geofence alert of the QoS 0 reading")
        await asyncio.sleep(3)  # anything stored twice or raised wrongly would show now
        subjects = await _stored_subjects(js, TENANT)
        alerts = await _alerts(js)
        store = ingest.config.store
        for cell in cells:
            rows = await asyncio.to_thread(store.query, cell, "weight_kg", start, start + 60)
            assert [ts for ts, _ in rows] == [start + i for i in range(20)], cell
        await admin.close()
    assert ingest.readings_stored == 44
    by_device = {s.rsplit(".", 1)[1]: (s, n) for s, n in subjects.items()}
    # one subject (so one ingest partition) per device, whatever the QoS of its messages
    assert {d: n for d, (_, n) in by_device.items()} == {
        "d000000": 20, "d000002": 20, "b0000-gps-a": 1, "b0001-gps-a": 1,
    }  # fmt: skip
    assert ingest.qos0.relayed == ingest.qos0.taken == 21
    assert ingest.qos0.dropped == 0
    assert ingest.qos0.ignored >= 21  # the core copies of the QoS 1 messages
    assert {(a["kind"], a["subject"]) for a in alerts} == {("geofence_exit", "b0000-gps-a")}


async def test_no_other_lender_or_forged_header_gets_a_message_into_the_stream(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    payload = {"ts": time.time() - 10, "seq": 7, "values": {"weight_kg": 1.0}}
    async with _workers(nats_cluster, tmp_path) as ingest:
        admin = await nats.connect(servers=nats_cluster.nats_urls, **admin_options(nats_cluster))
        js = admin.jetstream(timeout=5.0)
        errors: list[str] = []

        async def note(exc: Exception) -> None:
            errors.append(str(exc).lower())

        worker = await nats.connect(
            servers=nats_cluster.nats_urls, error_cb=note, **nats_cluster.login("risk").connect_options()
        )  # fmt: skip
        stranger = await asyncio.to_thread(
            _Device, nats_cluster.ports[0].mqtt, device_login(nats_cluster, STRANGER), "qos-x"
        )
        try:
            # another lender's devices: on this lender's topic, and straight at the subject
            # the relay publishes to
            for topic in (_topic("d000000"), f"rs/qos0/{TENANT}/d000000"):
                for qos in (0, 1):
                    info = await asyncio.to_thread(stranger.publish, topic, payload, qos)
                    await asyncio.to_thread(info.wait_for_publish, 30)
            # a worker's user forging nats-server's QoS header, or publishing as the relay
            data = orjson.dumps(payload)
            await worker.publish(
                f"rs.v1.{TENANT}.d000000.telemetry", data, headers={MQTT_QOS_HEADER: "0"}
            )
            await worker.publish(f"rs.qos0.{TENANT}.d000000", data)
            await worker.flush()
            # core messages that did not come from an MQTT QoS 0 publish (the admin user
            # may publish anywhere): the relay passes them over
            ignored_before = ingest.qos0.ignored
            for headers in (None, {MQTT_QOS_HEADER: "1"}, {MQTT_QOS_HEADER: "00"}):
                await admin.publish(f"rs.v1.{TENANT}.d000002.telemetry", data, headers=headers)
            await admin.flush()
            # and a message of this lender's own devices still goes through
            own = await asyncio.to_thread(
                _Device, nats_cluster.ports[2].mqtt, device_login(nats_cluster, TENANT), "qos-own"
            )
            try:
                info = await asyncio.to_thread(own.publish, _topic("d000000"), payload, 0)
                await asyncio.to_thread(info.wait_for_publish, 30)
            finally:
                await asyncio.to_thread(own.close)

            async def own_stored() -> bool:
                return ingest.readings_stored >= 1

            await _until(own_stored, "the lender's own QoS 0 reading")
            await asyncio.sleep(3)  # anything else would be stored by now
            assert await _stored_subjects(js, TENANT) == {
                next(iter(await _stored_subjects(js, TENANT))): 1
            }
            assert await _stored_subjects(js, STRANGER) == {}
            assert ingest.readings_stored == 1
            assert ingest.qos0.ignored - ignored_before >= 3
            assert ingest.qos0.relayed == 1
            assert any(
                f'permissions violation for publish to "rs.v1.{TENANT}.d000000.telemetry"' in e
                for e in errors
            ), errors
            assert any(
                f'permissions violation for publish to "rs.qos0.{TENANT}.d000000"' in e
                for e in errors
            ), errors
        finally:
            await asyncio.to_thread(stranger.close)
            await worker.close()
            await admin.close()


async def test_a_qos0_flood_is_dropped_and_counted_and_qos1_goes_on(
    nats_cluster: NatsCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(qos0_relay, "PENDING_MESSAGES", 50)
    caplog.set_level(logging.WARNING, logger=qos0_relay.__name__)
    flood, steady = 5_000, 200
    start = time.time() - 3600
    async with _workers(nats_cluster, tmp_path) as ingest:
        flooder = await asyncio.to_thread(
            _Device, nats_cluster.ports[0].mqtt, device_login(nats_cluster, TENANT), "flood"
        )
        device = await asyncio.to_thread(
            _Device, nats_cluster.ports[1].mqtt, device_login(nats_cluster, TENANT), "steady"
        )

        def flood_it() -> None:
            for i in range(flood):
                body = {"ts": start + i * 0.5, "seq": i + 1, "values": {"weight_kg": 2e6}}
                flooder.publish(_topic("d000000"), body, 0)

        def steady_on() -> list[paho.MQTTMessageInfo]:
            sent = []
            for i in range(steady):
                body = {"ts": start + i, "seq": i + 1, "values": {"weight_kg": 2e6}}
                sent.append(device.publish(_topic("d000002"), body, 1))
                time.sleep(0.005)
            return sent

        try:
            _, sent = await asyncio.gather(
                asyncio.to_thread(flood_it), asyncio.to_thread(steady_on)
            )
            for info in sent:
                await asyncio.to_thread(info.wait_for_publish, 60)
            relay = ingest.qos0

            async def settled() -> bool:
                return relay.taken + relay.dropped >= flood and relay.pending == 0

            await _until(settled, f"{relay.taken} + {relay.dropped} of {flood} QoS 0 messages")

            async def stored() -> bool:
                return ingest.readings_stored >= steady + relay.relayed

            await _until(stored, f"{ingest.readings_stored} readings stored")
            await asyncio.sleep(2)
        finally:
            await asyncio.to_thread(flooder.close)
            await asyncio.to_thread(device.close)
        store = ingest.config.store
        steady_rows = await asyncio.to_thread(
            store.query, "d000002", "weight_kg", start, start + steady
        )
        flood_rows = await asyncio.to_thread(
            store.query, "d000000", "weight_kg", start, start + flood
        )
    assert len(steady_rows) == steady  # every QoS 1 reading, once
    assert relay.dropped > 0
    assert relay.taken + relay.dropped == flood
    assert len(flood_rows) == relay.relayed == relay.taken
    assert ingest.readings_stored == steady + relay.relayed
    assert any("QoS 0 messages dropped" in r.getMessage() for r in caplog.records)
    print(f"QoS 0 flood of {flood}: {relay.relayed} relayed, {relay.dropped} dropped")
