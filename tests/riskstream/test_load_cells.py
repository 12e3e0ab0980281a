"""Lots weighed by several load cells: a cell's own faults, and goods leaving a little a night.

Simulated fleets with 2–8 cells per lot (each cell its share, noise and drift), harmless
glitches on (one cell's spike, dropped messages, reboots), replayed through the engine.
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devices.model import Fleet
from devices.reading import Reading
from riskstream.backtest import read_telemetry
from riskstream.backtest.replay import replay
from riskstream.detectors.lot_weight import LoadCellFaultRule, LotWeightDetector
from riskstream.engine.alerts import AlertBook
from riskstream.engine.core import Engine
from riskstream.engine.fleet_index import FleetIndex
from riskstream.rules.schema import RuleSet
from simulator import generate_fleet, plan_scenarios
from simulator.injection import Injection
from simulator.planning import CELL_FAULT_MODES
from simulator.run import run_to_file
from simulator.telemetry import generate
from tests.riskstream.backtest_data import DAY, START

SEED = 31
LOT_KINDS = {"inventory_below_pledge", "collateral_moved_out_of_hours", "inventory_slow_loss"}


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return generate_fleet(10, SEED, load_cells=(2, 8))


def play(fleet: Fleet, plan: list[Injection], days: float, where: Path) -> list[dict[str, Any]]:
    path = where / "telemetry.csv"
    end = START + days * DAY
    run_to_file(generate(fleet, plan, START, end, SEED), fleet.tenant.id, path)
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    return replay(engine, read_telemetry(path), fleet.tenant.id).alerts


def planned(fleet: Fleet, kind: str, days: float, **params: float) -> Injection:
    """``kind`` planned on the first borrower that can take it, with ``params`` set."""
    for borrower in fleet.borrowers:
        try:
            plan = plan_scenarios(
                fleet, SEED, START, START + days * DAY, assign={borrower.id: kind}
            )
        except ValueError:
            continue
        injection = plan[0]
        kept = tuple((k, v) for k, v in injection.params if k not in params)
        return replace(injection, params=kept + tuple(params.items()))
    raise AssertionError(f"no borrower of the fleet can take {kind}")


def test_the_simulator_gives_lots_several_cells_that_sum_to_the_lot(fleet: Fleet) -> None:
    index = FleetIndex([fleet])
    counts = [len(lot.load_cells) for lot in index.collateral.values() if lot.load_cells]
    assert min(counts) >= 2 and max(counts) <= 8 and len(set(counts)) > 2, counts


def test_a_clean_fleet_of_multi_cell_lots_with_glitches_raises_nothing(
    fleet: Fleet, tmp_path: Path
) -> None:
    assert play(fleet, [], 4.0, tmp_path) == []


def four_cell_totals(
    minutes: int, value_of: Any
) -> tuple[list[float], float, LotWeightDetector, str]:
    """Feed a lot of four cells ``value_of(minute, cell index, share_kg)`` once a minute,
    where share_kg is 30 % of its pledge; return the lot's weight after each reading that
    knew it, share_kg, the detector and the lot's id."""
    fleet = generate_fleet(1, SEED, load_cells=(4, 4))
    index = FleetIndex([fleet])
    lot = next(lot for lot in index.collateral.values() if lot.load_cells)
    detector = LotWeightDetector(index, LoadCellFaultRule())
    book = AlertBook()
    share_kg = 0.3 * lot.collateral.quantity * 1000.0
    totals = []
    for minute in range(minutes):
        for k, cell in enumerate(lot.load_cells):
            value = value_of(minute, k, share_kg)
            reading = Reading(fleet.tenant.id, cell, START + 60.0 * minute, "weight_kg", value)
            detector.observe(reading, index.devices[cell], book, 0.0)
            totals.append(detector.total(lot.collateral.id, reading))
    return [t for t in totals if t is not None], share_kg, detector, lot.collateral.id


