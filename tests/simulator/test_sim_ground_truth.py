"""Every scenario's ground truth matches what its telemetry shows.

One run of 20 borrowers over two days carries every scenario kind; a second run of the
same fleet and seed without scenarios is the baseline. Because normal business does
not see scenario moves and models draw the same random numbers either way, the
difference between the two runs is exactly what a scenario did.
"""

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from devices.geo import distance_km
from devices.model import DeviceKind, Fleet
from simulator.business import STOCK_CAP
from simulator.catalog import parse_description
from simulator.effects import DRAIN_FLOOR
from simulator.fleetgen import generate_fleet
from simulator.geo import distance_to_polygon_km, point_in_polygon
from simulator.injection import Injection
from simulator.message import Message
from simulator.outcomes import loan_events
from simulator.scenarios import SCENARIOS, plan_scenarios
from simulator.telemetry import generate
from tests.simulator.conftest import DAY, MONDAY, by_device, collateral, sites

START, END = MONDAY, MONDAY + 2 * DAY
HOUR = 3600.0


@dataclass
class Run:
    fleet: Fleet
    plan: list[Injection]
    stream: list[Message]
    got: dict[str, list[Message]]
    base: dict[str, list[Message]]

    def kind(self, name: str) -> list[Injection]:
        found = [i for i in self.plan if i.scenario == name]
        assert found, name
        return found

    def series(self, device: str, metric: str, base: bool = False) -> list[tuple[float, float]]:
        source = self.base if base else self.got
        return [(m.ts, m.values[metric]) for m in source[device]]

    def timezone(self, site_id: str) -> str:
        site = sites(self.fleet)[site_id]
        borrower = next(b for b in self.fleet.borrowers if site in b.sites)
        return site.timezone if site.timezone != "UTC" else borrower.timezone

    def device_of(self, site_id: str, kind: DeviceKind) -> str:
        return next(d.id for d in self.fleet.devices() if d.site == site_id and d.kind is kind)


@pytest.fixture(scope="module")
def run() -> Run:
    fleet = generate_fleet(22, seed=2)
    plan = plan_scenarios(fleet, seed=7, start_ts=START, end_ts=END, rate=0.5)
    # a cell fault needs lots of several cells: tests/riskstream/test_load_cells.py
    every = set(SCENARIOS) - {"cell_fault"}
    assert {i.scenario for i in plan} == every, "every kind is exercised"
    stream = list(generate(fleet, plan, START, END, seed=3, glitches=False))
    base = by_device(generate(fleet, [], START, END, seed=3, glitches=False))
    return Run(fleet, plan, stream, by_device(stream), base)


def _pledge(run: Run, inj: Injection) -> tuple[float, float, float]:
    """(pledge kg, handling unit kg, pledge in units) of the injection's lot."""
    lot = collateral(run.fleet)[inj.collateral_id or ""]
    unit_kg = parse_description(lot.description)[0]
    return lot.quantity * 1000, unit_kg, lot.quantity * 1000 / unit_kg


def _gate_diff(run: Run, gate: str) -> tuple[float, float]:
    """(units in, units out) counted by ``gate`` beyond the baseline, over the run."""
    got = run.got[gate]
    base = run.base[gate]
    assert [m.ts for m in got] == [m.ts for m in base]
    pairs = list(zip(got, base, strict=True))
    units_in = sum(g.values["units_in_count"] - b.values["units_in_count"] for g, b in pairs)
    out = sum(g.values["units_out_count"] - b.values["units_out_count"] for g, b in pairs)
    return units_in, out


def _weight_diff_units(run: Run, cell: str, unit_kg: float) -> list[tuple[float, float]]:
    """(ts, weight change against the baseline in handling units) of a load cell."""
    got, base = run.got[cell], run.base[cell]
    return [
        (g.ts, (g.values["weight_kg"] - b.values["weight_kg"]) / unit_kg)
        for g, b in zip(got, base, strict=True)
    ]


def _local(ts: float, tz: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(tz))


def _night(ts: float, tz: str) -> bool:
    hour = _local(ts, tz).hour
    return hour >= 22 or hour < 4


def test_truth_windows_lie_in_the_run(run: Run) -> None:
    for inj in run.plan:
        assert START < inj.start_ts < END
        if inj.end_ts is not None:
            assert inj.start_ts < inj.end_ts


