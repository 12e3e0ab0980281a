"""The publisher against a real mosquitto (marker ``broker``)."""

import asyncio

import aiomqtt
import pytest

from simulator.fleetgen import generate_fleet
from simulator.publisher import publish
from simulator.telemetry import generate
from tests.servers import Mosquitto

pytestmark = pytest.mark.broker


@pytest.fixture
def broker_port(mosquitto: Mosquitto) -> int:
    return mosquitto.port


async def test_every_message_reaches_a_subscriber(broker_port: int) -> None:
    fleet = generate_fleet(2, seed=1)
    start = 1_767_571_200.0
    messages = list(generate(fleet, [], start, start + 3 * 3600, seed=1))
    received: set[tuple[str, bytes]] = set()
    async with aiomqtt.Client("127.0.0.1", broker_port) as sub:
        await sub.subscribe("rs/v1/demo-bank/+/telemetry", qos=1)

        async def collect() -> None:
            async for m in sub.messages:
                received.add((str(m.topic), bytes(m.payload)))
                if len(received) == len(messages):
                    return

        task = asyncio.create_task(collect())
        n = await publish(
            messages, tenant="demo-bank", host="127.0.0.1", port=broker_port, speed=0,
            start_ts=start,
        )  # fmt: skip
        await asyncio.wait_for(task, 10)
    assert n == len(messages) == len(received)
