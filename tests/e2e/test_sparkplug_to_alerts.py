"""Sparkplug B end to end on a real mosquitto: the same simulated fleet published as JSON
(one lender) and as Sparkplug B edge nodes (another) raises the same alerts, each edge
node's death takes its devices offline, and a seq gap is answered by a rebirth request."""

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.model import Fleet, Sparkplug
from devices.registry import Registry
from devices.sparkplug import sparkplug_map
from devices.sparkplug.sparkplug_b_pb2 import Payload
from ingest.device_table import device_table
from ingest.service import IngestSettings, run_ingest
from ingest.subscriber import IngestRunner, MqttOptions
from riskstream.service.alert_store import AlertFilter
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from simulator import generate, generate_fleet, plan_scenarios, publish, truth_records
from simulator.publisher import parse_broker_url
from tests.e2e.expectations import expected_alerts
from tests.ingest.sparkplug_messages import dbirth, ddata, nbirth, sparkplug_fleet
from tests.servers import Mosquitto

pytestmark = pytest.mark.broker

ASSIGN = {"b001": "inventory_drain", "b002": "geofence_exit", "b003": "device_silent"}
WINDOW_S = 7 * 3600.0
SEED = 5


def alerts_of(runtime: Runtime, tenant: str) -> list[dict[str, Any]]:
    return runtime.alerts.query(AlertFilter(tenant=tenant), limit=1000)[1]


def keys(alerts: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(a["borrower_id"], a["kind"], a["subject"]) for a in alerts}