def test_inventory_drain(run: Run) -> None:
    for inj in run.kind("inventory_drain"):
        pledge_kg, _, units = _pledge(run, inj)
        weights = run.series(inj.device_id or "", "weight_kg")
        ramp_end = inj.start_ts + inj.param("ramp_s")
        assert ramp_end < END
        assert all(w >= pledge_kg for ts, w in weights if ts < inj.start_ts)
        below = [ts for ts, w in weights if w < pledge_kg]
        assert below and inj.start_ts < below[0] < ramp_end
        late = [w for ts, w in weights if ts >= ramp_end]
        assert late and max(late) <= (DRAIN_FLOOR + 0.01) * pledge_kg
        gate = run.device_of(inj.site_id or "", DeviceKind.RFID_GATE)
        units_in, out = _gate_diff(run, gate)
        assert units_in == 0
        assert out == math.floor(STOCK_CAP * units) - math.floor(DRAIN_FLOOR * units)


def test_inventory_removal_out_of_hours_with_the_door_open(run: Run) -> None:
    for inj in run.kind("inventory_removal"):
        pledge_kg, unit_kg, _ = _pledge(run, inj)
        tz = run.timezone(inj.site_id or "")
        assert _night(inj.start_ts, tz)
        door = run.device_of(inj.site_id or "", DeviceKind.DOOR)
        opened = [ts for ts, v in run.series(door, "door_open") if v == 1.0]
        assert any(inj.start_ts <= ts < inj.start_ts + 2 * HOUR for ts in opened)
        weights = run.series(inj.device_id or "", "weight_kg")
        assert all(w >= pledge_kg for ts, w in weights if ts < inj.start_ts)
        after = [w for ts, w in weights if ts >= inj.start_ts + 3 * HOUR]
        assert after and max(after) < 0.71 * pledge_kg
        units_in, out = _gate_diff(run, run.device_of(inj.site_id or "", DeviceKind.RFID_GATE))
        assert units_in == 0 and out > 0
        diff = [d for ts, d in _weight_diff_units(run, inj.device_id or "", unit_kg)]
        assert abs(diff[-1] + out) < 0.01 * out + 0.5, "the weight fell by the units counted out"


def test_double_pledge_shows_matching_goods_at_both_sites(run: Run) -> None:
    for inj in run.kind("double_pledge"):
        _, unit_kg, _ = _pledge(run, inj)
        other = inj.counterpart_device_id or ""
        devices = {d.id: d for d in run.fleet.devices()}
        assert devices[other].kind is DeviceKind.LOAD_CELL
        assert not other.startswith(inj.borrower_id + "-"), "another borrower's loan"
        other_lot = collateral(run.fleet)[devices[other].collateral or ""]
        assert parse_description(other_lot.description)[0] == unit_kg
        home_gate = run.device_of(inj.site_id or "", DeviceKind.RFID_GATE)
        away_gate = run.device_of(devices[other].site, DeviceKind.RFID_GATE)
        home_in, home_out = _gate_diff(run, home_gate)
        away_in, away_out = _gate_diff(run, away_gate)
        assert home_out == away_in == away_out == home_in > 0, "the same units, both ways"
        moved = home_out
        assert inj.end_ts is not None and inj.end_ts < END
        transit, stay = inj.param("transit_s"), inj.param("stay_s")
        arrive = inj.start_ts + 1800 + transit
        home = _weight_diff_units(run, inj.device_id or "", unit_kg)
        away = _weight_diff_units(run, other, unit_kg)
        for ts, d in home:
            if ts < inj.start_ts or ts >= inj.end_ts:
                assert abs(d) < 0.01 * moved + 0.5
            elif inj.start_ts + 1800 <= ts < inj.end_ts - 1800 - transit:
                assert abs(d + moved) < 0.01 * moved + 0.5
        for ts, d in away:
            if ts < arrive or ts >= inj.end_ts:
                assert abs(d) < 0.01 * moved + 0.5
            elif arrive + 1800 <= ts < arrive + 1800 + stay:
                assert abs(d - moved) < 0.01 * moved + 0.5, "the away lot jumps by the same goods"
        assert _night(inj.start_ts, run.timezone(inj.site_id or ""))


