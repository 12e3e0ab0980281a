"""Portfolio, borrower page, collateral, telemetry, map and evidence endpoints."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devices.reading import Reading
from devices.registry import Registry
from ingest.stores import DuckDBStore
from riskstream.api.app import create_app
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore
from tests.fleets import small_fleet
from tests.riskstream.test_api_access import login

T0 = 1_795_000_000.0
HOUR = 3600.0


def history() -> list[Reading]:
    """Four hours: b1's lot drains from 1,000 t to 850 t, b2's stays at 500 t, b1's truck drives."""
    readings = []
    for i in range(241):
        ts = T0 - 4 * HOUR + i * 60
        noise = 10.0 * (i % 3)  # live load cells never repeat a value exactly
        weight = 1_000_000.0 - 150_000.0 * max(0.0, min(1.0, (i - 60) / 120)) + noise
        readings.append(Reading("bank-a", "b1-d1", ts, "weight_kg", weight, i))
        readings.append(Reading("bank-a", "b2-d1", ts, "weight_kg", 500_000.0 + noise, i))
        readings.append(Reading("bank-a", "b1-d2", ts, "lat_deg", 50.1 + i * 1e-4, 2 * i))
        readings.append(Reading("bank-a", "b1-d2", ts, "lon_deg", 8.2 + i * 1e-4, 2 * i + 1))
    return readings


@pytest.fixture
def service(tmp_path: Path, service_db: str) -> Iterator[tuple[TestClient, Runtime]]:
    db = service_db
    engine = open_service_database(db)
    Registry(engine).import_fleet(small_fleet("bank-a"))
    Registry(engine).import_fleet(small_fleet("bank-b").model_copy(update={"borrowers": []}))
    users = UserStore(engine)
    users.add("anna", "anna-password", "bank-a", "loan_officer", ["b1"])
    users.add("rita", "rita-password", "bank-a", "risk_admin")
    users.add("bob", "bob-password!", "bank-b", "risk_admin")
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None))
    store = DuckDBStore(":memory:")
    readings = history()
    store.write(readings)
    runtime.store = store
    runtime.publish(runtime.engines.of("bank-a").process(readings))
    with TestClient(create_app(runtime)) as client:
        yield client, runtime
    store.close()


def test_portfolio_ranks_by_risk_with_coverage_and_exposure_at_risk(
    service: tuple[TestClient, Runtime],
) -> None:
    client, _ = service
    assert client.get("/api/portfolio").status_code == 401
    rita = login(client, "rita", "rita-password")
    page = client.get("/api/portfolio", headers=rita).json()
    assert [(r["rank"], r["borrower_id"]) for r in page["items"]] == [(1, "b1"), (2, "b2")]
    b1, b2 = page["items"]
    assert b1["score"] > b2["score"]
    assert b1["name"] == "Copper Trading GmbH"
    assert b1["coverage"] == pytest.approx(0.85)
    assert b1["open_alerts"] == {"critical": 1, "warning": 0, "info": 0, "total": 1}
    (eur,) = b1["exposure"]
    assert eur == {
        "currency": "EUR",
        "principal": 5_000_000.0,
        "pledged_value": 8_000_000.0,
        "value_on_hand": 6_800_000.0,
        "value_shortfall": 1_200_000.0,
        "exposure_at_risk": 750_000.0,
    }
    assert b2["coverage"] == pytest.approx(1.25)
    assert b2["exposure"][0]["exposure_at_risk"] == 0.0
    assert page["totals"][0]["principal"] == 6_000_000.0
    assert page["open_alerts"]["critical"] == 1
    filtered = client.get("/api/portfolio?severity=critical", headers=rita).json()
    assert [r["borrower_id"] for r in filtered["items"]] == ["b1"]
    paged = client.get("/api/portfolio?limit=1&offset=1", headers=rita).json()
    assert paged["total"] == 2 and [r["rank"] for r in paged["items"]] == [2]
    by_coverage = client.get("/api/portfolio?sort=coverage", headers=rita).json()
    assert [r["borrower_id"] for r in by_coverage["items"]] == ["b1", "b2"]
    anna = login(client, "anna", "anna-password")
    assert [
        r["borrower_id"] for r in client.get("/api/portfolio", headers=anna).json()["items"]
    ] == ["b1"]
    bob = login(client, "bob", "bob-password!")
    assert client.get("/api/portfolio", headers=bob).json()["items"] == []