def test_one_cells_spike_does_not_move_the_lots_weight() -> None:
    def value_of(minute: int, k: int, share_kg: float) -> float:
        return share_kg * (1.2 if (minute, k) == (8, 2) else 1.0) + minute % 3

    known, _, _, _ = four_cell_totals(12, value_of)
    assert max(known) - min(known) <= 4 * 2.0 + 1e-6, (min(known), max(known))


@pytest.mark.parametrize("hostile", [1e308, -1e308, 1e12])
@pytest.mark.parametrize("first", [0, 10], ids=["before-shares-are-learned", "after"])
def test_a_cell_reading_what_no_scale_carries_is_set_aside_and_the_lot_stays_weighed(
    hostile: float, first: int
) -> None:
    def value_of(minute: int, k: int, share_kg: float) -> float:
        if k < 2 and first <= minute < first + 10:  # two cells, ten reports each
            return hostile
        return share_kg + minute % 3

    known, share_kg, detector, lot_id = four_cell_totals(40, value_of)
    assert all(4 * share_kg - 10.0 <= t <= 4 * share_kg + 10.0 for t in known), (
        min(known),
        max(known),
    )
    cells = detector._lots[lot_id]
    assert cells is not None and not any(cells.faults), "both cells back in use once sane"


@pytest.mark.parametrize("mode", CELL_FAULT_MODES)
def test_a_failing_cell_is_device_health_not_an_inventory_event(
    fleet: Fleet, mode: str, tmp_path: Path
) -> None:
    injection = planned(fleet, "cell_fault", 3.0)
    fault = {"mode": float(CELL_FAULT_MODES.index(mode))}
    if mode != "dead":
        fault["factor"] = 0.4
    injection = replace(
        injection,
        params=tuple(fault.items()),
        end_ts=None if mode == "dead" else injection.start_ts + DAY,
    )
    alerts = play(fleet, [injection], 3.0, tmp_path)
    on_cell = {a["kind"] for a in alerts if a["subject"] == injection.device_id}
    assert "load_cell_fault" in on_cell, alerts
    fault_alert = next(a for a in alerts if a["kind"] == "load_cell_fault")
    assert fault_alert["opened_at"] >= injection.start_ts - 1.0
    assert "working cells" in fault_alert["reasons"][1]
    assert [a for a in alerts if a["kind"] in LOT_KINDS] == []


@pytest.mark.parametrize(("nightly", "within_nights"), [(0.01, 3), (0.03, 1)])
def test_salami_theft_is_caught_within_its_nights(
    fleet: Fleet, nightly: float, within_nights: int, tmp_path: Path
) -> None:
    days = 6.0
    injection = planned(fleet, "salami_theft", days, nightly=nightly)
    alerts = play(fleet, [injection], days, tmp_path)
    lot_alerts = [a for a in alerts if a["subject"] == injection.collateral_id]
    slow = [a for a in lot_alerts if a["kind"] == "inventory_slow_loss"]
    assert slow, alerts
    # the n-th night's bites end within 2 h 10 min of its start
    deadline = injection.start_ts + (within_nights - 1) * DAY + 3 * 3600.0
    assert slow[0]["raised_at"] <= deadline, (slow[0]["raised_at"] - injection.start_ts) / 3600
    assert "of the pledge" in slow[0]["reasons"][0]
    assert slow[0]["evidence"]["stretches"] or slow[0]["evidence"]["current_loss_share"]
    assert {a["kind"] for a in alerts} <= LOT_KINDS, alerts


def test_the_new_scenarios_give_the_same_bytes_for_the_same_seed(
    fleet: Fleet, tmp_path: Path
) -> None:
    plan = plan_scenarios(
        fleet, SEED, START, START + 2 * DAY, rate=0.5, kinds=["salami_theft", "cell_fault"]
    )
    assert {i.scenario for i in plan} == {"salami_theft", "cell_fault"}
    paths = []
    for name in ("a.csv", "b.csv"):
        path = tmp_path / name
        run_to_file(generate(fleet, plan, START, START + 2 * DAY, SEED), fleet.tenant.id, path)
        paths.append(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
