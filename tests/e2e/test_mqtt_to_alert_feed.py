"""The whole path against a real mosquitto: simulator → MQTT → ingest → store → engine → API/SSE."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from devices.registry import Registry
from riskstream.api.app import create_app
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore
from simulator import generate, generate_fleet, plan_scenarios, publish, truth_records
from simulator.publisher import parse_broker_url
from tests.e2e.expectations import (
    allowed_alerts,
    earliest_evidence,
    expected_alerts,
    seen_alerts,
)
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ASSIGN = {
    "b001": "inventory_drain",
    "b002": "geofence_exit",
    "b003": "device_silent",
    "b004": "spoof",  # forged messages with the device's next seq: a data-integrity alert
}
WINDOW_S = 7 * 3600.0


async def read_sse(url: str, events: list[dict[str, Any]], ids: list[int]) -> None:
    async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line == "":
                if event.get("event") == "alert":
                    events.append(orjson.loads(event["data"]))
                    ids.append(int(event["id"]))
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                event[key] = value.removeprefix(" ")


async def test_injected_scenarios_reach_api_and_live_feed(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    fleet = generate_fleet(6, seed=5)
    db = str(tmp_path / "rs.db")
    Registry(open_service_database(db)).import_fleet(fleet)
    UserStore(open_service_database(db)).add(
        "officer", "officer-pw-1", fleet.tenant.id, "risk_admin"
    )
    start = float(int(time.time() - WINDOW_S))
    injections = plan_scenarios(fleet, 5, start, start + WINDOW_S, assign=ASSIGN)
    truth = truth_records(fleet.tenant.id, injections, start + WINDOW_S)
    expected = expected_alerts(truth)
    allowed = allowed_alerts(truth)

    settings = ServiceSettings(
        broker=mosquitto.url,
        store=f"duckdb:///{tmp_path}/t.duckdb",
        database=db,
        deadletter=tmp_path / "dead.jsonl",
        client_id=f"e2e-{time.time_ns()}",
    )
    runtime = Runtime(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    base = f"http://127.0.0.1:{port}"
    async with runtime.running():
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        await asyncio.wait_for(runtime.ingest.connected.wait(), 10)  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/api/alerts")).status_code == 401
            login = await client.post(
                "/api/token", data={"username": "officer", "password": "officer-pw-1"}
            )
            token = login.json()["access_token"]
        events: list[dict[str, Any]] = []
        ids: list[int] = []
        reader = asyncio.create_task(
            read_sse(f"{base}/api/alerts/stream?after=0&access_token={token}", events, ids)
        )
        host, mqtt_port = parse_broker_url(mosquitto.url)
        sent = await publish(
            generate(fleet, injections, start, start + WINDOW_S, 5),
            tenant=fleet.tenant.id,
            host=host,
            port=mqtt_port,
            speed=0,
            start_ts=start,
            client_id=f"e2e-sim-{time.time_ns()}",
        )
        assert sent > 5000
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=auth) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                page = (await client.get("/api/alerts", params={"limit": 1000})).json()
                if seen_alerts(page["items"]) >= expected and runtime.pipeline.buffered == 0:
                    break
                await asyncio.sleep(0.3)
            await asyncio.sleep(1.0)  # anything extra would show up now
            page = (await client.get("/api/alerts", params={"limit": 1000})).json()
            open_critical = (
                await client.get("/api/alerts", params={"status": "open", "severity": "critical"})
            ).json()
            metrics = (await client.get("/metrics")).text
        reader.cancel()
        server.should_exit = True
        await serving

    seen = seen_alerts(page["items"])
    assert expected <= seen <= allowed, "the alert of each injected scenario, nothing unrelated"
    assert page["total"] == len(seen) and len(expected) == 4
    untouched = {b.id for b in fleet.borrowers} - set(ASSIGN)
    assert not [a for a in page["items"] if a["borrower_id"] in untouched]
    for alert in page["items"]:
        assert alert["reasons"] and alert["evidence"]
        record = next(t for t in truth if t.borrower_id == alert["borrower_id"])
        assert alert["opened_at"] >= earliest_evidence(record, alert["kind"])
        if (alert["borrower_id"], alert["kind"], alert["subject"]) in expected:
            assert alert["status"] == "open"
    critical = {a["kind"] for a in open_critical["items"]}
    assert {"data_integrity", "inventory_below_pledge"} <= critical
    assert critical <= {"data_integrity", "inventory_below_pledge", "collateral_moved_out_of_hours"}
    assert seen_alerts(events) == seen, "the live feed carried every alert"
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # the broker is shared by the session: retained status messages of other tests' fleets
    # are refused as unknown devices; no telemetry of this fleet may be refused
    refused = runtime.deadletter.recent(fleet.tenant.id)
    assert [d for d in refused if d["topic"].endswith("/telemetry")] == []
    assert "ingest_accepted_total" in metrics
