"""Telemetry: order, sequence numbers, metric names, determinism, glitches, and normal bounds."""

import itertools
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.model import METRICS, DeviceKind, Fleet
from simulator.business import business_profile
from simulator.catalog import parse_description
from simulator.clock import LocalDay
from simulator.fleetgen import generate_fleet
from simulator.geo import point_in_polygon
from simulator.injection import Injection
from simulator.run import run_to_file
from simulator.scenarios import plan_scenarios
from simulator.telemetry import generate
from tests.simulator.conftest import DAY, MONDAY, by_device, collateral, sites

EXTRA_METRICS = {
    DeviceKind.GPS_TRACKER: ("odometer_km",),
    DeviceKind.GENERIC: ("current_a", "vibration_mms"),
}


def test_messages_ordered_sequenced_and_named(small_fleet: Fleet) -> None:
    messages = list(generate(small_fleet, [], MONDAY, MONDAY + DAY / 2, seed=1, glitches=False))
    assert [m.ts for m in messages] == sorted(m.ts for m in messages)
    assert all(MONDAY <= m.ts < MONDAY + DAY / 2 for m in messages)
    assert {m.kind for m in messages} == {"telemetry"}
    kinds = {d.id: d for d in small_fleet.devices()}
    per_device = by_device(messages)
    assert set(per_device) == set(kinds)
    for device_id, msgs in per_device.items():
        device = kinds[device_id]
        assert [m.seq for m in msgs] == list(range(1, len(msgs) + 1))
        names = METRICS[device.kind] + EXTRA_METRICS.get(device.kind, ())
        for m in msgs:
            assert tuple(m.values) == names
            assert all(isinstance(v, float) for v in m.values.values())
        gaps = [b.ts - a.ts for a, b in itertools.pairwise(msgs)]
        assert all(0.979 * device.interval_s <= g <= 1.021 * device.interval_s for g in gaps)
        assert all(len(repr(m.ts).split(".")[1]) <= 3 for m in msgs), "millisecond timestamps"


def _write(fleet: Fleet, plan: list[Injection], seed: int, path: Path) -> int:
    return run_to_file(generate(fleet, plan, MONDAY, MONDAY + DAY / 4, seed), "demo-bank", path)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_same_seed_gives_identical_bytes(small_fleet: Fleet, tmp_path: Path, suffix: str) -> None:
    plan = plan_scenarios(small_fleet, seed=2, start_ts=MONDAY, end_ts=MONDAY + DAY / 4, rate=1.0)
    a, b, c = (tmp_path / f"{name}.{suffix}" for name in "abc")
    rows = [_write(small_fleet, plan, seed, path) for path, seed in ((a, 7), (b, 7), (c, 8))]
    assert rows[0] == rows[1] > 10_000
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    if suffix == "csv":
        lines = a.read_text().splitlines()
        assert lines[0] == "ts,device_id,metric,value,seq"
        assert len(lines) == rows[0] + 1
        ts, device_id, _, value, seq = lines[1].split(",")
        assert float(ts) >= MONDAY and device_id.startswith("b00") and float(value) == float(value)
        assert int(seq) >= 1
    else:
        table = pq.read_table(a)
        assert table.column_names == ["ts", "device_id", "metric", "value", "seq"]
        assert table.num_rows == rows[0]
        assert str(table.schema.field("value").type) == "double"


def test_csv_and_parquet_hold_the_same_rows(small_fleet: Fleet, tmp_path: Path) -> None:
    _write(small_fleet, [], 3, tmp_path / "t.csv")
    _write(small_fleet, [], 3, tmp_path / "t.parquet")
    lines = (tmp_path / "t.csv").read_text().splitlines()[1:]
    from_csv = [
        (float(t), d, k, float(v), int(s)) for t, d, k, v, s in (ln.split(",") for ln in lines)
    ]
    table = pq.read_table(tmp_path / "t.parquet").to_pydict()
    columns = ("ts", "device_id", "metric", "value", "seq")
    assert from_csv == list(zip(*(table[c] for c in columns), strict=True))