async def alerts_of_a_run(
    mosquitto: Mosquitto, workdir: Path, fleet: Fleet, *, sparkplug: bool
) -> tuple[set[tuple[str, str, str]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Play the scenarios through a service of its own (the engine's clock is one per
    service, so one lender's replay must not move another's): the alerts the scenarios
    must raise, the alerts raised and the messages refused."""
    workdir.mkdir()
    db = str(workdir / "rs.db")
    Registry(open_service_database(db)).import_fleet(fleet)
    start = float(int(time.time() - WINDOW_S))
    end = start + WINDOW_S
    injections = plan_scenarios(fleet, SEED, start, end, assign=ASSIGN)
    expected = expected_alerts(truth_records(fleet.tenant.id, injections, end))
    runtime = Runtime(
        ServiceSettings(
            broker=mosquitto.url,
            store=f"duckdb:///{workdir}/t.duckdb",
            spool_dir=workdir / "spool",
            database=db,
            deadletter=workdir / "dead.jsonl",
            client_id=f"e2e-{fleet.tenant.id}-{time.time_ns()}",
        )
    )
    host, port = parse_broker_url(mosquitto.url)
    async with runtime.running():
        await asyncio.wait_for(runtime.ingest.connected.wait(), 10)  # type: ignore[union-attr]
        sent = await publish(
            generate(fleet, injections, start, end, SEED),
            tenant=fleet.tenant.id,
            host=host,
            port=port,
            speed=0,
            start_ts=start,
            client_id=f"e2e-sim-{time.time_ns()}",
            sparkplug=sparkplug_map([fleet]) if sparkplug else None,
        )
        assert sent > 2000
        devices = {d.id for d in fleet.devices()}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alerts = alerts_of(runtime, fleet.tenant.id)
            dead = {a["subject"] for a in alerts if a["kind"] == "device_silent"}
            everything = not sparkplug or dead == devices
            if expected <= keys(alerts) and everything and runtime.pipeline.buffered == 0:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)  # anything extra would show up now
        refused = runtime.deadletter.recent(fleet.tenant.id)
        return expected, alerts_of(runtime, fleet.tenant.id), refused


@pytest.mark.slow
async def test_sparkplug_fleet_raises_the_json_fleets_alerts(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    as_json = generate_fleet(4, seed=SEED, tenant="json-bank")
    as_sparkplug = generate_fleet(4, seed=SEED, tenant="spark-bank").model_copy(
        update={"sparkplug": Sparkplug()}
    )
    expected, json_alerts, _ = await alerts_of_a_run(
        mosquitto, tmp_path / "json", as_json, sparkplug=False
    )
    _, spark_alerts, refused = await alerts_of_a_run(
        mosquitto, tmp_path / "sparkplug", as_sparkplug, sparkplug=True
    )
    assert len(expected) == 3 and expected <= keys(json_alerts)
    silent = "device_silent"
    # the same alerts from the data; then every edge node's NDEATH (the simulator's end)
    # declares each of its devices offline, a silence alert for each
    assert {k for k in keys(spark_alerts) if k[1] != silent} == {
        k for k in keys(json_alerts) if k[1] != silent
    }
    json_silent = {k for k in keys(json_alerts) if k[1] == silent}
    assert json_silent <= keys(spark_alerts)
    declared = [a for a in spark_alerts if a["kind"] == silent]
    assert {a["subject"] for a in declared} == {d.id for d in as_sparkplug.devices()}
    # the scenario's silent device may have been found silent before its DDEATH came
    assert all(
        "declared offline by its gateway (Sparkplug death certificate)" in a["reasons"]
        for a in declared
        if (a["borrower_id"], silent, a["subject"]) not in json_silent
    )
    assert refused == [], "no Sparkplug message of the fleet was refused"


def _wait_for(event: threading.Event, what: str) -> None:
    assert event.wait(10), what


async def test_seq_gap_is_answered_by_a_rebirth_request(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    fleet = sparkplug_fleet("bank-a")
    stop = asyncio.Event()
    ready: list[IngestRunner] = []
    task = asyncio.create_task(
        run_ingest(
            IngestSettings(
                broker=mosquitto.url,
                store=f"duckdb:///{tmp_path}/t.duckdb",
                spool_dir=tmp_path / "spool",
                mqtt=MqttOptions(client_id=f"rebirth-{time.time_ns()}"),
            ),
            device_table([fleet]),
            stop,
            on_ready=ready.append,
            sparkplug=sparkplug_map([fleet]),
        )
    )
    while not ready or not ready[0].connected.is_set():
        assert not task.done()
        await asyncio.sleep(0.05)
    host, port = parse_broker_url(mosquitto.url)
    requests: list[bytes] = []
    got = threading.Event()
    subscribed = threading.Event()
    edge = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-{time.time_ns()}")

    def on_message(_c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        requests.append(message.payload)
        got.set()

    edge.on_message = on_message
    edge.on_subscribe = lambda *_: subscribed.set()
    edge.connect(host, port)
    edge.loop_start()
    try:
        edge.subscribe("spBv1.0/bank-a/NCMD/b1-w1", qos=1)
        await asyncio.to_thread(_wait_for, subscribed, "subscribed")
        base = "spBv1.0/bank-a/{}/b1-w1"
        now = time.time() - 60
        for topic, payload in [
            (base.format("NBIRTH"), nbirth(seq=0, bd_seq=3, ts=now)),
            (base.format("DBIRTH") + "/b1-d1", dbirth(1, {"weight_kg": (1, 100.0)}, ts=now)),
            (base.format("DDATA") + "/b1-d1", ddata(2, {1: 99.0}, ts=now + 1)),
            (base.format("DDATA") + "/b1-d1", ddata(4, {1: 98.0}, ts=now + 2)),  # 3 lost
        ]:
            edge.publish(topic, payload, qos=1).wait_for_publish(5)
        await asyncio.to_thread(_wait_for, got, "a rebirth request")
    finally:
        edge.loop_stop()
        edge.disconnect()
        stop.set()
    runner = await task
    request = Payload.FromString(requests[0])
    assert [(m.name, m.boolean_value) for m in request.metrics] == [("Node Control/Rebirth", True)]
    assert runner.readings_written == 2  # the birth's and seq 2's; not the one after the gap


async def test_simulated_edge_node_is_born_again_when_ingest_asks(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    tenant = f"rebirth-{time.time_ns() % 100000}"
    fleet = sparkplug_fleet(tenant)
    mapping = sparkplug_map([fleet])
    stop = asyncio.Event()
    ready: list[IngestRunner] = []
    task = asyncio.create_task(
        run_ingest(
            IngestSettings(
                broker=mosquitto.url,
                store=f"duckdb:///{tmp_path}/t.duckdb",
                spool_dir=tmp_path / "spool",
                deadletter=tmp_path / "dead.jsonl",
                mqtt=MqttOptions(client_id=f"rebirth-ingest-{time.time_ns()}"),
            ),
            device_table([fleet]),
            stop,
            on_ready=ready.append,
            sparkplug=mapping,
        )
    )
    while not ready or not ready[0].connected.is_set():
        assert not task.done()
        await asyncio.sleep(0.05)
    host, port = parse_broker_url(mosquitto.url)
    births: list[str] = []
    listener = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"births-{time.time_ns()}")
    listener.on_message = lambda _c, _u, m: births.append(m.topic)
    subscribed = threading.Event()
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.connect(host, port)
    listener.loop_start()
    listener.subscribe(f"spBv1.0/{tenant}/NBIRTH/b1-w1", qos=1)
    await asyncio.to_thread(_wait_for, subscribed, "subscribed")
    start = time.time() - 2 * 3600
    end = start + 2 * 3600
    messages = list(generate(fleet, [], start, end, 1))

    async def glitch() -> None:
        # a stray DDATA with a seq the edge node never sent: ingest sees a gap
        while len(births) < 1:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        stray = ddata(200, {1: 1.0}, ts=start + 60)
        await asyncio.to_thread(
            lambda: listener.publish(
                f"spBv1.0/{tenant}/DDATA/b1-w1/b1-d1", stray, qos=1
            ).wait_for_publish(5)
        )

    try:
        _, sent = await asyncio.gather(
            glitch(),
            publish(
                messages,
                tenant=tenant,
                host=host,
                port=port,
                speed=2 * 3600 / 2.0,  # two hours in about two seconds
                start_ts=start,
                client_id=f"rebirth-sim-{time.time_ns()}",
                sparkplug=mapping,
            ),
        )
        await asyncio.sleep(0.5)
    finally:
        listener.loop_stop()
        listener.disconnect()
        stop.set()
    runner = await task
    assert sent > 100
    assert births == [f"spBv1.0/{tenant}/NBIRTH/b1-w1"] * 2, "born, then born again"
    # the broker is shared by the session: other tests' retained JSON status messages are
    # refused as unknown devices; only this lender's Sparkplug refusals count here
    records = [orjson.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    reasons = [r["reason"] for r in records if r["topic"].startswith(f"spBv1.0/{tenant}/")]
    assert reasons.count("sparkplug_seq_gap") == 1
    assert set(reasons) <= {"sparkplug_seq_gap", "sparkplug_no_birth"}
    # a few readings are refused between the gap and the rebirth (the rebirth's DBIRTH
    # carries each device's latest values again); the rest flow on
    wanted = sum(len(m.values) for m in messages)
    assert wanted - 10 <= runner.readings_written <= wanted + 10
