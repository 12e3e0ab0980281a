"""/healthz and /readyz: a stopped MQTT loop is noticed, reported and restarted; an ingest
that cannot go on makes the service not ready and says why."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

import ingest.subscriber as subscriber
from riskstream.service.runtime import Runtime
from tests.e2e.browser import bank_with_rita, service_settings, serving
from tests.paho_publisher import publish_all
from tests.servers import Mosquitto

pytestmark = [pytest.mark.broker, pytest.mark.slow]


async def readyz_until(
    client: httpx.AsyncClient, wanted: Callable[[httpx.Response], bool], what: str, limit_s: float
) -> tuple[float, dict[str, object]]:
    """Poll /readyz until an answer is ``wanted``; the seconds it took and the body."""
    began = time.monotonic()
    while True:
        response = await client.get("/readyz")
        if wanted(response):
            return time.monotonic() - began, response.json()
        assert time.monotonic() - began < limit_s, f"/readyz never said {what}"
        await asyncio.sleep(0.1)


async def statuses_until(
    client: httpx.AsyncClient, wanted: int, limit_s: float
) -> tuple[float, dict[str, object]]:
    """Poll /readyz until it answers ``wanted``; the seconds it took and the body."""
    return await readyz_until(client, lambda r: r.status_code == wanted, str(wanted), limit_s)


def loop_dead(response: httpx.Response) -> bool:
    return response.status_code == 503 and not response.json()["checks"]["ingest_loop_alive"]


async def test_a_loop_stopped_by_force_turns_readyz_false_then_is_restarted(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    fleet, db = bank_with_rita(tmp_path)
    runtime = Runtime(service_settings(mosquitto, tmp_path, db, "readyz"))
    async with serving(runtime) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/healthz")).json() == {"status": "alive"}
        await statuses_until(client, 200, 10)
        ingest = runtime.ingest
        assert ingest is not None and ingest._client is not None
        ingest._client.disconnect()  # the network loop ends although nobody asked it to
        # the broker connection drops at once; the loop's death is noticed within seconds
        took, _ = await readyz_until(client, loop_dead, "the loop is not alive", 10)
        assert took < 10
        stats = runtime.stats()
        assert stats["ingest_loop_alive"] is False
        await statuses_until(client, 200, 20)
        assert ingest.loop_restarts == 1
        metrics = (await client.get("/metrics")).text
        assert "ingest_loop_alive 1.0" in metrics
        assert "ingest_loop_restarts_total 1.0" in metrics
        device = fleet.devices()[0]
        payload = orjson.dumps({"ts": time.time() - 1, "seq": 1, "values": {"weight_kg": 5.0}})
        topic = f"rs/v1/{fleet.tenant.id}/{device.id}/telemetry"
        before = ingest.readings_written
        await asyncio.to_thread(publish_all, mosquitto.port, [(topic, payload)], 10.0, "readyz")
        deadline = time.monotonic() + 10
        while ingest.readings_written == before:
            assert time.monotonic() < deadline, "ingest consumes again after the restart"
            await asyncio.sleep(0.05)
        assert ingest.last_message_age() < 10


async def test_an_ingest_that_gives_up_makes_the_service_not_ready(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscriber, "MAX_LOOP_RESTARTS", 0)
    _, db = bank_with_rita(tmp_path)
    runtime = Runtime(service_settings(mosquitto, tmp_path, db, "readyz-gives-up"))
    async with serving(runtime) as base, httpx.AsyncClient(base_url=base) as client:
        await statuses_until(client, 200, 10)
        assert runtime.ingest is not None and runtime.ingest._client is not None
        runtime.ingest._client.disconnect()
        await asyncio.wait_for(runtime.failed.wait(), 10)
        _, body = await statuses_until(client, 503, 5)
        assert "MQTT network loop stopped" in str(body["ingest_error"])
        assert (await client.get("/healthz")).status_code == 200


async def test_readyz_says_when_no_message_came_for_too_long(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    _, db = bank_with_rita(tmp_path)
    settings = service_settings(mosquitto, tmp_path, db, "readyz-silent", ready_max_silence_s=0.5)
    runtime = Runtime(settings)
    async with serving(runtime) as base, httpx.AsyncClient(base_url=base) as client:
        assert runtime.ingest is not None
        await asyncio.wait_for(runtime.ingest.connected.wait(), 10)
        await asyncio.sleep(0.6)
        _, body = await statuses_until(client, 503, 10)
        assert body["checks"]["messages_flowing"] is False  # type: ignore[index]
        assert body["checks"]["broker_connected"] is True  # type: ignore[index]
        assert "tenant" not in orjson.dumps(body).decode()
