"""`riskstream backtest` with two lenders' fleets: the goods the simulator pledged to both
are found at both, its decoys (one shared fact each) are not, and the evaluation counts it."""

from pathlib import Path

import orjson
import typer
from typer.testing import CliRunner

from devices.fleet_file import save_fleet
from riskstream.backtest import evaluate, read_alerts, read_truth_file
from riskstream.cli.app import build_app
from simulator import generate_fleet
from tests.riskstream.backtest_data import START

runner = CliRunner()


def cli() -> typer.Typer:
    return build_app()


def test_the_twice_pledged_lots_are_found_at_both_lenders_and_the_decoys_are_not(
    tmp_path: Path,
) -> None:
    save_fleet(generate_fleet(12, seed=5, tenant="bank-a"), tmp_path / "fleet.yaml")
    fleets, telemetry = tmp_path / "fleets", tmp_path / "telemetry.csv"
    truth, alerts = tmp_path / "truth.jsonl", tmp_path / "alerts.jsonl"
    made = runner.invoke(
        cli(),
        [
            "simulate",
            "cross-pledge",
            *("--fleet", str(tmp_path / "fleet.yaml"), "--lender", "bank-b", "--lots", "2"),
            *("--days", "0.5", "--start", str(START), "--seed", "5"),
            *("--out", str(telemetry), "--fleets", str(fleets), "--truth", str(truth)),
        ],
    )
    assert made.exit_code == 0, made.output
    replayed = runner.invoke(
        cli(),
        [
            "backtest",
            *("--telemetry", str(telemetry), "--out", str(alerts)),
            *("--fleet", str(fleets / "bank-a.yaml"), "--fleet", str(fleets / "bank-b.yaml")),
        ],
    )
    assert replayed.exit_code == 0, replayed.output
    assert "2 lenders: bank-a, bank-b" in replayed.output

    records = read_truth_file(truth)
    found = [orjson.loads(line) for line in alerts.read_bytes().splitlines()]
    flagged = {
        (a["tenant"], a["borrower_id"], a["subject"])
        for a in found
        if a["kind"] == "pledged_elsewhere"
    }
    assert flagged == {(r.tenant, r.borrower_id, r.collateral_id) for r in records}
    assert {t for t, _, _ in flagged} == {"bank-a", "bank-b"}

    result = evaluate(records, read_alerts(alerts))
    (row,) = [r for r in result.scenarios if r.scenario == "cross_pledge"]
    assert (row.engine.events, row.engine.detected) == (4, 4)
    assert row.alert_kinds == ("pledged_elsewhere",)
    (kind,) = [k for k in result.kinds if k.kind == "pledged_elsewhere"]
    assert (kind.alerts, kind.matched) == (4, 4)


def test_several_fleets_need_a_tenant_column(tmp_path: Path) -> None:
    for tenant in ("bank-a", "bank-b"):
        save_fleet(generate_fleet(2, seed=1, tenant=tenant), tmp_path / f"{tenant}.yaml")
    telemetry = tmp_path / "t.csv"
    telemetry.write_text("ts,device_id,metric,value\n1767571200.0,b001-d01,weight_kg,1.0\n")
    result = runner.invoke(
        cli(),
        [
            "backtest",
            *("--telemetry", str(telemetry), "--out", str(tmp_path / "a.jsonl")),
            *("--fleet", str(tmp_path / "bank-a.yaml"), "--fleet", str(tmp_path / "bank-b.yaml")),
        ],
    )
    assert result.exit_code == 2
    assert "has no tenant column" in result.output
