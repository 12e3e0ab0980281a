"""Dry-run of proposed rules over recorded simulated telemetry, through the API."""

from pathlib import Path

from ingest.stores import DuckDBStore
from riskstream.backtest.replay import readings, replay
from riskstream.backtest.telemetry_file import read_telemetry
from riskstream.service.runtime import Runtime
from tests.riskstream.backtest_data import ASSIGN, simulate
from tests.riskstream.rules_service import SAMPLE, client_of, login, register, settings


def proposed_text() -> str:
    """The sample with the inventory rule off, geofence exits made critical and the
    credit matrix's collateral weight tripled."""
    text = SAMPLE.read_text().replace("\ncollateral = 0.30\n", "\ncollateral = 0.90\n")
    inventory = text.index("[rules.inventory_below_pledge]")
    text = text[:inventory] + text[inventory:].replace("enabled = true", "enabled = false", 1)
    geofence = text.index("[rules.geofence_exit]")
    return text[:geofence] + text[geofence:].replace(
        'severity = "warning"', 'severity = "critical"', 1
    )


async def test_dry_run_compares_proposed_rules_with_the_rules_in_force(tmp_path: Path) -> None:
    run = simulate(tmp_path, 3, 2.0, 5, ASSIGN)
    telemetry = read_telemetry(run.telemetry)
    tenant = run.fleet.tenant.id
    store = DuckDBStore(tmp_path / "recorded.duckdb")
    store.write(readings(telemetry, 0, len(telemetry), tenant))
    rules = tmp_path / "rules.toml"
    rules.write_text(SAMPLE.read_text())
    runtime = Runtime(settings(tmp_path, register(tmp_path, run.fleet), "mqtt://x:1", rules))
    runtime.store = store
    replay(
        runtime.engines.of(tenant), telemetry, tenant
    )  # the live engine has seen the same telemetry
    live_open = [a.to_dict() for a in runtime.engines.of("bank-a").open_alerts()]
    async with client_of(runtime) as client:
        admin = await login(client, "rita")
        body = {"text": proposed_text(), "days": 3}
        response = await client.post("/api/rules/dry-run", json=body, headers=admin)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["readings"] == len(telemetry) and result["current_version"] == 1
        assert result["window"]["end"] == telemetry.end and result["window"]["days"] == 3
        current, proposed = result["current"], result["proposed"]
        assert {"inventory_below_pledge", "geofence_exit", "device_silent"} <= set(
            current["by_kind"]
        )
        assert "inventory_below_pledge" not in proposed["by_kind"]
        assert proposed["by_kind_severity"]["geofence_exit"] == {"critical": 1}
        assert current["by_kind_severity"]["geofence_exit"] == {"warning": 1}
        assert proposed["total"] == len(result["alerts"]) == current["total"] - result["dropped"]
        [geofence] = [a for a in result["alerts"] if a["kind"] == "geofence_exit"]
        assert geofence["in_current"] and geofence["current_severity"] == "warning"
        assert geofence["severity"] == "critical" and geofence["raised_at"] >= geofence["opened_at"]
        assert [a["kind"] for a in result["only_current"]] == ["inventory_below_pledge"]
        assert result["only_current"][0]["borrower_id"] == "b001"
        # the proposed matrix weighs collateral more: b001's drained lot counts more
        scores = {row["borrower_id"]: row for row in result["scores"]}
        assert set(scores) == {"b001", "b002", "b003"}
        b001 = scores["b001"]
        assert b001["proposed"]["matrix"] > b001["current"]["matrix"]
        assert b001["proposed"]["segment"] == b001["current"]["segment"] == "default"
        changes = [
            max(abs(r["proposed"][k] - r["current"][k]) for k in ("score", "matrix"))
            for r in result["scores"]
        ]
        assert changes == sorted(changes, reverse=True) and changes[0] > 0, "largest first"

        # an officer sees only the borrowers of their portfolio (b002)
        officer = await login(client, "anna")
        mine = (await client.post("/api/rules/dry-run", json=body, headers=officer)).json()
        assert {a["borrower_id"] for a in mine["alerts"] + mine["only_current"]} == {"b002"}

        bad = await client.post(
            "/api/rules/dry-run",
            json={
                "text": proposed_text().replace("coverage_below = 0.9", "coverage_below = 0"),
                "days": 1,
            },
            headers=admin,
        )
        assert bad.status_code == 400
        assert (bad.json()["line"], bad.json()["field"]) == (
            11,
            "rules.inventory_below_pledge.coverage_below",
        )
        too_long = await client.post(
            "/api/rules/dry-run", json={"text": proposed_text(), "days": 365}, headers=admin
        )
        assert too_long.status_code == 422
    # the live engine is untouched
    assert runtime.engines.of("bank-a").rules.rules.inventory_below_pledge.enabled
    assert [a.to_dict() for a in runtime.engines.of("bank-a").open_alerts()] == live_open
    assert runtime.rules_keeper.current.version == 1
    store.close()
