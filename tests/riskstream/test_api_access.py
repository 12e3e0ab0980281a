"""People and access: logins, tenant isolation, portfolios, roles, audited actions."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from riskstream.api.app import create_app
from riskstream.cli.app import build_app
from riskstream.engine.alerts import Alert
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.people import register_people

T0 = 1_795_000_000.0


def alert(tenant: str, borrower: str, kind: str = "inventory_below_pledge") -> Alert:
    return Alert(
        id=f"{tenant}-{borrower}-{kind}",
        tenant=tenant,
        borrower_id=borrower,
        loan_id=None,
        site_id=None,
        device_id=None,
        kind=kind,
        subject=f"{borrower}-c1",
        severity="critical",
        status="open",
        opened_at=T0,
        detected_at=T0,
        updated_at=T0,
        score=50.0,
        reasons=["inventory low"],
        evidence={"coverage": 0.5},
        rule=f"rules.{kind}",
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, Path]]:
    db = tmp_path / "rs.db"
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None))
    runtime.publish([alert("bank-a", "b1"), alert("bank-a", "b2"), alert("bank-b", "x9")])
    with TestClient(create_app(runtime)) as client:
        yield client, runtime, db


def login(client: TestClient, user: str, password: str) -> dict[str, str]:
    response = client.post("/api/token", data={"username": user, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def visible(client: TestClient, headers: dict[str, str]) -> set[str]:
    return {a["borrower_id"] for a in client.get("/api/alerts", headers=headers).json()["items"]}


def test_unauthenticated_requests_get_401(service: tuple[TestClient, Runtime, Path]) -> None:
    client, _, _ = service
    for path in ("/api/alerts", "/api/alerts/stream", "/api/stats", "/api/me", "/api/audit"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/alerts", headers={"Authorization": "Bearer forged"}).status_code == 401
    wrong = client.post("/api/token", data={"username": "anna", "password": "nope-nope"})
    assert wrong.status_code == 401


def test_officer_sees_own_portfolio_and_tenants_are_isolated(
    service: tuple[TestClient, Runtime, Path],
) -> None:
    client, _, _ = service
    assert visible(client, login(client, "anna", "anna-password")) == {"b1"}
    assert visible(client, login(client, "rita", "rita-password")) == {"b1", "b2"}
    assert visible(client, login(client, "bob", "bob-password!")) == {"x9"}
    anna = login(client, "anna", "anna-password")
    assert (
        client.get("/api/alerts/bank-a-b2-inventory_below_pledge", headers=anna).status_code == 404
    )
    bob = login(client, "bob", "bob-password!")
    assert (
        client.get("/api/alerts/bank-a-b1-inventory_below_pledge", headers=bob).status_code == 404
    )
    assert (
        client.post(
            "/api/alerts/bank-a-b1-inventory_below_pledge/ack",
            headers=bob,
            json={"comment": "mine now"},
        ).status_code
        == 404
    )


def test_acknowledge_and_resolve_are_audited_and_chain_verifies(
    service: tuple[TestClient, Runtime, Path],
) -> None:
    client, runtime, db = service
    anna = login(client, "anna", "anna-password")
    alert_id = "bank-a-b1-inventory_below_pledge"
    acked = client.post(
        f"/api/alerts/{alert_id}/ack", headers=anna, json={"comment": "calling the warehouse"}
    )
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    again = client.post(f"/api/alerts/{alert_id}/ack", headers=anna, json={"comment": "again"})
    assert again.status_code == 409
    otto = login(client, "otto", "otto-password")
    assert (
        client.post(
            f"/api/alerts/{alert_id}/resolve", headers=otto, json={"comment": "x"}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/api/alerts/{alert_id}/resolve", headers=anna, json={}).status_code == 422
    )  # a comment is required
    resolved = client.post(
        f"/api/alerts/{alert_id}/resolve", headers=anna, json={"comment": "goods back, audit done"}
    )
    assert resolved.json()["status"] == "resolved"
    entries = client.get("/api/audit", headers=otto).json()
    actions = [(e["actor"], e["action"], e["target"]) for e in entries]
    assert ("anna", "acknowledge", f"alert:{alert_id}") in actions
    assert ("anna", "resolve", f"alert:{alert_id}") in actions
    assert ("anna", "login", "user:anna") in actions
    assert all(e["tenant"] == "bank-a" for e in entries)
    assert client.get("/api/audit", headers=anna).status_code == 403
    # the change reached the live feed's log
    last = runtime.alerts.changes_after(0)[-1][1]
    assert last["id"] == alert_id and last["status"] == "resolved"

    runner = CliRunner()
    ok = runner.invoke(build_app(), ["audit", "verify", "--db", str(db)])
    assert ok.exit_code == 0 and "intact" in ok.output
    con = sqlite3.connect(db)
    con.execute(
        'UPDATE audit_log SET detail = \'{"comment":"nothing to see"}\' '
        "WHERE action = 'acknowledge'"
    )
    con.commit()
    con.close()
    tampered = runner.invoke(build_app(), ["audit", "verify", "--db", str(db)])
    assert tampered.exit_code == 1 and "tampered" in tampered.output
