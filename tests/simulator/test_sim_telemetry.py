"""Telemetry: ordering, sequence numbers, metric names, determinism, and ground truth."""

import datetime as dt
import itertools
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.model import METRICS, Collateral, DeviceKind, Fleet, Site
from simulator.fleetgen import generate_fleet
from simulator.geo import distance_to_polygon_km, point_in_polygon
from simulator.run import run_to_file
from simulator.scenarios import Injection, plan_scenarios
from simulator.telemetry import Message, generate

DAY = 86_400.0
MONDAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()  # a Monday, 00:00 UTC


def _by_device(messages: list[Message]) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        out[m.device_id].append(m)
    return out


def _collateral(fleet: Fleet) -> dict[str, Collateral]:
    return {c.id: c for b in fleet.borrowers for ln in b.loans for c in ln.collateral}


def _sites(fleet: Fleet) -> dict[str, Site]:
    return {s.id: s for b in fleet.borrowers for s in b.sites}


def test_messages_ordered_sequenced_and_named(small_fleet: Fleet) -> None:
    messages = list(generate(small_fleet, [], MONDAY, MONDAY + DAY / 2, seed=1))
    assert [m.ts for m in messages] == sorted(m.ts for m in messages)
    assert all(MONDAY <= m.ts < MONDAY + DAY / 2 for m in messages)
    kinds = {d.id: d for d in small_fleet.devices()}
    per_device = _by_device(messages)
    assert set(per_device) == set(kinds)
    for device_id, msgs in per_device.items():
        device = kinds[device_id]
        assert [m.seq for m in msgs] == list(range(1, len(msgs) + 1))
        for m in msgs:
            assert tuple(m.values) == METRICS[device.kind]
        gaps = [b.ts - a.ts for a, b in itertools.pairwise(msgs)]
        assert all(0.979 * device.interval_s <= g <= 1.021 * device.interval_s for g in gaps)


def test_same_seed_gives_identical_csv_bytes(small_fleet: Fleet, tmp_path: Path) -> None:
    plan = plan_scenarios(small_fleet, seed=2, start_ts=MONDAY, end_ts=MONDAY + DAY / 4)
    paths = [tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"]
    for path, seed in zip(paths, (7, 7, 8), strict=True):
        run_to_file(generate(small_fleet, plan, MONDAY, MONDAY + DAY / 4, seed), "demo-bank", path)
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c
    lines = a.decode().splitlines()
    assert lines[0] == "ts,device_id,metric,value"
    ts, device_id, metric, value = lines[1].split(",")
    assert float(ts) >= MONDAY
    assert device_id.startswith("b00")
    float(value)
    assert metric in {name for names in METRICS.values() for name in names}


def test_injections_match_ground_truth(small_fleet: Fleet) -> None:
    end = MONDAY + DAY
    assign = {"b001": "inventory_drain", "b002": "geofence_exit", "b003": "device_silent"}
    plan = plan_scenarios(small_fleet, seed=3, start_ts=MONDAY, end_ts=end, assign=assign)
    assert len(plan) == 3
    messages = list(generate(small_fleet, plan, MONDAY, end, seed=4))
    per_device = _by_device(messages)
    baseline = _by_device(list(generate(small_fleet, [], MONDAY, end, seed=4)))
    coll = _collateral(small_fleet)
    sites = _sites(small_fleet)
    hit = {i.device_id for i in plan}
    for device_id, msgs in baseline.items():
        if device_id not in hit:
            assert per_device[device_id] == msgs, "injections must not change other devices"
    for inj in plan:
        assert inj.device_id is not None
        msgs = per_device[inj.device_id]
        before = [m for m in msgs if m.ts < inj.start_ts]
        after = [m for m in msgs if m.ts >= inj.start_ts]
        assert before
        if inj.scenario == "device_silent":
            assert after == []
            assert len(baseline[inj.device_id]) > len(msgs)
        elif inj.scenario == "inventory_drain":
            assert inj.collateral_id is not None
            pledge_kg = coll[inj.collateral_id].quantity * 1000
            assert all(m.values["weight_kg"] > pledge_kg for m in before)
            below = [m.ts for m in after if m.values["weight_kg"] < pledge_kg]
            assert below
            assert inj.start_ts + 1800 <= below[0] <= inj.start_ts + 3 * 3600
            late = [m.values["weight_kg"] for m in after if m.ts >= inj.start_ts + 4 * 3600]
            assert late
            assert all(abs(w / pledge_kg - 0.55) < 0.01 for w in late)
        else:
            fence = sites[inj.site_id or ""].geofence
            assert fence is not None
            assert all(
                point_in_polygon(m.values["lat_deg"], m.values["lon_deg"], fence) for m in before
            )
            out = [m for m in after if m.ts >= inj.start_ts + 300]
            assert out
            for m in out:
                assert not point_in_polygon(m.values["lat_deg"], m.values["lon_deg"], fence)
                assert m.values["ignition"] == 1.0
                assert m.values["speed_kmh"] > 0
            far = [m for m in after if m.ts >= inj.start_ts + 3600]
            assert far
            assert all(
                distance_to_polygon_km(m.values["lat_deg"], m.values["lon_deg"], fence) >= 10.0
                for m in far
            )


def test_a_scenario_for_a_device_of_the_wrong_kind_is_refused(small_fleet: Fleet) -> None:
    door = next(d for d in small_fleet.devices() if d.kind is DeviceKind.DOOR)
    bad = Injection("inventory_drain", "b001", None, door.site, door.id, MONDAY + 100)
    with pytest.raises(ValueError, match="load cell"):
        next(generate(small_fleet, [bad], MONDAY, MONDAY + 600, seed=1))


@settings(max_examples=20, deadline=None)
@given(
    fleet_seed=st.integers(0, 10_000),
    signal_seed=st.integers(0, 10_000),
    start_day=st.integers(0, 6),
)
def test_normal_operation_keeps_stock_and_vehicles_in_bounds(
    fleet_seed: int, signal_seed: int, start_day: int
) -> None:
    fleet = generate_fleet(2, seed=fleet_seed)
    coll = _collateral(fleet)
    sites = _sites(fleet)
    devices = {d.id: d for d in fleet.devices()}
    start = MONDAY + start_day * DAY
    moved = False
    for m in generate(fleet, [], start, start + 1.5 * DAY, seed=signal_seed):
        device = devices[m.device_id]
        if device.kind is DeviceKind.LOAD_CELL:
            assert device.collateral is not None
            pledge_kg = coll[device.collateral].quantity * 1000
            assert 1.04 * pledge_kg <= m.values["weight_kg"] <= 1.46 * pledge_kg
        elif device.kind is DeviceKind.GPS_TRACKER:
            fence = sites[device.site].geofence
            assert fence is not None
            assert point_in_polygon(m.values["lat_deg"], m.values["lon_deg"], fence)
            moved = moved or m.values["speed_kmh"] > 0
    assert moved or start_day >= 4  # weekdays see driving
