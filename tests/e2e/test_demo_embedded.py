"""`riskstream demo` itself: embedded amqtt broker, simulator, ingest, engine and HTTP API."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from riskstream.cli.demo import DEMO_PASSWORD, DEMO_USER, DemoOptions, DemoState, run_demo
from riskstream.service.runtime import Runtime
from simulator import read_truth
from tests.e2e.expectations import allowed_alerts, expected_alerts, seen_alerts
from tests.servers import free_port

pytestmark = pytest.mark.slow


async def test_demo_raises_one_alert_per_injected_scenario(tmp_path: Path) -> None:
    port = free_port()
    options = DemoOptions(
        data_dir=tmp_path / "demo",
        borrowers=6,
        seed=3,
        speed=3600.0,
        history_s=6 * 3600.0,
        scenario_rate=0.5,
        port=port,
        duration_s=30.0,
    )
    frames: list[tuple[int, str]] = []
    seen: list[dict[str, Any]] = []

    def on_frame(runtime: Runtime, state: DemoState, url: str) -> None:
        frames.append((state.published, url))

    async def watch_api() -> None:
        while not frames:
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=frames[0][1]) as client:
            login = await client.post(
                "/api/token", data={"username": DEMO_USER, "password": DEMO_PASSWORD}
            )
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            while True:
                page = (await client.get("/api/alerts", params={"limit": 1000})).json()
                seen[:] = page["items"]
                await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch_api())
    started = time.monotonic()
    runtime = await run_demo(options, on_frame=on_frame)
    watcher.cancel()

    truth = read_truth(options.data_dir / "truth.jsonl")
    assert {t.scenario for t in truth} == {"inventory_drain", "geofence_exit", "device_silent"}
    expected, allowed = expected_alerts(truth), allowed_alerts(truth)
    assert expected <= seen_alerts(seen) <= allowed, "the HTTP API showed each scenario's alert"
    assert frames[0][1] == f"http://127.0.0.1:{port}/"
    assert frames[-1][0] > 3000, "the simulator published through the embedded broker"
    stats = runtime.stats()
    assert stats["readings_total"] > 3000 and stats["rejected_total"] == 0
    assert time.monotonic() - started < 60
    for name in ("fleet.yaml", "truth.jsonl", "telemetry.duckdb", "riskstream.db"):
        assert (options.data_dir / name).exists(), name
