"""Scenario planning and the ground-truth file."""

from collections import Counter
from pathlib import Path

import pytest

from devices.model import DeviceKind, Fleet
from simulator.fleetgen import generate_fleet
from simulator.scenarios import (
    SCENARIOS,
    TruthRecord,
    plan_scenarios,
    read_truth,
    truth_records,
    write_truth,
)

START, END = 1_000_000.0, 1_000_000.0 + 86_400.0


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return generate_fleet(20, seed=5)


def test_plan_hits_rate_of_borrowers_once_each_with_every_kind(fleet: Fleet) -> None:
    plan = plan_scenarios(fleet, seed=1, start_ts=START, end_ts=END, rate=0.3)
    assert len(plan) == 6
    assert len({i.borrower_id for i in plan}) == len(plan)
    assert set(Counter(i.scenario for i in plan)) == set(SCENARIOS)
    assert plan == plan_scenarios(fleet, seed=1, start_ts=START, end_ts=END, rate=0.3)
    for inj in plan:
        assert START + 0.1 * 86_400 <= inj.start_ts <= START + 0.4 * 86_400


def test_plan_has_one_per_kind_even_at_a_low_rate(fleet: Fleet) -> None:
    plan = plan_scenarios(fleet, seed=2, start_ts=START, end_ts=END, rate=0.01)
    assert sorted(i.scenario for i in plan) == sorted(SCENARIOS)
    assert plan_scenarios(fleet, seed=2, start_ts=START, end_ts=END, rate=0.0) == []


def test_subjects_match_their_kind(fleet: Fleet) -> None:
    devices = {d.id: d for d in fleet.devices()}
    for inj in plan_scenarios(fleet, seed=3, start_ts=START, end_ts=END, rate=1.0):
        assert inj.device_id is not None
        device = devices[inj.device_id]
        assert device.site == inj.site_id
        assert inj.device_id.startswith(inj.borrower_id + "-")
        if inj.scenario == "inventory_drain":
            assert device.kind is DeviceKind.LOAD_CELL
            assert inj.collateral_id == device.collateral
        elif inj.scenario == "geofence_exit":
            assert device.kind is DeviceKind.GPS_TRACKER
            assert inj.collateral_id == device.collateral
        else:
            assert inj.collateral_id is None


def test_explicit_assignment_and_kinds(fleet: Fleet) -> None:
    plan = plan_scenarios(
        fleet, seed=4, start_ts=START, end_ts=END, assign={"b002": "geofence_exit"}
    )
    assert [(i.borrower_id, i.scenario) for i in plan] == [("b002", "geofence_exit")]
    only = plan_scenarios(fleet, seed=4, start_ts=START, end_ts=END, kinds=["device_silent"])
    assert {i.scenario for i in only} == {"device_silent"}
    with pytest.raises(ValueError, match="unknown scenario"):
        plan_scenarios(fleet, seed=4, start_ts=START, end_ts=END, kinds=["meteor"])
    with pytest.raises(ValueError, match="unknown borrower"):
        plan_scenarios(fleet, seed=4, start_ts=START, end_ts=END, assign={"zz": "device_silent"})


def test_truth_round_trips_as_json_lines(fleet: Fleet, tmp_path: Path) -> None:
    plan = plan_scenarios(fleet, seed=6, start_ts=START, end_ts=END)
    records = truth_records(fleet.tenant.id, plan, END)
    path = tmp_path / "truth.jsonl"
    write_truth(records, path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(plan)
    assert lines[0].startswith('{"scenario":')
    assert read_truth(path) == records
    assert all(isinstance(r, TruthRecord) and r.end_ts == END for r in records)
    assert {r.tenant for r in records} == {"demo-bank"}
