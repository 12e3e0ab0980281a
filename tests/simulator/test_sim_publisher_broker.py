"""The publisher against a real mosquitto (marker ``broker``)."""

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from ingest.codec import decode_payload
from riskstream.service.local_broker import free_port, mosquitto_binary
from simulator import publisher
from simulator.fleetgen import generate_fleet
from simulator.publisher import publish
from simulator.scenarios import plan_scenarios
from simulator.telemetry import generate
from tests.servers import Mosquitto, wait_for_port

pytestmark = pytest.mark.broker

START = 1_767_571_200.0


async def _collect(sub: aiomqtt.Client, out: list[tuple[str, bytes]], expected: int) -> None:
    async for m in sub.messages:
        out.append((str(m.topic), bytes(m.payload)))
        if len(out) == expected:
            return


async def test_every_message_reaches_a_subscriber(mosquitto: Mosquitto) -> None:
    fleet = generate_fleet(2, seed=1)
    messages = list(generate(fleet, [], START, START + 3 * 3600, seed=1, glitches=False))
    received: list[tuple[str, bytes]] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as sub:
        await sub.subscribe("rs/v1/demo-bank/+/telemetry", qos=1)
        task = asyncio.create_task(_collect(sub, received, len(messages)))
        n = await publish(
            messages, tenant="demo-bank", host="127.0.0.1", port=mosquitto.port, speed=0,
            start_ts=START, client_id="sim-test-plain",
        )  # fmt: skip
        await asyncio.wait_for(task, 10)
    assert n == len(messages) == len(set(received))


async def test_batched_signed_messages_decode_and_verify_after_the_broker(
    mosquitto: Mosquitto,
) -> None:
    fleet = generate_fleet(3, seed=2)
    end = START + 6 * 3600
    plan = plan_scenarios(fleet, 3, START, end, assign={"b001": "spoof", "b002": "replay"})
    messages = list(generate(fleet, plan, START, end, seed=1))
    readings = sum(len(m.values) for m in messages)
    secrets = {d.id: d.secret for d in fleet.devices() if d.secret}
    received: list[tuple[str, bytes]] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as sub:
        await sub.subscribe("rs/v1/demo-bank/+/telemetry", qos=1)
        task = asyncio.create_task(_collect(sub, received, -1))
        n = await publish(
            messages, tenant="demo-bank", host="127.0.0.1", port=mosquitto.port, speed=0,
            start_ts=START, client_id="sim-test-batch", batch=20, secrets=secrets,
        )  # fmt: skip
        for _ in range(200):
            if len(received) >= n:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(received) == n < len(messages) / 10
    decoded = forged = 0
    for topic, payload in received:
        device = topic.split("/")[3]
        for obj, raw in zip(decode_payload(payload), _objects(payload), strict=True):
            decoded += len(obj.values)
            body = json.dumps(
                {k: v for k, v in raw.items() if k != "sig"}, sort_keys=True, separators=(",", ":")
            ).encode()
            good = hmac.new(secrets[device].encode(), body, hashlib.sha256).hexdigest()
            forged += obj.sig != good
    assert decoded == readings
    assert forged == sum(1 for m in messages if m.kind == "forged") > 0


def _objects(payload: bytes) -> list[dict[str, object]]:
    raw = json.loads(payload)
    return raw if isinstance(raw, list) else [raw]


def _start_mosquitto(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    conf = workdir / "restart.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
        "persistence false\n"
    )
    process = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port)
    return process


async def test_a_broker_restart_is_survived_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher, "RECONNECT_MIN_S", 0.1)
    fleet = generate_fleet(2, seed=4)
    messages = list(generate(fleet, [], START, START + 4 * 3600, seed=1, glitches=False))
    port = free_port()
    broker = _start_mosquitto(tmp_path, port)
    try:
        with caplog.at_level(logging.WARNING, logger="simulator.publisher"):
            task = asyncio.create_task(
                publish(
                    messages,
                    tenant="demo-bank",
                    host="127.0.0.1",
                    port=port,
                    speed=4 * 3600 / 1.2,
                    start_ts=START,
                    client_id="sim-restart",
                )
            )
            await asyncio.sleep(0.4)
            broker.terminate()
            broker.wait(10)
            await asyncio.sleep(0.3)
            broker = _start_mosquitto(tmp_path, port)
            sent = await asyncio.wait_for(task, 20)
    finally:
        broker.terminate()
        broker.wait(10)
    assert sent == len(messages)
    assert "connection to 127.0.0.1" in caplog.text and "reconnected to MQTT broker" in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
