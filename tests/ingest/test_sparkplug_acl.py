"""The shipped mosquitto ACL for Sparkplug B: a lender's edge node publishes under its own
group and edge node id only, and ingest may send it rebirth requests."""

import asyncio
import functools
import threading
import time
from pathlib import Path

import duckdb
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.sparkplug import sparkplug_map
from devices.sparkplug.host_state import HostState, parse_state, state_topic
from ingest.device_table import device_table
from ingest.service import IngestSettings, run_ingest
from ingest.subscriber import IngestRunner, MqttOptions
from tests.ingest.sparkplug_messages import dbirth, ddata, nbirth, sparkplug_fleet
from tests.ingest.test_broker_security import SHIPPED_ACL, password_file
from tests.mosquitto_control import ControlledMosquitto

pytestmark = pytest.mark.broker


def stored(store: Path) -> list[tuple[str, float]]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return sorted(
            (d, float(v))
            for d, v in con.execute("SELECT device_id, value FROM readings").fetchall()
        )
    finally:
        con.close()


def publish_as(
    port: int, user: str, client_id: str, messages: list[tuple[str, bytes]], *, allowed: bool
) -> None:
    """Publish at QoS 1; where the ACL denies them, the broker may also drop the connection,
    which is no failure of the test (what counts is that nothing arrives)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(user, "gateway-pw")
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert connected.wait(5), "the gateway could not log in"
        for topic, payload in messages:
            try:
                client.publish(topic, payload, qos=1).wait_for_publish(5)
            except RuntimeError:
                if allowed:
                    raise
                return
    finally:
        client.disconnect()
        client.loop_stop()


def retained_state_as(port: int, user: str, password: str) -> HostState | None:
    """The retained STATE of the host ``riskstream`` as a client logged in as ``user``
    receives it (None: nothing within 5 s)."""
    got: list[HostState | None] = []
    done = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"state-{time.time_ns()}")
    client.username_pw_set(user, password)

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        got.append(parse_state(bytes(message.payload)))
        done.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(state_topic("riskstream"), qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(5)
    client.loop_stop()
    client.disconnect()
    return got[0] if got else None


def session(group: str, edge: str, device: str, value: float) -> list[tuple[str, bytes]]:
    ts = time.time() - 30
    base = f"spBv1.0/{group}"
    return [
        (f"{base}/NBIRTH/{edge}", nbirth(ts=ts)),
        (f"{base}/DBIRTH/{edge}/{device}", dbirth(1, {"weight_kg": (1, value)}, ts=ts)),
        (f"{base}/DDATA/{edge}/{device}", ddata(2, {1: value + 1}, ts=ts + 1)),
    ]


async def test_edge_node_publishes_only_under_its_group_and_edge_id(tmp_path: Path) -> None:
    fleets = [sparkplug_fleet("bank-a"), sparkplug_fleet("bank-b")]
    passwd = password_file(
        tmp_path / "passwd",
        {"bank-a": "gateway-pw", "bank-b": "gateway-pw", "riskstream-ingest": "ingest-pw"},
    )
    broker = ControlledMosquitto(
        tmp_path,
        f"password_file {passwd}\nacl_file {SHIPPED_ACL}\n",
        persistent=False,
        anonymous=False,
    )
    broker.start()
    store = tmp_path / "t.duckdb"
    stop = asyncio.Event()
    ready: list[IngestRunner] = []
    task = asyncio.create_task(
        run_ingest(
            IngestSettings(
                broker=broker.url,
                store=f"duckdb:///{store}",
                spool_dir=tmp_path / "spool",
                mqtt=MqttOptions(
                    client_id="acl-ingest", username="riskstream-ingest", password="ingest-pw"
                ),
            ),
            device_table(fleets),
            stop,
            on_ready=ready.append,
            sparkplug=sparkplug_map(fleets),
        )
    )
    while not ready or not ready[0].connected.is_set():
        assert not task.done()
        await asyncio.sleep(0.05)
    port = broker.port
    # the shipped ACL lets ingest publish its STATE and a gateway read it
    state = await asyncio.to_thread(retained_state_as, port, "bank-a", "gateway-pw")
    assert state is not None and state.online
    # bank-a's gateway b1-w1: its own edge node, then another edge node of its lender,
    # then bank-b's group; only the first arrives
    own = session("bank-a", "b1-w1", "b1-d1", 100.0)
    other_edge = session("bank-a", "b2-w1", "b2-d1", 200.0)
    other_group = session("bank-b", "b1-w1", "b1-d1", 300.0)
    for messages, allowed in ((own, True), (other_edge, False), (other_group, False)):
        await asyncio.to_thread(
            functools.partial(publish_as, allowed=allowed), port, "bank-a", "b1-w1", messages
        )
    await asyncio.sleep(0.5)
    stop.set()
    runner = await task
    broker.stop()
    assert stored(store) == [("b1-d1", 100.0), ("b1-d1", 101.0)]
    assert runner.readings_written == 2
