"""Two lenders with the same ids in one service: each sees and is judged on its own."""

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from devices.registry import Registry
from ingest.stores import open_store
from riskstream.api.app import create_app
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.fleets import small_fleet
from tests.riskstream.people import register_people
from tests.riskstream.test_api_access import login

NOW = time.time()


@pytest.fixture
def twins(tmp_path: Path, service_db: str) -> Iterator[tuple[TestClient, Runtime]]:
    """bank-a and bank-b both register `small_fleet`'s ids (b1, b1-l1, b1-d1, ...)."""
    db = service_db
    register_people(db)
    twin = small_fleet("bank-b")
    twin = twin.model_copy(
        update={"borrowers": [b.model_copy(update={"name": "Twin of B"}) for b in twin.borrowers]}
    )
    Registry(open_service_database(db)).import_fleet(twin)
    runtime = Runtime(
        ServiceSettings(
            database=str(db), deadletter=tmp_path / "dead.jsonl", checkpoint_enabled=False
        )
    )
    runtime.store = open_store(f"duckdb:///{tmp_path}/t.duckdb")
    with TestClient(create_app(runtime)) as client:
        yield client, runtime


def feed(runtime: Runtime, tenant: str, device: str, weight_kg: float, ts: float) -> None:
    payload = orjson.dumps({"ts": ts, "seq": int(ts), "values": {"weight_kg": weight_kg}})
    runtime.pipeline.handle(f"rs/v1/{tenant}/{device}/telemetry", payload, NOW)
    batch = runtime.pipeline.drain()
    assert runtime.store is not None
    runtime.store.write(batch)
    runtime.on_batch(batch)


def test_the_same_ids_make_two_lenders_borrowers_each_judged_on_its_own_readings(
    twins: tuple[TestClient, Runtime],
) -> None:
    client, runtime = twins
    for minute in range(0, 180, 5):
        ts = NOW - 3 * 3600 + minute * 60
        feed(runtime, "bank-a", "b1-d1", 1_000_000.0, ts)  # the pledged 1,000 t
        feed(runtime, "bank-b", "b1-d1", 420_000.0, ts)  # 42 %: below the pledge
    opened = {(a.tenant, a.borrower_id, a.kind) for a in runtime.engines.open_alerts()}
    assert ("bank-b", "b1", "inventory_below_pledge") in opened
    assert not any(t == "bank-a" and k == "inventory_below_pledge" for t, _, k in opened)

    rita, bob = login(client, "rita", "rita-password"), login(client, "bob", "bob-password!")
    mine = client.get("/api/borrowers/b1", headers=rita).json()
    theirs = client.get("/api/borrowers/b1", headers=bob).json()
    assert (mine["tenant"], mine["name"]) == ("bank-a", "Copper Trading GmbH")
    assert (theirs["tenant"], theirs["name"]) == ("bank-b", "Twin of B")
    assert [a["kind"] for a in mine["alerts"] if a["kind"] == "inventory_below_pledge"] == []
    assert "inventory_below_pledge" in {a["kind"] for a in theirs["alerts"]}
    (lot,) = [c for c in mine["collateral"] if c["id"] == "b1-c1"]
    assert lot["coverage"] == pytest.approx(1.0)

    readings = client.get(
        "/api/devices/b1-d1/telemetry", params={"metric": "weight_kg"}, headers=rita
    ).json()
    assert {p["value"] for p in readings["points"]} == {1_000_000.0}
    alerts = client.get("/api/alerts", headers=rita).json()["items"]
    assert all(a["tenant"] == "bank-a" for a in alerts)
    assert client.get("/api/stats", headers=rita).json()["devices"] == len(
        runtime.engines.of("bank-a").index.devices
    )
    text = orjson.dumps([mine, readings, alerts]).decode()
    assert "bank-b" not in text and "Twin of B" not in text and "420000" not in text