def test_unregistered_move_leaves_through_the_gate_and_arrives_nowhere(run: Run) -> None:
    pledged_twice = {
        d
        for i in run.plan
        if i.scenario == "double_pledge"
        for d in (
            i.site_id,
            next(x.site for x in run.fleet.devices() if x.id == i.counterpart_device_id),
        )
    }
    for inj in run.kind("unregistered_move"):
        pledge_kg, _, _ = _pledge(run, inj)
        local = _local(inj.start_ts, run.timezone(inj.site_id or ""))
        assert local.weekday() < 5 and 10 <= local.hour < 15
        units_in, out = _gate_diff(run, inj.device_id or "")
        assert units_in == 0 and out > 0
        # a gate another scenario silenced, froze or replays sends other messages
        other = {i.device_id for i in run.plan if i.scenario != "unregistered_move"}
        for gate in (d for d in run.fleet.devices() if d.kind is DeviceKind.RFID_GATE):
            if gate.site not in pledged_twice and gate.id not in other:
                assert _gate_diff(run, gate.id)[0] == 0, f"{gate.id} counted goods coming in"
        cell = run.device_of(inj.site_id or "", DeviceKind.LOAD_CELL)
        weights = run.series(cell, "weight_kg")
        assert all(w >= pledge_kg for ts, w in weights if ts < inj.start_ts)
        after = [w for ts, w in weights if ts >= inj.start_ts + 3 * HOUR]
        assert after and max(after) < 0.86 * pledge_kg


def test_geofence_exit(run: Run) -> None:
    for inj in run.kind("geofence_exit"):
        fence = sites(run.fleet)[inj.site_id or ""].geofence
        assert fence is not None
        points = [(m.ts, m.values) for m in run.got[inj.device_id or ""]]
        assert all(
            point_in_polygon(v["lat_deg"], v["lon_deg"], fence)
            for ts, v in points
            if ts < inj.start_ts
        )
        out = [v for ts, v in points if ts >= inj.start_ts + 300]
        assert out
        for v in out:
            assert not point_in_polygon(v["lat_deg"], v["lon_deg"], fence)
            assert v["ignition"] == 1.0 and v["speed_kmh"] > 0
        far = [v for ts, v in points if ts >= inj.start_ts + HOUR]
        assert far and all(
            distance_to_polygon_km(v["lat_deg"], v["lon_deg"], fence) >= 10 for v in far
        )


def test_parked_moving_drives_at_night_inside_the_fence(run: Run) -> None:
    for inj in run.kind("parked_moving"):
        assert inj.end_ts is not None
        hour = _local(inj.start_ts, run.timezone(inj.site_id or "")).hour
        assert hour >= 23 or hour < 2
        fence = sites(run.fleet)[inj.site_id or ""].geofence
        assert fence is not None
        inside = [
            (g, b)
            for g, b in zip(
                run.got[inj.device_id or ""], run.base[inj.device_id or ""], strict=True
            )
            if inj.start_ts + 120 <= g.ts < inj.end_ts - 120
        ]
        assert inside
        for g, b in inside:
            assert g.values["ignition"] == 1.0 and g.values["speed_kmh"] > 0
            assert point_in_polygon(g.values["lat_deg"], g.values["lon_deg"], fence)
            assert b.values["ignition"] == 0.0, "normally parked at that hour"
        odometer = [m.values["odometer_km"] for m in run.got[inj.device_id or ""]]
        assert odometer == sorted(odometer)


def test_production_slowdown_falls_against_the_baseline(run: Run) -> None:
    for inj in run.kind("production_slowdown"):
        plant = [d.id for d in run.fleet.devices() if d.site == inj.site_id]
        for device in plant:
            before = [m for m in run.got[device] if m.ts < inj.start_ts]
            assert before == [m for m in run.base[device] if m.ts < inj.start_ts]
        floor = inj.param("floor")
        half = inj.start_ts + inj.param("ramp_s") / 2
        got = sum(m.values["output_count"] for m in run.got[inj.device_id or ""] if m.ts >= half)
        base = sum(m.values["output_count"] for m in run.base[inj.device_id or ""] if m.ts >= half)
        assert base > 0
        assert got / base < 1 - (1 - floor) * 0.5 + 0.05
        power = run.device_of(inj.site_id or "", DeviceKind.POWER_METER)
        assert sum(v for ts, v in run.series(power, "power_kw") if ts >= half) < sum(
            v for ts, v in run.series(power, "power_kw", base=True) if ts >= half
        )


