"""The simulator's edge nodes and their Primary Host's STATE (Sparkplug 3.0.0): no birth
before the host is online, a pause while it is offline, births again when it is back;
stale or malformed STATE messages change nothing. Through a real mosquitto."""

import asyncio
import threading
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.sparkplug import sparkplug_map
from devices.sparkplug.host_state import HostState, state_topic
from devices.sparkplug.sparkplug_b_pb2 import Payload
from simulator.message import Message
from simulator.publisher import parse_broker_url, publish
from simulator.sparkplug_host import HostGate
from tests.ingest.sparkplug_messages import T0, sparkplug_fleet
from tests.servers import Mosquitto

REPORTS = 40
SPEED = 10.0  # event s per wall s: one report every 0.1 s, 4 s in all


def test_gate_follows_the_newest_state_and_passes_over_the_rest() -> None:
    reborn: list[int] = []
    gate = HostGate("h1", lambda: reborn.append(1))
    topic = state_topic("h1")
    assert not gate.take("spBv1.0/STATE/other", HostState(True, 5).payload())
    assert not gate.online
    for junk in (b"", b"ONLINE", b'{"online": "yes", "timestamp": 1}', b"[1]", b"{" * 10_000):
        assert gate.take(topic, junk) and not gate.online
    assert gate.take(topic, b'{"online": true, "timestamp": 1.5}') and not gate.online
    gate.take(topic, HostState(True, 100).payload())
    assert gate.online and reborn == []  # the first online is no return
    gate.take(topic, HostState(False, 50).payload())  # an older will, delivered late
    assert gate.online
    gate.take(topic, HostState(False, 100).payload())  # this connection's will
    assert not gate.online
    gate.take(topic, HostState(True, 90).payload())  # stale
    assert not gate.online and reborn == []
    gate.take(topic, HostState(True, 200).payload())
    assert gate.online and reborn == [1] and gate.back_online == 1
    with pytest.raises(ValueError):
        HostGate("a/b", lambda: None)


def publish_state(port: int, host_id: str, state: HostState) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"host-{time.time_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(state_topic(host_id), state.payload(), qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


class Listener:
    def __init__(self, port: int, group: str) -> None:
        self.got: list[tuple[float, str, Payload]] = []
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"l-{time.time_ns()}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(f"spBv1.0/{group}/#", qos=1)
        assert subscribed.wait(5)

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        kind = message.topic.split("/")[2]
        self.got.append((time.monotonic(), kind, Payload.FromString(message.payload)))

    def between(self, start: float, end: float) -> list[str]:
        return [kind for at, kind, _ in self.got if start <= at < end]


async def test_edge_nodes_wait_for_pause_with_and_are_reborn_by_their_host(
    mosquitto: Mosquitto,
) -> None:
    tenant = f"host-bank-{time.time_ns() % 100000}"
    host_id = f"host-{time.time_ns()}"
    fleet = sparkplug_fleet(tenant)
    _, port = parse_broker_url(mosquitto.url)
    listener = Listener(port, tenant)
    messages = [Message(T0 + i, "b1-d1", i + 1, {"weight_kg": float(i)}) for i in range(REPORTS)]
    sender = asyncio.create_task(
        publish(
            messages,
            tenant=tenant,
            host="127.0.0.1",
            port=port,
            speed=SPEED,
            start_ts=T0,
            client_id=f"sim-{host_id}",
            sparkplug=sparkplug_map([fleet]),
            sparkplug_host_id=host_id,
        )
    )
    try:
        await asyncio.sleep(1.0)
        assert listener.got == []  # no birth while the host has said nothing
        await asyncio.to_thread(publish_state, port, host_id, HostState(True, 1_000))
        await asyncio.sleep(1.0)
        first_kinds = [kind for _, kind, _ in listener.got]
        assert first_kinds[:2] == ["NBIRTH", "DBIRTH"] and "DDATA" in first_kinds
        await asyncio.to_thread(publish_state, port, host_id, HostState(False, 1_000))
        offline_at = time.monotonic()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(publish_state, port, host_id, HostState(True, 500))  # stale
        await asyncio.sleep(1.5)
        back_at = time.monotonic()
        # grace for what was in flight when "offline" arrived; unpaused, ~20 would come
        assert len(listener.between(offline_at + 0.5, back_at)) == 0
        await asyncio.to_thread(publish_state, port, host_id, HostState(True, 2_000))
        sent = await asyncio.wait_for(sender, 30)
        await asyncio.sleep(0.5)
    finally:
        sender.cancel()
        listener.client.loop_stop()
        listener.client.disconnect()
    kinds = [kind for _, kind, _ in listener.got]
    births = [i for i, kind in enumerate(kinds) if kind == "NBIRTH"]
    assert len(births) == 2, kinds
    reborn = listener.got[births[1]]
    assert reborn[0] >= back_at and reborn[2].seq == 0
    assert kinds[births[1] + 1] == "DBIRTH"
    values = [
        m.double_value
        for _, kind, payload in listener.got
        if kind in ("DDATA", "DBIRTH")
        for m in payload.metrics
        if kind == "DDATA" or m.name == "weight_kg"
    ]
    assert set(values) == {float(i) for i in range(REPORTS)}  # nothing skipped
    counts = {kind: kinds.count(kind) for kind in set(kinds)}
    # the first report rides in the first DBIRTH; the rebirth repeats the latest values
    assert counts == {"NBIRTH": 2, "DBIRTH": 2, "DDATA": REPORTS - 1, "NDEATH": 1}
    assert sent == len(kinds)
