"""Through a real mosquitto: every poison payload of the corpus, each between valid readings,
then an ingest restart (the broker redelivers whatever was not acknowledged). Ingest must
keep consuming after each one, store every valid reading exactly once, and dead-letter
every poison with its reason."""

import asyncio
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from ingest.pipeline import DeviceAuth
from ingest.service import IngestSettings, run_ingest
from ingest.subscriber import IngestRunner, MqttOptions
from tests.ingest.poison import corpus
from tests.ingest.test_zero_loss import stored, wait_until
from tests.mosquitto_control import ControlledMosquitto
from tests.paho_publisher import publish_all

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TENANT = "bank-a"
DEVICES = {
    (TENANT, "good-1"): DeviceAuth(),
    (TENANT, "d1"): DeviceAuth(secret="s3cret"),
    ("bank-b", "good-2"): DeviceAuth(),
}


def valid(tenant: str, device: str, seq: int, ts: float) -> tuple[str, bytes]:
    payload = {"ts": ts, "seq": seq, "values": {"weight_kg": 1000.0 + seq}}
    return f"rs/v1/{tenant}/{device}/telemetry", orjson.dumps(payload)


async def run_until_stored(
    settings: IngestSettings, messages: list[tuple[str, bytes]], port: int, expected: int
) -> IngestRunner:
    stop = asyncio.Event()
    runners: list[IngestRunner] = []
    task = asyncio.create_task(run_ingest(settings, DEVICES, stop, on_ready=runners.append))
    await wait_until(lambda: bool(runners) and runners[0].connected.is_set(), "ingest connected")
    await asyncio.to_thread(publish_all, port, messages, 400.0, f"poison-pub-{time.time_ns()}")
    await wait_until(lambda: runners[0].readings_written >= expected, "valid readings stored")
    await asyncio.sleep(0.3)  # acknowledgements of the last batch
    assert runners[0].loop_alive
    stop.set()
    await task
    return runners[0]


async def test_poison_payloads_never_stop_ingest_and_lose_nothing_valid(tmp_path: Path) -> None:
    broker = ControlledMosquitto(tmp_path)
    broker.start()
    try:
        store = tmp_path / "t.duckdb"
        dead = tmp_path / "dead.jsonl"
        settings = IngestSettings(
            broker=broker.url,
            store=f"duckdb:///{store}",
            deadletter=dead,
            mqtt=MqttOptions(client_id="poison-ingest"),
        )
        poisons = corpus()
        start = time.time() - 3600
        first: list[tuple[str, bytes]] = []
        for i, poison in enumerate(poisons, start=1):
            first.append(valid(TENANT, "good-1", i, start + i))
            first.append(("rs/v1/bank-a/d1/telemetry", poison.payload))
            first.append(valid("bank-b", "good-2", i, start + i))
        first.append(("rs/v1/bank-a/d1/telemetry", b"\x00" * 300_000))  # too large
        first.append(("rs/v1/bank-b/d1/telemetry", first[0][1]))  # another lender's device
        n = len(poisons)
        await run_until_stored(settings, first, broker.port, 2 * n)
        # the restarted ingester gets any redelivery; then new readings still flow
        second = [valid(TENANT, "good-1", n + 1, start + n + 1)]
        second.append(("rs/v1/bank-a/d1/telemetry", poisons[0].payload))
        second.append(valid("bank-b", "good-2", n + 1, start + n + 1))
        await run_until_stored(settings, second, broker.port, 2)

        rows = stored(store)
        assert [r for r in rows if r[2] != 1] == [], "a valid reading stored twice"
        assert {(d, s) for d, s, _ in rows} == {
            (device, seq) for device in ("good-1", "good-2") for seq in range(1, n + 2)
        }
        reasons = Counter(orjson.loads(line)["reason"] for line in dead.read_text().splitlines())
        expected = Counter(p.reason for p in poisons)
        expected[poisons[0].reason] += 1
        expected["payload_too_large"] += 1
        expected["unknown_device"] += 1
        assert reasons == expected
    finally:
        broker.stop()