def test_borrower_page_has_history_timeline_collateral_and_devices(
    service: tuple[TestClient, Runtime],
) -> None:
    client, _ = service
    anna = login(client, "anna", "anna-password")
    body = client.get("/api/borrowers/b1", headers=anna).json()
    assert body["score"] >= 60 and body["reasons"]
    assert body["score_history"]
    (series,) = body["coverage_history"]
    assert series["collateral_id"] == "b1-c1" and series["unit"] == "t"
    values = [p["value"] for p in series["points"]]
    assert values[0] == pytest.approx(1.0) and values[-1] == pytest.approx(0.85)
    assert [a["kind"] for a in body["alerts"]] == ["inventory_below_pledge"]
    lots = {c["id"]: c for c in body["collateral"]}
    assert lots["b1-c1"]["on_hand"] == pytest.approx(850.0)
    assert lots["b1-c2"]["coverage"] is None
    sites = {s["site"]["id"]: s for s in body["sites"]}
    assert sites["b1-v1"]["site"]["geofence"] and sites["b1-v1"]["collateral_ids"] == ["b1-c2"]
    (gps,) = sites["b1-v1"]["devices"]
    assert gps["last_seen"] == T0 and {r["metric"] for r in gps["last_readings"]} == {
        "lat_deg",
        "lon_deg",
    }
    assert client.get("/api/borrowers/b2", headers=anna).status_code == 404
    assert client.get("/api/borrowers/b1").status_code == 401
    bad = client.get("/api/borrowers/b1?start=10&end=5", headers=anna)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "end"]


def test_telemetry_is_downsampled_and_scoped(service: tuple[TestClient, Runtime]) -> None:
    client, _ = service
    anna = login(client, "anna", "anna-password")
    url = f"/api/devices/b1-d1/telemetry?metric=weight_kg&start={T0 - 4 * HOUR}&end={T0 + 1}"
    body = client.get(url + "&points=24", headers=anna).json()
    assert body["unit"] == "kg" and body["every_s"] == 601.0
    assert 24 <= len(body["points"]) <= 25
    assert body["points"][0]["value"] == pytest.approx(1_000_000.0, abs=20)
    wrong = client.get("/api/devices/b1-d1/telemetry?metric=speed_kmh", headers=anna)
    assert wrong.status_code == 422
    hidden = "/api/devices/b2-d1/telemetry?metric=weight_kg"
    assert client.get(hidden, headers=anna).status_code == 404


def test_collateral_map_and_positions(service: tuple[TestClient, Runtime]) -> None:
    client, _ = service
    anna = login(client, "anna", "anna-password")
    lot = client.get("/api/collateral/b1-c2?positions=5", headers=anna).json()
    assert lot["site"]["kind"] == "vehicle" and lot["collateral"]["unit"] == "vehicle"
    (track,) = lot["tracks"]
    assert [p["ts"] for p in track["positions"]] == [T0 - 240 + 60 * i for i in range(5)]
    assert client.get("/api/collateral/b2-c1", headers=anna).status_code == 404
    sites = client.get("/api/map", headers=anna).json()["sites"]
    assert [s["site"]["id"] for s in sites] == ["b1-v1"]
    assert len(sites[0]["tracks"][0]["positions"]) == 50
    fixes = client.get(f"/api/devices/b1-d2/positions?start={T0 - 600}", headers=anna).json()
    assert len(fixes["positions"]) == 11  # [T0 - 600, event time]
    assert client.get("/api/devices/b1-d1/positions", headers=anna).status_code == 404


def test_evidence_window_of_an_inventory_alert(service: tuple[TestClient, Runtime]) -> None:
    client, _ = service
    anna = login(client, "anna", "anna-password")
    (alert,) = client.get("/api/alerts", headers=anna).json()["items"]
    body = client.get(f"/api/alerts/{alert['id']}/evidence", headers=anna).json()
    assert body["breach_start"] == alert["opened_at"]
    assert body["start"] == alert["opened_at"] - 2 * 1800.0
    assert body["end"] <= T0 + 1.0
    (chart,) = body["charts"]
    assert chart["device_id"] == "b1-d1" and chart["unit"] == "kg"
    assert [t["value"] for t in chart["thresholds"]] == [1_000_000.0, 900_000.0]
    bob = login(client, "bob", "bob-password!")
    assert client.get(f"/api/alerts/{alert['id']}/evidence", headers=bob).status_code == 404


