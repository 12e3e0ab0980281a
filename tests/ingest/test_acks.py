"""A stored batch's PUBACKs go to the broker in one write, and the broker takes every one."""

import asyncio
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry

from ingest.acks import ack_all, pubacks
from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.stores import open_store
from ingest.subscriber import SESSION_EXPIRY_S, BrokerAddress, IngestRunner, MqttOptions
from tests.fleets import small_fleet
from tests.paho_publisher import publish_all, sequenced_payloads
from tests.servers import Mosquitto

DEVICES = ("b1-d1", "b1-d2", "b2-d1")
PER_DEVICE = 400


def test_pubacks_are_the_packets_paho_sends_one_by_one() -> None:
    assert pubacks([1, 258, 65535]) == b"\x40\x02\x00\x01\x40\x02\x01\x02\x40\x02\xff\xff"
    assert pubacks([]) == b""


def test_ack_all_of_nothing_queues_nothing() -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="acks-none", manual_ack=True)
    ack_all(client, [], 1)
    assert len(client._out_packet) == 0


def test_ack_all_at_qos_1_queues_one_packet_and_qos_2_one_per_message() -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="acks-queue", manual_ack=True)
    ack_all(client, [7, 8, 9], 1)
    assert [p["packet"] for p in client._out_packet] == [pubacks([7, 8, 9])]
    client._out_packet.clear()
    ack_all(client, [7, 8], 2)  # PUBCOMP each, as `Client.ack` does
    assert [bytes(p["packet"]) for p in client._out_packet] == [
        b"\x70\x02\x00\x07",
        b"\x70\x02\x00\x08",
    ]


async def _drain(port: int, client_id: str, protocol: str, expected: int, tmp: Path) -> int:
    """Run ingest as ``client_id`` until ``expected`` readings are stored; return them."""
    fleet = small_fleet()
    pipeline = IngestPipeline(
        device_table([fleet]), DeadLetterStore(None), IngestMetrics.create(CollectorRegistry())
    )
    store = open_store(f"duckdb:///{tmp / client_id}.duckdb")
    runner = IngestRunner(
        pipeline,
        store,
        BrokerAddress("127.0.0.1", port),
        options=MqttOptions(client_id=client_id, protocol=protocol, sparkplug_host_id=None),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + 60
    while not runner.connected.is_set() or runner.readings_written < expected:
        if time.monotonic() > deadline or task.done():
            break
        await asyncio.sleep(0.02)
    stop.set()  # the runner flushes and acknowledges what it holds before it leaves
    await task
    store.close()
    return runner.readings_written


def _redelivered(port: int, client_id: str, protocol: str) -> list[str]:
    """Resume ``client_id``'s session, publish a marker, and return what arrives before and
    with it: the broker sends a session's unacknowledged messages first."""
    v5 = protocol == "5"
    got: list[str] = []
    marker = f"rs/v1/bank-a/b1-d1/telemetry/marker-{client_id}"
    arrived = threading.Event()
    connected = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        got.append(message.topic if message.topic == marker else message.payload.decode())
        if message.topic == marker:
            arrived.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else False,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
    )
    client.on_message = on_message
    client.on_connect = lambda *_a: connected.set()
    client.on_subscribe = lambda *_a: subscribed.set()
    properties = None
    if v5:
        properties = Properties(paho.PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
    client.connect("127.0.0.1", port, clean_start=False if v5 else 3, properties=properties)
    client.loop_start()
    try:
        assert connected.wait(10)
        client.subscribe(marker, qos=1)
        assert subscribed.wait(10)
        publish_all(port, [(marker, b"{}")], 100.0, f"marker-{client_id}")
        assert arrived.wait(20), f"the marker did not arrive; got {got[:3]}"
    finally:
        client.disconnect()
        client.loop_stop()
    return got


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_every_stored_message_is_acknowledged_to_the_broker(
    mosquitto: Mosquitto, tmp_path: Path, protocol: str
) -> None:
    client_id = f"acks-{protocol.replace('.', '')}"
    # the persistent session and its subscriptions, then a backlog queued while away
    asyncio.run(_drain(mosquitto.port, client_id, protocol, 0, tmp_path))
    messages = sequenced_payloads("bank-a", DEVICES, PER_DEVICE, time.time() - 3 * PER_DEVICE)
    publish_all(mosquitto.port, messages, 10_000.0, f"pub-{client_id}")

    stored = asyncio.run(_drain(mosquitto.port, client_id, protocol, len(messages), tmp_path))

    assert stored == len(messages)
    # had a PUBACK been lost or garbled, the broker would send its message again first
    assert _redelivered(mosquitto.port, client_id, protocol) == [
        f"rs/v1/bank-a/b1-d1/telemetry/marker-{client_id}"
    ]
