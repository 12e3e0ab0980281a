"""A lot's weight reading through one handler: the lot chain taking the coverage note and
the stuck-values check inline (`riskstream.engine.routing.Router.fuse_lot_readings`).

It must give what the three steps called one by one give, and the rules that reach a
lot's cells (stuck values' metrics, a rule disabled, a loan's override) and a
checkpoint's state must still take effect on them.
"""

import pickle
from pathlib import Path

import pytest

from devices.reading import Reading
from riskstream.backtest import read_telemetry
from riskstream.backtest.replay import replay
from riskstream.engine.core import Engine
from riskstream.engine.routing import Router
from riskstream.rules.schema import RuleSet, parse_rules
from simulator import generate_fleet, plan_scenarios
from simulator.run import run_to_file
from simulator.telemetry import generate
from tests.fleets import small_fleet
from tests.riskstream.backtest_data import DAY, START

SEED = 5
LOT_SCENARIOS = [
    "stuck_values",
    "cell_fault",
    "inventory_drain",
    "salami_theft",
    "double_pledge",
    "tamper_door",
]
T0 = 1_795_000_000.0
STUCK_KG = 1_200_000.0  # b1-c1 at 120 % of its pledge: no inventory alert
NOT_STUCK = "[rules.values_stuck]\nmetrics = ['temperature_c']\n"
STUCK_OFF = "[rules.values_stuck]\nenabled = false\n"


def test_one_handler_gives_the_alerts_and_state_of_the_three_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # lots of one to eight cells; a stuck cell, a failing one, drains, a salami theft,
    # a double pledge and a door left open
    fleet = generate_fleet(8, SEED, load_cells=(1, 8))
    end = START + 2.5 * DAY
    plan = plan_scenarios(fleet, SEED, START, end, rate=1.0, kinds=LOT_SCENARIOS)
    path = tmp_path / "telemetry.csv"
    run_to_file(generate(fleet, plan, START, end, SEED), fleet.tenant.id, path)
    telemetry = read_telemetry(path)
    runs = []
    for fused in (True, False):
        monkeypatch.setattr(Router, "fuse_lot_readings", fused)
        engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
        alerts = replay(engine, telemetry, fleet.tenant.id).alerts
        runs.append((alerts, pickle.dumps(engine.state())))
    (fused_alerts, fused_state), (steps_alerts, steps_state) = runs
    kinds = {a["kind"] for a in fused_alerts}
    assert {"values_stuck", "load_cell_fault", "inventory_slow_loss", "double_pledge"} <= kinds
    assert fused_alerts == steps_alerts
    assert fused_state == steps_state


def stuck_minutes(engine: Engine, minutes: range, kg: float = STUCK_KG) -> list[str]:
    """Feed b1's load cell (one cell of lot b1-c1) and b2's the same value once a minute;
    return the devices whose values_stuck alert opened or was updated, first seen first."""
    raised: list[str] = []
    for m in minutes:
        ts = T0 + m * 60
        batch = [
            Reading("bank-a", "b1-d1", ts, "weight_kg", kg, m),
            Reading("bank-a", "b2-d1", ts, "weight_kg", 500_000.0, m),
        ]
        for alert in engine.process(batch) + engine.tick(ts):
            if alert.kind == "values_stuck" and alert.status == "open":
                raised += [] if alert.subject in raised else [alert.subject]
    return raised


def engine_under(rules: str = "") -> Engine:
    return Engine([small_fleet()], parse_rules(rules), wall_clock=lambda: 0.0)


def test_a_stuck_lot_cell_is_raised_unless_the_rules_leave_its_weight_out() -> None:
    assert stuck_minutes(engine_under(), range(90)) == ["b1-d1", "b2-d1"]
    assert stuck_minutes(engine_under(NOT_STUCK), range(90)) == []
    assert stuck_minutes(engine_under(STUCK_OFF), range(90)) == []


def test_new_rules_reach_a_lot_cell_at_its_next_reading() -> None:
    engine = engine_under(NOT_STUCK)
    assert stuck_minutes(engine, range(30)) == []
    engine.set_rules(parse_rules(""))  # weight watched from now: its run starts now
    assert stuck_minutes(engine, range(30, 80)) == []
    assert stuck_minutes(engine, range(80, 100)) == ["b1-d1", "b2-d1"]
    engine = engine_under()
    assert stuck_minutes(engine, range(30)) == []
    engine.set_rules(parse_rules(STUCK_OFF))
    assert stuck_minutes(engine, range(30, 120)) == []
    engine.set_rules(parse_rules(NOT_STUCK))
    assert stuck_minutes(engine, range(120, 200)) == []


def test_a_loans_override_reaches_its_lot_cell_only() -> None:
    override = '[[overrides]]\nloan = "b1-l1"\n[overrides.rules.values_stuck]\nenabled = false\n'
    assert stuck_minutes(engine_under(override), range(90)) == ["b2-d1"]


def test_a_checkpoints_state_replaces_what_the_lot_cells_handler_held() -> None:
    engine = engine_under()
    assert stuck_minutes(engine, range(40)) == []
    saved = pickle.dumps(engine.state())
    # the value changes: the run the handler holds starts again, and the coverage moves
    assert stuck_minutes(engine, range(40, 50), kg=STUCK_KG + 1.0) == []
    engine.load(pickle.loads(saved))
    coverage = engine.coverage.lot("b1-c1")
    assert coverage is not None and coverage.on_hand == STUCK_KG / 1000
    # the restored run goes on (the one held before would have started at minute 50)
    assert stuck_minutes(engine, range(50, 75)) == ["b1-d1", "b2-d1"]
    engine.coverage.keep_history()
    stuck_minutes(engine, range(75, 80), kg=STUCK_KG - 1000.0)
    coverage = engine.coverage.lot("b1-c1")
    assert coverage is not None and coverage.on_hand == STUCK_KG / 1000 - 1.0
    assert [h.collateral_id for h in engine.coverage.history_of_borrower("b1")] == ["b1-c1"]