def test_unknown_file_type_is_refused(small_fleet: Fleet, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown telemetry file type '\.json'"):
        _write(small_fleet, [], 1, tmp_path / "t.json")


def test_a_scenario_for_a_device_of_the_wrong_kind_is_refused(small_fleet: Fleet) -> None:
    door = next(d for d in small_fleet.devices() if d.kind is DeviceKind.DOOR)
    bad = Injection("inventory_drain", "b001", None, door.site, door.id, MONDAY + 100)
    with pytest.raises(ValueError, match="load cell"):
        next(generate(small_fleet, [bad], MONDAY, MONDAY + 600, seed=1))


def test_harmless_glitches_happen_and_stay_harmless() -> None:
    fleet = generate_fleet(8, seed=4)
    devices = {d.id: d for d in fleet.devices()}
    stream = list(generate(fleet, [], MONDAY, MONDAY + 3 * DAY, seed=5))
    births = [(m.device_id, m.ts) for m in stream if m.kind == "online"]
    assert {m.kind for m in stream} == {"telemetry", "online"}
    drops = reboots = spikes = 0
    for device_id, msgs in by_device(stream).items():
        interval = devices[device_id].interval_s
        for a, b in itertools.pairwise(msgs):
            gap = b.ts - a.ts
            assert gap < max(5 * interval, 600.0), "no glitch looks like a silent device"
            if b.seq <= a.seq:
                assert any(d == device_id and a.ts < ts <= b.ts for d, ts in births), (
                    "a device that restarts its seq sends a birth message first"
                )
                assert gap > 60.0
                reboots += 1
            else:
                assert b.seq == a.seq + 1 + round(gap / interval - 1)
                drops += b.seq - a.seq - 1
        if devices[device_id].kind is DeviceKind.LOAD_CELL:
            for a, b, c in zip(msgs, msgs[1:], msgs[2:], strict=False):
                w = b.values["weight_kg"]
                if w > 1.019 * max(a.values["weight_kg"], c.values["weight_kg"]):
                    spikes += 1
    assert drops >= 10 and reboots >= 2 and spikes >= 2
    assert reboots == len(births)


def _pledges(fleet: Fleet) -> dict[str, float]:
    lots = collateral(fleet)
    return {
        d.id: lots[d.collateral].quantity * 1000
        for d in fleet.devices()
        if d.kind is DeviceKind.LOAD_CELL and d.collateral
    }


@settings(max_examples=12, deadline=None)
@given(
    fleet_seed=st.integers(0, 10_000),
    signal_seed=st.integers(0, 10_000),
    start_day=st.integers(0, 370),
)
def test_normal_operation_never_breaches_a_pledge(
    fleet_seed: int, signal_seed: int, start_day: int
) -> None:
    fleet = generate_fleet(3, seed=fleet_seed)
    pledges = _pledges(fleet)
    where = sites(fleet)
    devices = {d.id: d for d in fleet.devices()}
    lots = collateral(fleet)
    start = MONDAY + start_day * DAY
    for m in generate(fleet, [], start, start + 1.25 * DAY, seed=signal_seed):
        device = devices[m.device_id]
        if not m.values:
            continue
        if m.device_id in pledges:
            assert m.values["weight_kg"] > 1.05 * pledges[m.device_id]
        elif device.kind is DeviceKind.GPS_TRACKER:
            fence = where[device.site].geofence
            assert fence is not None
            assert point_in_polygon(m.values["lat_deg"], m.values["lon_deg"], fence)
        elif device.kind is DeviceKind.TEMPERATURE and device.collateral:
            band = parse_description(lots[device.collateral].description)[1]
            assert band is not None
            assert band[0] <= m.values["temperature_c"] <= band[1]


def test_goods_move_in_business_hours_and_weight_agrees_with_the_gate() -> None:
    fleet = generate_fleet(6, seed=9)
    stream = list(generate(fleet, [], MONDAY, MONDAY + 2 * DAY, seed=2, glitches=False))
    per_device = by_device(stream)
    lots = collateral(fleet)
    moved = 0
    for b in fleet.borrowers:
        profile = business_profile(b, 2)
        for gate in (d for d in b.devices if d.kind is DeviceKind.RFID_GATE):
            cell = next(
                d for d in b.devices if d.kind is DeviceKind.LOAD_CELL and d.site == gate.site
            )
            day = LocalDay(b.timezone)
            for m in per_device[gate.id]:
                if m.values["units_in_count"] or m.values["units_out_count"]:
                    day.roll(m.ts - 1)
                    hour = day.hour(m.ts - 1)
                    assert profile.is_workday(day)
                    assert profile.open_h <= hour <= profile.close_h + gate.interval_s / 3600
            unit_kg = parse_description(lots[gate.collateral or ""].description)[0]
            weights = per_device[cell.id]
            first, last = weights[0], weights[-1]
            net = sum(
                m.values["units_in_count"] - m.values["units_out_count"]
                for m in per_device[gate.id]
                if first.ts < m.ts <= last.ts
            )
            change = (last.values["weight_kg"] - first.values["weight_kg"]) / unit_kg
            stock = first.values["weight_kg"] / unit_kg
            assert abs(change - net) <= 0.006 * stock + 1
            moved += sum(m.values["units_out_count"] for m in per_device[gate.id])
    assert moved > 0


def test_plants_follow_shifts_and_stop_on_public_holidays() -> None:
    fleet = generate_fleet(30, seed=12)
    christmas_eve = MONDAY - 12 * DAY  # Wednesday 2025-12-24 00:00 UTC
    european = [
        b
        for b in fleet.borrowers
        if b.timezone.startswith("Europe/")
        and any(d.kind is DeviceKind.OUTPUT_COUNTER for d in b.devices)
    ]
    assert european
    plants = [
        b.model_copy(update={"devices": [d for d in b.devices if d.site.endswith("-p1")]})
        for b in european
    ]
    small = Fleet(tenant=fleet.tenant, borrowers=plants)
    stream = list(
        generate(small, [], christmas_eve, christmas_eve + 2 * DAY, seed=1, glitches=False)
    )
    for b in european:
        counter = next(d.id for d in b.devices if d.kind is DeviceKind.OUTPUT_COUNTER)
        day = LocalDay(b.timezone)
        produced = {24: 0.0, 25: 0.0}
        for m in stream:
            if m.device_id == counter:
                day.roll(m.ts)
                if day.mday in produced:
                    produced[day.mday] += m.values["output_count"]
        assert produced[24] > 0, "a working Wednesday"
        assert produced[25] == 0, "Christmas is a public holiday"
