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
from tests.simulator.conftest import DAY, MONDAY

START, END = MONDAY, MONDAY + DAY
KINDS = [
    "inventory_drain",
    "inventory_removal",
    "double_pledge",
    "unregistered_move",
    "salami_theft",
    "geofence_exit",
    "parked_moving",
    "production_slowdown",
    "machine_idle",
    "business_decline",
    "cold_chain",
    "device_silent",
    "tamper_door",
    "stuck_values",
    "cell_fault",
    "replay",
    "spoof",
    "gps_spoof",
    "borrower_default",
]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return generate_fleet(20, seed=5)


def test_the_kinds_are_the_documented_ones() -> None:
    assert list(SCENARIOS) == KINDS


def test_plan_hits_each_borrower_once_with_every_kind(fleet: Fleet) -> None:
    plan = plan_scenarios(fleet, seed=1, start_ts=START, end_ts=END, rate=0.3)
    # cell faults need lots of several cells; this fleet has one per lot
    offered = set(KINDS) - {"cell_fault"}
    assert len(plan) == len(offered), "at least one borrower per kind, more than the rate's 6"
    borrowers = [i.borrower_id for i in plan]
    assert len(set(borrowers)) == len(plan) and borrowers == sorted(borrowers)
    assert set(Counter(i.scenario for i in plan)) == offered
    assert plan == plan_scenarios(fleet, seed=1, start_ts=START, end_ts=END, rate=0.3)
    assert plan != plan_scenarios(fleet, seed=2, start_ts=START, end_ts=END, rate=0.3)
    counterparts = {i.counterpart_device_id.split("-")[0] for i in plan if i.counterpart_device_id}
    assert counterparts and not counterparts & set(borrowers), "a counterpart is not hit itself"


def test_rate_and_kinds(fleet: Fleet) -> None:
    basic = ["inventory_drain", "geofence_exit", "device_silent"]
    plan = plan_scenarios(fleet, seed=3, start_ts=START, end_ts=END, rate=0.5, kinds=basic)
    assert len(plan) == 10
    assert Counter(i.scenario for i in plan) == {
        "inventory_drain": 4,
        "geofence_exit": 3,
        "device_silent": 3,
    }
    for inj in plan:
        assert START + 0.1 * DAY <= inj.start_ts <= START + 0.4 * DAY
    assert plan_scenarios(fleet, seed=3, start_ts=START, end_ts=END, rate=0.0) == []
    with pytest.raises(ValueError, match="unknown scenario"):
        plan_scenarios(fleet, seed=4, start_ts=START, end_ts=END, kinds=["meteor"])
    with pytest.raises(ValueError, match="end_ts must be after start_ts"):
        plan_scenarios(fleet, seed=4, start_ts=END, end_ts=START)


def test_subjects_match_their_kind(fleet: Fleet) -> None:
    devices = {d.id: d for d in fleet.devices()}
    wanted = {
        "inventory_drain": DeviceKind.LOAD_CELL,
        "inventory_removal": DeviceKind.LOAD_CELL,
        "double_pledge": DeviceKind.LOAD_CELL,
        "unregistered_move": DeviceKind.RFID_GATE,
        "geofence_exit": DeviceKind.GPS_TRACKER,
        "parked_moving": DeviceKind.GPS_TRACKER,
        "production_slowdown": DeviceKind.OUTPUT_COUNTER,
        "machine_idle": DeviceKind.GENERIC,
        "business_decline": DeviceKind.OUTPUT_COUNTER,
        "cold_chain": DeviceKind.TEMPERATURE,
        "tamper_door": DeviceKind.DOOR,
        "gps_spoof": DeviceKind.GPS_TRACKER,
    }
    for seed in range(4):
        for inj in plan_scenarios(fleet, seed=seed, start_ts=START, end_ts=END, rate=1.0):
            if inj.scenario == "borrower_default":
                assert inj.device_id is None and inj.loan_id is not None
                assert inj.loan_id.startswith(inj.borrower_id + "-l")
                continue
            assert inj.device_id is not None
            device = devices[inj.device_id]
            assert device.site == inj.site_id
            assert inj.device_id.startswith(inj.borrower_id + "-")
            if inj.scenario in wanted:
                assert device.kind is wanted[inj.scenario]
            if inj.scenario in ("inventory_drain", "geofence_exit", "double_pledge"):
                assert inj.collateral_id is not None
                if device.collateral is not None:
                    assert inj.collateral_id == device.collateral
            if inj.scenario == "device_silent":
                assert inj.collateral_id is None
            if inj.scenario == "double_pledge":
                assert inj.counterpart_device_id is not None
                assert devices[inj.counterpart_device_id].kind is DeviceKind.LOAD_CELL
            else:
                assert inj.counterpart_device_id is None


def test_explicit_assignment(fleet: Fleet) -> None:
    plan = plan_scenarios(
        fleet, seed=4, start_ts=START, end_ts=END, assign={"b002": "geofence_exit"}
    )
    assert [(i.borrower_id, i.scenario) for i in plan] == [("b002", "geofence_exit")]
    with pytest.raises(ValueError, match="unknown borrower"):
        plan_scenarios(fleet, seed=4, start_ts=START, end_ts=END, assign={"zz": "device_silent"})
    no_plant = next(
        b.id
        for b in fleet.borrowers
        if not any(d.kind is DeviceKind.OUTPUT_COUNTER for d in b.devices)
    )
    with pytest.raises(
        ValueError, match=f"production_slowdown cannot be injected into borrower {no_plant}"
    ):
        plan_scenarios(
            fleet, seed=4, start_ts=START, end_ts=END, assign={no_plant: "production_slowdown"}
        )


def test_a_run_too_short_for_a_night_has_no_night_scenarios(fleet: Fleet) -> None:
    noon = MONDAY + 11 * 3600
    night_kinds = ["inventory_removal", "parked_moving", "tamper_door", "double_pledge"]
    assert (
        plan_scenarios(fleet, seed=1, start_ts=noon, end_ts=noon + 4 * 3600, kinds=night_kinds)
        == []
    )
    with pytest.raises(ValueError, match="no room"):
        plan_scenarios(
            fleet, seed=1, start_ts=noon, end_ts=noon + 4 * 3600, assign={"b001": "parked_moving"}
        )


def test_truth_round_trips_as_json_lines(fleet: Fleet, tmp_path: Path) -> None:
    plan = plan_scenarios(fleet, seed=6, start_ts=START, end_ts=END)
    records = truth_records(fleet.tenant.id, plan, END)
    path = tmp_path / "truth.jsonl"
    write_truth(records, path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(plan)
    assert lines[0].startswith('{"scenario":')
    assert read_truth(path) == records
    for record, inj in zip(records, plan, strict=True):
        assert isinstance(record, TruthRecord) and record.tenant == "demo-bank"
        assert record.end_ts == (END if inj.end_ts is None else min(inj.end_ts, END))
        assert record.loan_id == inj.loan_id
        assert record.counterpart_device_id == inj.counterpart_device_id