def test_business_decline_falls_slowly_against_the_baseline(run: Run) -> None:
    for inj in run.kind("business_decline"):
        assert 14 * DAY <= inj.param("ramp_s") <= 21 * DAY
        assert 0.75 <= inj.param("floor") <= 0.85
        plant = [d.id for d in run.fleet.devices() if d.site == inj.site_id]
        for device in plant:
            before = [m for m in run.got[device] if m.ts < inj.start_ts]
            assert before == [m for m in run.base[device] if m.ts < inj.start_ts]
        # the same random draws either way: never more than the baseline, less in all
        got, base = run.got[inj.device_id or ""], run.base[inj.device_id or ""]
        after = [
            (g.values["output_count"], b.values["output_count"])
            for g, b in zip(got, base, strict=True)
            if g.ts >= inj.start_ts
        ]
        assert after and all(g <= b for g, b in after)
        assert sum(g for g, _ in after) < sum(b for _, b in after)


def test_machine_idle_stands_still_for_its_window(run: Run) -> None:
    for inj in run.kind("machine_idle"):
        assert inj.end_ts is not None
        output = run.device_of(inj.site_id or "", DeviceKind.OUTPUT_COUNTER)
        pairs = list(zip(run.got[inj.device_id or ""], run.base[inj.device_id or ""], strict=True))
        idle = [(g, b) for g, b in pairs if inj.start_ts <= g.ts < inj.end_ts]
        assert idle
        assert all(g.values["current_a"] < 1.7 and g.values["vibration_mms"] < 0.4 for g, _ in idle)
        assert max(b.values["current_a"] for _, b in idle) > 10, "the line normally runs then"
        assert all(
            m.values["output_count"] == 0
            for m in run.got[output]
            if inj.start_ts + 300 <= m.ts < inj.end_ts
        )
        assert [g for g, _ in pairs if g.ts >= inj.end_ts] == [
            b for _, b in pairs if b.ts >= inj.end_ts
        ]


def test_cold_chain_is_out_of_band_in_its_window(run: Run) -> None:
    for inj in run.kind("cold_chain"):
        band = parse_description(collateral(run.fleet)[inj.collateral_id or ""].description)[1]
        assert band is not None and inj.end_ts is not None
        high = band[1]
        temps = run.series(inj.device_id or "", "temperature_c")
        assert all(band[0] <= t <= high for ts, t in temps if ts < inj.start_ts - 1200)
        inside = [t for ts, t in temps if inj.start_ts + 1200 <= ts < inj.end_ts - 1200]
        assert inside and min(inside) > high
        assert all(t <= high for ts, t in temps if ts >= inj.end_ts + 1800)


def test_device_silent_stops_and_leaves_a_last_will(run: Run) -> None:
    for inj in run.kind("device_silent"):
        messages = run.got[inj.device_id or ""]
        assert messages and messages[-1].ts < inj.start_ts
        assert len(run.base[inj.device_id or ""]) > len(messages)
        wills = [m for m in run.stream if m.device_id == inj.device_id and m.kind == "offline"]
        assert len(wills) == 1 and inj.start_ts <= wills[0].ts < inj.start_ts + 400


def test_tamper_door_weight_falls_with_the_door_open_and_the_gate_blind(run: Run) -> None:
    for inj in run.kind("tamper_door"):
        assert inj.end_ts is not None
        _, unit_kg, _ = _pledge(run, inj)
        doors = [(ts, v) for ts, v in run.series(inj.device_id or "", "door_open")]
        assert all(v == 1.0 for ts, v in doors if inj.start_ts <= ts < inj.end_ts)
        assert any(inj.start_ts <= ts < inj.end_ts for ts, _ in doors)
        gate = run.device_of(inj.site_id or "", DeviceKind.RFID_GATE)
        assert _gate_diff(run, gate) == (0, 0), "the gate saw nothing"
        cell = run.device_of(inj.site_id or "", DeviceKind.LOAD_CELL)
        diff = _weight_diff_units(run, cell, unit_kg)
        assert all(abs(d) < 0.5 for ts, d in diff if ts < inj.start_ts)
        assert min(d for ts, d in diff if ts >= inj.end_ts) < -1
        assert _night(inj.start_ts, run.timezone(inj.site_id or ""))


def test_stuck_values_repeat_exactly(run: Run) -> None:
    for inj in run.kind("stuck_values"):
        assert inj.end_ts is not None
        got = [m.values for m in run.got[inj.device_id or ""] if inj.start_ts <= m.ts < inj.end_ts]
        base = [
            m.values for m in run.base[inj.device_id or ""] if inj.start_ts <= m.ts < inj.end_ts
        ]
        assert len(got) >= 3 and all(v == got[0] for v in got)
        assert any(v != base[0] for v in base), "the real values moved meanwhile"
        after = [m for m in run.got[inj.device_id or ""] if m.ts >= inj.end_ts]
        assert after == [m for m in run.base[inj.device_id or ""] if m.ts >= inj.end_ts]


