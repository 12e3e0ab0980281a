"""A business winding down: output falling 15–25 % over two to three weeks, then staying."""

from pathlib import Path

from devices.model import DeviceKind, Fleet
from simulator.fleetgen import generate_fleet
from simulator.run import run_to_file
from simulator.scenarios import plan_scenarios, truth_records
from simulator.telemetry import generate
from tests.simulator.conftest import DAY, MONDAY, by_device


def _one_plant(fleet: Fleet) -> Fleet:
    """The first borrower with a production line, with only that line's devices."""
    b = next(b for b in fleet.borrowers if any(s.id.endswith("-p1") for s in b.sites))
    line = [d for d in b.devices if d.site.endswith("-p1")]
    return Fleet(tenant=fleet.tenant, borrowers=[b.model_copy(update={"devices": line})])


def test_in_a_30_day_run_the_fall_is_over_by_its_end_and_lasts_to_it() -> None:
    fleet = generate_fleet(20, seed=5)
    plants = [b.id for b in fleet.borrowers if any(s.id.endswith("-p1") for s in b.sites)]
    counters = {d.id for d in fleet.devices() if d.kind is DeviceKind.OUTPUT_COUNTER}
    end = MONDAY + 30 * DAY
    for seed in range(4):
        plan = plan_scenarios(
            fleet, seed, MONDAY, end, assign=dict.fromkeys(plants, "business_decline")
        )
        assert len(plan) == len(plants) >= 3
        for inj, record in zip(plan, truth_records(fleet.tenant.id, plan, end), strict=True):
            ramp = inj.param("ramp_s")
            assert 14 * DAY <= ramp <= 21 * DAY
            assert 0.75 <= inj.param("floor") <= 0.85
            assert MONDAY + 3 * DAY <= inj.start_ts <= end - ramp
            assert inj.device_id in counters and inj.end_ts is None
            assert (record.start_ts, record.end_ts) == (inj.start_ts, end)
    # a run too short for the whole fall starts it 10-40 % in and cuts it at the end
    week = plan_scenarios(
        fleet, 1, MONDAY, MONDAY + 7 * DAY, assign={plants[0]: "business_decline"}
    )
    assert MONDAY + 0.7 * DAY <= week[0].start_ts <= MONDAY + 2.8 * DAY


def test_output_falls_linearly_by_the_planned_share_and_stays_there() -> None:
    fleet = _one_plant(generate_fleet(10, seed=3))
    b = fleet.borrowers[0]
    start, end = MONDAY, MONDAY + 35 * DAY
    (inj,) = plan_scenarios(fleet, 2, start, end, assign={b.id: "business_decline"})
    ramp, floor = inj.param("ramp_s"), inj.param("floor")
    counter = next(d.id for d in b.devices if d.kind is DeviceKind.OUTPUT_COUNTER)
    got = by_device(generate(fleet, [inj], start, end, seed=2, glitches=False))[counter]
    base = by_device(generate(fleet, [], start, end, seed=2, glitches=False))[counter]
    assert [m for m in got if m.ts < inj.start_ts] == [m for m in base if m.ts < inj.start_ts]
    day = inj.start_ts
    while day + DAY <= end:  # each day's output against the baseline's: the planned ramp
        g = sum(m.values["output_count"] for m in got if day <= m.ts < day + DAY)
        n = sum(m.values["output_count"] for m in base if day <= m.ts < day + DAY)
        if n:
            done = min(1.0, (day + 0.5 * DAY - inj.start_ts) / ramp)
            assert abs(g / n - (1.0 - (1.0 - floor) * done)) < 0.02, (day - start) / DAY
        day += DAY


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    fleet = _one_plant(generate_fleet(10, seed=3))
    start, end = MONDAY, MONDAY + 30 * DAY
    plan = plan_scenarios(fleet, 4, start, end, assign={fleet.borrowers[0].id: "business_decline"})
    assert plan == plan_scenarios(
        fleet, 4, start, end, assign={fleet.borrowers[0].id: "business_decline"}
    )
    files = []
    for name, seed, injections in (("a", 6, plan), ("b", 6, plan), ("c", 7, plan), ("d", 6, [])):
        path = tmp_path / f"{name}.csv"
        run_to_file(generate(fleet, injections, start, end, seed), fleet.tenant.id, path)
        files.append(path.read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2] and files[0] != files[3]