def test_alerts_carry_money_at_risk_and_a_score_aged_to_event_time(
    service: tuple[TestClient, Runtime],
) -> None:
    client, runtime = service
    anna = login(client, "anna", "anna-password")
    (alert,) = client.get("/api/alerts", headers=anna).json()["items"]
    # about 150 t of copper (8,000 a tonne) missing, of b1's EUR 5,000,000 loan
    assert alert["kind"] == "inventory_below_pledge" and alert["currency"] == "EUR"
    assert abs(alert["money_at_risk"] - 1_200_000) < 1_000 and alert["exposure"] == 5e6
    assert alert["money_at_risk_pct"] in (23, 24) and alert["detector_score"] is not None
    assert 68 <= alert["score"] <= 100 and alert["score_basis"].startswith("critical band")
    watermark = runtime.engines.of("bank-a").watermark
    assert watermark is not None and watermark > alert["opened_at"]
    stored = runtime.alerts.get(alert["id"])
    assert stored is not None and stored["score"] <= alert["score"]  # aged to event time
    assert client.get(f"/api/alerts/{alert['id']}", headers=anna).json()["score"] == alert["score"]


def test_map_says_each_vehicles_state_and_lists_those_needing_attention_first(
    service: tuple[TestClient, Runtime],
) -> None:
    client, _ = service
    rita = login(client, "rita", "rita-password")
    (truck,) = client.get("/api/map", headers=rita).json()["sites"]
    # inside its fence, no speed reported: parked, nothing open
    assert (truck["state"], truck["speed_kmh"], truck["attention"]) == ("parked", None, 4)


def test_credit_matrix_components_on_the_borrower_page_and_in_the_portfolio(
    service: tuple[TestClient, Runtime],
) -> None:
    client, _ = service
    rita = login(client, "rita", "rita-password")
    body = client.get("/api/borrowers/b1", headers=rita).json()
    matrix = body["matrix"]
    assert matrix["segment"] == "default"
    rows = {row["component"]: row for row in matrix["components"]}
    assert list(rows) == [
        "collateral",
        "operations",
        "conduct",
        "behaviour",
        "repayment",
        "outcome_model",
    ]
    collateral = rows["collateral"]
    assert collateral["score"] == 100.0  # 85 % coverage and a critical inventory alert
    assert collateral["reasons"][0].startswith("worst coverage 85% of pledge on lot b1-c1")
    lacking = {name for name, row in rows.items() if not row["has_data"]}
    # four hours of data, no loan events, no production line, nothing learned
    assert lacking == {"operations", "behaviour", "repayment", "outcome_model"}
    assert collateral["weight"] == 0.3 and collateral["weight_used"] == 0.6667
    assert collateral["contribution"] == pytest.approx(100.0 * 0.3 / 0.45, abs=0.01)
    assert rows["operations"]["weight_used"] == 0.0
    assert any("operations lacks data (no production line)" in n for n in matrix["notes"])
    assert client.get("/api/borrowers/b1/risk", headers=rita).json()["matrix"] == matrix

    page = client.get("/api/portfolio?sort=collateral", headers=rita).json()
    b1, b2 = page["items"]
    assert (b1["borrower_id"], b2["borrower_id"]) == ("b1", "b2")
    assert b1["component_scores"]["collateral"] == 100.0
    assert b2["component_scores"]["collateral"] == 0.0
    assert b1["component_scores"]["operations"] is None
    assert b1["matrix_score"] == matrix["score"] and b1["segment"] == "default"
    only = client.get("/api/portfolio?component=collateral&component_min=50", headers=rita)
    assert [r["borrower_id"] for r in only.json()["items"]] == ["b1"]
    none = client.get("/api/portfolio?component=operations&component_min=0", headers=rita)
    assert none.json()["items"] == [], "a component without data never passes a filter"
    bad = client.get("/api/portfolio?sort=luck", headers=rita)
    assert bad.status_code == 422
