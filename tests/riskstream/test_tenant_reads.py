"""What a lender's users read of the service's live figures and dead letters is their own."""

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from riskstream.api.app import create_app
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.people import register_people
from tests.riskstream.test_api_access import alert, login


@pytest.fixture
def service(tmp_path: Path, service_db: str) -> Iterator[tuple[TestClient, Runtime]]:
    db = service_db
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=tmp_path / "dead.jsonl"))
    runtime.publish([alert("bank-a", "b1"), alert("bank-a", "b2"), alert("bank-b", "x9")])
    with TestClient(create_app(runtime)) as client:
        yield client, runtime


def test_dead_letters_show_each_lender_only_its_own(
    service: tuple[TestClient, Runtime],
) -> None:
    client, runtime = service
    now = time.time()
    device = next(iter(runtime.engines.of("bank-a").index.devices))
    runtime.pipeline.handle(f"rs/v1/bank-a/{device}/telemetry", b"{oops", now)
    for i in range(5):
        runtime.pipeline.handle(f"rs/v1/bank-b/secret-{i}/telemetry", b"[1]", now)
    runtime.pipeline.handle("no/grammar", b"x", now)
    rita = login(client, "rita", "rita-password")
    bob = login(client, "bob", "bob-password!")
    mine = client.get("/api/deadletters", headers=rita).json()
    assert [(d["reason"], d["tenant"]) for d in mine] == [("malformed", "bank-a")]
    theirs = client.get("/api/deadletters", headers=bob).json()
    assert {d["tenant"] for d in theirs} == {"bank-b"} and len(theirs) == 5
    assert "secret-" not in orjson.dumps(mine).decode()
    assert client.get("/api/stats", headers=rita).json()["rejected_total"] == 1
    assert client.get("/api/stats", headers=bob).json()["rejected_total"] == 5


def test_stats_count_only_the_lenders_devices_alerts_and_readings(
    service: tuple[TestClient, Runtime],
) -> None:
    client, runtime = service
    device = next(iter(runtime.engines.of("bank-a").index.devices))
    payload = orjson.dumps({"ts": time.time() - 5, "seq": 1, "values": {"weight_kg": 5.0}})
    runtime.pipeline.handle(f"rs/v1/bank-a/{device}/telemetry", payload, time.time())
    runtime.on_batch(runtime.pipeline.drain())
    rita = client.get("/api/stats", headers=login(client, "rita", "rita-password")).json()
    anna = client.get("/api/stats", headers=login(client, "anna", "anna-password")).json()
    bob = client.get("/api/stats", headers=login(client, "bob", "bob-password!")).json()
    devices = len(runtime.engines.of("bank-a").index.devices)
    assert (rita["devices"], rita["borrowers"], rita["readings_total"]) == (devices, 2, 1)
    assert rita["open_alerts_by_severity"] == {"critical": 2}
    assert anna["open_alerts_by_severity"] == {"critical": 1}  # her portfolio: b1
    assert (bob["devices"], bob["borrowers"], bob["readings_total"]) == (0, 0, 0)
    assert bob["open_alerts_by_severity"] == {"critical": 1}
    assert bob["rejected_total"] == 0


def test_event_ids_count_only_the_lenders_own_alert_changes(
    service: tuple[TestClient, Runtime],
) -> None:
    client, runtime = service
    for _ in range(5):  # bank-b is busy
        runtime.publish([alert("bank-b", "x9")])
    rita = login(client, "rita", "rita-password")
    bob = login(client, "bob", "bob-password!")
    assert client.get("/api/alerts", headers=rita).json()["last_event_id"] == 2
    assert client.get("/api/alerts", headers=bob).json()["last_event_id"] == 6
    assert [seq for seq, _ in runtime.alerts.tenant_changes_after("bank-a", 0)] == [1, 2]
    runtime.publish([alert("bank-a", "b1")])
    assert client.get("/api/alerts", headers=rita).json()["last_event_id"] == 3
