"""A machine monitor repeating one message: its current and vibration carry noise even
when the line stands still, so ten exact repeats are a frozen or replaced sensor."""

from dataclasses import replace
from pathlib import Path

from devices.model import DeviceKind
from riskstream.backtest import read_telemetry
from riskstream.backtest.replay import replay
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from simulator import generate_fleet, plan_scenarios
from simulator.run import run_to_file
from simulator.telemetry import generate
from tests.riskstream.backtest_data import DAY, START

SEED = 41


def test_a_stuck_machine_monitor_raises_values_stuck_and_an_idle_one_does_not(
    tmp_path: Path,
) -> None:
    fleet = generate_fleet(6, SEED)
    monitors = [d for d in fleet.devices() if d.kind is DeviceKind.GENERIC]
    assert monitors
    owner = next(b for b in fleet.borrowers if monitors[0] in b.devices)
    end = START + 3 * DAY
    plan = plan_scenarios(fleet, SEED, START, end, assign={owner.id: "stuck_values"})
    stuck = replace(plan[0], device_id=monitors[0].id, site_id=monitors[0].site)
    path = tmp_path / "t.csv"
    run_to_file(generate(fleet, [stuck], START, end, SEED), fleet.tenant.id, path)
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    alerts = replay(engine, read_telemetry(path), fleet.tenant.id).alerts
    stuck_alerts = [a for a in alerts if a["kind"] == "values_stuck"]
    assert {a["subject"] for a in stuck_alerts} == {monitors[0].id}, stuck_alerts
    assert stuck_alerts[0]["opened_at"] >= stuck.start_ts
