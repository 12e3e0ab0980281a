"""Borrower risk, loan events and model figures over HTTP, with access rules."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from devices.reading import Reading
from riskstream.api.alert_views import AlertOut
from riskstream.api.app import create_app
from riskstream.api.views import BorrowerRiskOut, BorrowerRow
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.people import register_people
from tests.riskstream.test_api_access import login

T0 = 1_795_000_000.0


@pytest.fixture
def service(service_db: str) -> Iterator[tuple[TestClient, Runtime]]:
    db = service_db
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None))
    # b1's lot at 85% of its pledge, b2's at 125%
    runtime.engines.of("bank-a").process(
        [
            Reading("bank-a", "b1-d1", T0, "weight_kg", 850_000.0, 1),
            Reading("bank-a", "b2-d1", T0, "weight_kg", 500_000.0, 1),
        ]
    )
    with TestClient(create_app(runtime)) as client:
        yield client, runtime


def test_borrower_risk_needs_login_and_respects_scope(
    service: tuple[TestClient, Runtime],
) -> None:
    client, _ = service
    assert client.get("/api/borrowers/b1/risk").status_code == 401
    assert client.get("/api/borrowers").status_code == 401
    assert client.get("/api/models").status_code == 401
    anna = login(client, "anna", "anna-password")
    body = client.get("/api/borrowers/b1/risk", headers=anna).json()
    assert set(body) == {
        "borrower_id",
        "score",
        "computed_at",
        "reasons",
        "components",
        "matrix",
        "history",
        "open_alerts",
        "live_state",
    }
    assert body["live_state"] == {
        "source": "engine", "worker": None, "published_at": None, "age_s": None,
        "stale_after_s": None, "stale": False,
    }  # fmt: skip
    assert body["score"] == 60.0 and body["computed_at"] == T0
    assert "coverage 85% of pledge on lot b1-c1 (850.0 of 1,000.0 t): +60 points" in body["reasons"]
    assert body["history"] == [{"ts": T0, "score": 60.0}]
    assert body["open_alerts"] == []
    assert client.get("/api/borrowers/b2/risk", headers=anna).status_code == 404
    assert client.get("/api/borrowers/nobody/risk", headers=anna).status_code == 404
    bob = login(client, "bob", "bob-password!")
    assert client.get("/api/borrowers/b1/risk", headers=bob).status_code == 404
    assert client.get("/api/borrowers", headers=bob).json() == []


def test_borrowers_ranked_by_score_within_scope(service: tuple[TestClient, Runtime]) -> None:
    client, _ = service
    rita = login(client, "rita", "rita-password")
    ranked = client.get("/api/borrowers", headers=rita).json()
    assert [(r["borrower_id"], r["score"]) for r in ranked] == [("b1", 60.0), ("b2", 0.0)]
    anna = login(client, "anna", "anna-password")
    assert [r["borrower_id"] for r in client.get("/api/borrowers", headers=anna).json()] == ["b1"]


def test_loan_event_roles_and_validation(service: tuple[TestClient, Runtime]) -> None:
    client, runtime = service
    event = {"borrower_id": "b1", "loan_id": "b1-l1", "event": "payment_missed", "ts": T0 + 3600}
    anna = login(client, "anna", "anna-password")
    otto = login(client, "otto", "otto-password")
    rita = login(client, "rita", "rita-password")
    bob = login(client, "bob", "bob-password!")
    assert client.post("/api/loan-events", json=event).status_code == 401
    assert client.post("/api/loan-events", json=event, headers=anna).status_code == 403
    assert client.post("/api/loan-events", json=event, headers=otto).status_code == 403
    bad = {**event, "event": "bankrupt"}
    assert client.post("/api/loan-events", json=bad, headers=rita).status_code == 422
    unknown = {**event, "borrower_id": "b9"}
    assert client.post("/api/loan-events", json=unknown, headers=rita).status_code == 404
    assert client.post("/api/loan-events", json=event, headers=bob).status_code == 404
    wrong_loan = {**event, "loan_id": "b2-l1"}
    assert client.post("/api/loan-events", json=wrong_loan, headers=rita).status_code == 404
    wrong_tenant = {**event, "tenant": "bank-b"}
    assert client.post("/api/loan-events", json=wrong_tenant, headers=rita).status_code == 404
    assert runtime.loan_events.list("bank-a") == []
    assert runtime.engines.of("bank-a").scoring.models.of("bank-a").outcomes == 0


def test_loan_event_is_stored_audited_and_labels_the_model(
    service: tuple[TestClient, Runtime],
) -> None:
    client, runtime = service
    rita = login(client, "rita", "rita-password")
    event = {
        "ts": T0 + 3600,
        "tenant": "bank-a",
        "borrower_id": "b1",
        "loan_id": "b1-l1",
        "event": "payment_missed",
    }
    response = client.post("/api/loan-events", json=event, headers=rita)
    assert response.status_code == 201, response.text
    assert response.json()["snapshots_labelled"] == 1  # the snapshot taken at T0
    stored = runtime.loan_events.list("bank-a", "b1")
    assert [(e["event"], e["ts"], e["recorded_by"]) for e in stored] == [
        ("payment_missed", T0 + 3600, "rita")
    ]
    audit = client.get("/api/audit", headers=rita).json()
    entry = next(e for e in audit if e["action"] == "loan_event")
    assert entry["target"] == "loan:b1-l1" and entry["actor"] == "rita"
    assert entry["detail"]["event"] == "payment_missed"
    figures = client.get("/api/models", headers=rita).json()
    assert figures["tenant"] == "bank-a"
    model = figures["outcome_model"]
    # learned when the snapshot is horizon + grace old, with the good ones of its age
    assert model["bad_outcomes_waiting"] == 1 and model["pending_snapshots"] >= 1
    assert model["labels"] == 0 and model["bad_outcomes"] == 0 and model["weight"] == 0
    assert model["auc"] is None
    risk = client.get("/api/borrowers/b1/risk", headers=rita).json()
    assert "weight 0.00, 0 bad outcomes learned" in risk["reasons"][-1]
    bob = login(client, "bob", "bob-password!")
    assert (
        client.get("/api/models", headers=bob).json()["outcome_model"]["bad_outcomes_waiting"] == 0
    )


def test_the_answers_of_one_process_match_their_models_open_alerts_included(
    service: tuple[TestClient, Runtime],
) -> None:
    """Every key the engine gives is declared: validating the answer and writing it out
    again gives it back, and an open alert is the stored one, scored as `/api/alerts`
    scores it."""
    client, runtime = service
    drained = [
        Reading("bank-a", "b1-d1", T0 + k * 60, "weight_kg", 850_000.0 + k % 3, 2 + k)
        for k in range(1, 61)
    ]  # an hour below 90% of the pledge: an inventory alert
    runtime.publish(runtime.engines.of("bank-a").process(drained))
    rita = login(client, "rita", "rita-password")
    body = client.get("/api/borrowers/b1/risk", headers=rita).json()
    assert body["score"] is not None and body["history"] and body["open_alerts"]
    assert BorrowerRiskOut.model_validate(body).model_dump(mode="json") == body
    (alert,) = body["open_alerts"]
    assert set(alert) == set(AlertOut.model_fields)
    # the same alert, scored as everywhere else: as of the lender's event time, its money
    # at risk filled in (not the detector's own score)
    (listed_alert,) = client.get("/api/alerts", headers=rita).json()["items"]
    assert alert["id"] == listed_alert["id"]
    for key in ("score", "severity", "money_at_risk", "currency", "exposure", "score_basis"):
        assert alert[key] == listed_alert[key], key
    assert alert["money_at_risk"] is not None
    rows = client.get("/api/borrowers", headers=rita).json()
    assert [(r["borrower_id"], r["open_alerts"]) for r in rows] == [("b1", 1), ("b2", 0)]
    listed = TypeAdapter(list[BorrowerRow])
    assert listed.dump_python(listed.validate_python(rows), mode="json") == rows


def _property(schemas: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    return dict(schemas[model]["properties"][name])


def _nullable(schemas: dict[str, Any], model: str) -> set[str]:
    return {
        name
        for name, field in schemas[model]["properties"].items()
        if {"type": "null"} in field.get("anyOf", [])
    }


def test_the_api_reference_names_the_fields_of_the_list_and_the_risk_answer(
    tmp_path: Path,
) -> None:
    register_people(tmp_path / "rs.db")
    runtime = Runtime(ServiceSettings(database=str(tmp_path / "rs.db"), deadletter=None))
    with TestClient(create_app(runtime)) as client:
        spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def answer(path: str) -> dict[str, Any]:
        ok = spec["paths"][path]["get"]["responses"]["200"]
        schema = ok["content"]["application/json"]["schema"]
        return {k: v for k, v in schema.items() if k != "title"}

    assert answer("/api/borrowers") == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/BorrowerRow"},
    }
    assert answer("/api/borrowers/{borrower_id}/risk") == {
        "$ref": "#/components/schemas/BorrowerRiskOut"
    }
    row = schemas["BorrowerRow"]
    assert list(row["properties"]) == [
        "borrower_id", "score", "computed_at", "open_alerts", "reasons", "live_state",
    ]  # fmt: skip
    assert set(row["required"]) == set(row["properties"])
    assert _nullable(schemas, "BorrowerRow") == {"score", "computed_at"}
    risk = schemas["BorrowerRiskOut"]
    assert list(risk["properties"]) == [
        "borrower_id", "score", "computed_at", "reasons", "components", "matrix", "history",
        "open_alerts", "live_state",
    ]  # fmt: skip
    assert set(risk["required"]) == set(risk["properties"])
    assert _nullable(schemas, "BorrowerRiskOut") == {"score", "computed_at"}
    refs = {
        "matrix": _property(schemas, "BorrowerRiskOut", "matrix").get("$ref"),
        "history": _property(schemas, "BorrowerRiskOut", "history")["items"].get("$ref"),
        "open_alerts": _property(schemas, "BorrowerRiskOut", "open_alerts")["items"].get("$ref"),
        "live_state": _property(schemas, "BorrowerRiskOut", "live_state").get("$ref"),
        "row live_state": _property(schemas, "BorrowerRow", "live_state").get("$ref"),
    }
    assert refs == {
        "matrix": "#/components/schemas/MatrixOut",
        "history": "#/components/schemas/ScorePoint",
        "open_alerts": "#/components/schemas/AlertOut",
        "live_state": "#/components/schemas/LiveStateOut",
        "row live_state": "#/components/schemas/LiveStateOut",
    }
    assert _nullable(schemas, "MatrixOut") == {"score"}
    for model in ("BorrowerRow", "BorrowerRiskOut"):
        for name in ("score", "computed_at"):
            assert "null" in _property(schemas, model, name)["description"], (model, name)
        assert "0–100" in _property(schemas, model, "score")["description"]
        assert "epoch s" in _property(schemas, model, "computed_at")["description"]
    assert "epoch s" in _property(schemas, "ScorePoint", "ts")["description"]
