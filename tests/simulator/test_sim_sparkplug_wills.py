"""The simulator's edge nodes hold their NDEATH as MQTT wills on a real mosquitto: sent by
the broker when a node's connection drops, not when the simulator ends cleanly."""

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.sparkplug import sparkplug_map
from devices.sparkplug.sparkplug_b_pb2 import Payload
from simulator.publisher import parse_broker_url
from simulator.sparkplug_wills import drop_wills, edge_node_wills, hold_wills
from simulator.sparkplug_wire import SparkplugPacker
from tests.ingest.sparkplug_messages import T0, sparkplug_fleet
from tests.servers import Mosquitto

pytestmark = pytest.mark.broker


def listen(port: int, group: str) -> tuple[paho.Client, list[tuple[str, bytes]]]:
    got: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{time.time_ns()}")

    def on_message(_c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        got.append((message.topic, message.payload))

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(f"spBv1.0/{group}/NDEATH/+", qos=1)
    assert subscribed.wait(5)
    return client, got


async def test_wills_are_the_ndeaths_and_only_a_dropped_node_sends_its_own(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    tenant = f"will-bank-{time.time_ns() % 100000}"
    fleet = sparkplug_fleet(tenant)
    wills = SparkplugPacker(tenant, sparkplug_map([fleet])).wills(T0)
    assert [(cid, topic) for cid, topic, _ in wills] == [
        (edge, f"spBv1.0/{tenant}/NDEATH/{edge}") for edge in ("b1-v1", "b1-w1", "b2-w1")
    ]
    _, port = parse_broker_url(mosquitto.url)
    listener, got = listen(port, tenant)
    try:
        async with edge_node_wills("127.0.0.1", port, wills):
            pass  # a clean end: no will is sent
        holders = await asyncio.to_thread(hold_wills, "127.0.0.1", port, wills[:1])
        sock = holders[0].socket()
        assert sock is not None
        sock.close()  # the node drops off the network
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # any other will would be here by now
        drop_wills(holders)
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert [topic for topic, _ in got] == [f"spBv1.0/{tenant}/NDEATH/b1-v1"]
    death = Payload.FromString(got[0][1])
    assert [(m.name, m.long_value) for m in death.metrics] == [("bdSeq", 0)]