def test_replay_sends_old_messages_again_byte_for_byte(run: Run) -> None:
    for inj in run.kind("replay"):
        assert inj.end_ts is not None
        lag = inj.param("lag_s")
        sent: dict[tuple[float, int], Message] = {}
        replayed: list[Message] = []
        newest = -math.inf
        for m in run.got[inj.device_id or ""]:
            if m.ts < newest:
                replayed.append(m)
            else:
                sent[(m.ts, m.seq)] = m
                newest = m.ts
        assert len(replayed) >= 3
        for m in replayed:
            assert sent[(m.ts, m.seq)] == m
            assert inj.start_ts - lag <= m.ts < inj.end_ts - lag


def test_spoof_sends_forged_messages_with_the_next_seq(run: Run) -> None:
    for inj in run.kind("spoof"):
        assert inj.end_ts is not None
        forged = [m for m in run.stream if m.device_id == inj.device_id and m.kind == "forged"]
        assert forged and all(inj.start_ts <= m.ts < inj.end_ts + 3600 for m in forged)
        genuine = {m.seq: m for m in run.got[inj.device_id or ""]}
        first = next(m for m in run.got[inj.device_id or ""] if m.ts >= inj.start_ts)
        for m in forged:
            assert m.values == first.values
            if m.seq in genuine:
                assert genuine[m.seq].ts > m.ts, "the forgery comes before the real message"


def test_gps_spoof_shows_places_no_vehicle_reaches_in_its_window_only(run: Run) -> None:
    for inj in run.kind("gps_spoof"):
        assert inj.end_ts is not None and HOUR / 2 <= inj.end_ts - inj.start_ts <= 6 * HOUR
        got, base = run.got[inj.device_id or ""], run.base[inj.device_id or ""]
        false = []
        for k, (g, b) in enumerate(zip(got, base, strict=True)):
            assert (g.ts, g.seq) == (b.ts, b.seq)
            for metric in ("speed_kmh", "ignition", "odometer_km"):
                assert g.values[metric] == b.values[metric], "genuine messages"
            if not inj.start_ts <= g.ts < inj.end_ts:
                assert g == b
            elif g != b:
                false.append(k)
        assert false
        first = false[0]
        jump = got[first - 1], got[first]
        km = distance_km(*((m.values["lat_deg"], m.values["lon_deg"]) for m in jump))
        assert km / ((jump[1].ts - jump[0].ts) / HOUR) > 250.0, "faster than any vehicle"


def test_borrower_default_changes_no_telemetry_and_writes_outcomes(run: Run) -> None:
    events = loan_events(run.fleet, run.plan, START, END, seed=3)
    for inj in run.kind("borrower_default"):
        devices = [d.id for d in run.fleet.devices() if d.id.startswith(inj.borrower_id + "-")]
        assert all(run.got[d] == run.base[d] for d in devices)
        mine = [(e.ts, e.event) for e in events if e.loan_id == inj.loan_id]
        assert mine[0] == (inj.start_ts, "payment_missed")
        assert inj.end_ts is not None and mine[1][0] == pytest.approx(inj.end_ts, abs=0.01)
        assert mine[1][1] == ("default" if inj.param("default") else "cured")


def test_untouched_borrowers_send_exactly_their_normal_telemetry(run: Run) -> None:
    devices = {d.id: d for d in run.fleet.devices()}
    touched = {i.borrower_id for i in run.plan} | {
        devices[i.counterpart_device_id].id.split("-")[0]
        for i in run.plan
        if i.counterpart_device_id
    }
    untouched = [b for b in run.fleet.borrowers if b.id not in touched]
    assert len(untouched) >= 2
    lots = collateral(run.fleet)
    checked: dict[str, int] = defaultdict(int)
    for b in untouched:
        for d in b.devices:
            assert run.got[d.id] == run.base[d.id]
            if d.kind is DeviceKind.LOAD_CELL and d.collateral:
                pledge = lots[d.collateral].quantity * 1000
                assert min(v for _, v in run.series(d.id, "weight_kg")) > pledge
                checked["load cell"] += 1
            if d.kind is DeviceKind.GPS_TRACKER:
                fence = sites(run.fleet)[d.site].geofence
                assert fence is not None
                assert all(
                    point_in_polygon(m.values["lat_deg"], m.values["lon_deg"], fence)
                    for m in run.got[d.id]
                )
                checked["gps"] += 1
    assert checked["load cell"] >= 2 and checked["gps"] >= 2
