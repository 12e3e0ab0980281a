"""Loan outcomes, and the production slowdown over weeks that ends in a missed payment."""

import itertools
from pathlib import Path

import orjson

from devices.model import DeviceKind, Fleet
from simulator import outcomes
from simulator.fleetgen import generate_fleet
from simulator.injection import Injection
from simulator.outcomes import loan_events, write_outcomes
from simulator.scenarios import plan_scenarios
from simulator.telemetry import generate
from tests.simulator.conftest import DAY, MONDAY, by_device

WEEK = 7 * DAY


def test_outcomes_follow_the_scenarios_without_being_decided_by_them(tmp_path: Path) -> None:
    fleet = generate_fleet(400, seed=8)
    start, end = MONDAY, MONDAY + 90 * DAY
    kinds = ["inventory_drain", "production_slowdown", "double_pledge", "unregistered_move"]
    plan = plan_scenarios(fleet, seed=2, start_ts=start, end_ts=end, rate=0.25, kinds=kinds)
    events = loan_events(fleet, plan, start, end, seed=4)
    assert events == loan_events(fleet, plan, start, end, seed=4)
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert all(start <= e.ts < end for e in events)
    hit = {i.borrower_id for i in plan}
    missed = {e.borrower_id for e in events if e.event == "payment_missed"}
    untouched = {b.id for b in fleet.borrowers} - hit
    share_hit = len(missed & hit) / len(hit)
    share_untouched = len(missed & untouched) / len(untouched)
    assert share_hit > 3 * share_untouched > 0, "correlated, and untouched borrowers miss too"
    assert hit - missed, "not every hit borrower misses a payment"
    assert {e.event for e in events} == {"payment_missed", "default", "cured"}
    for loan in {e.loan_id for e in events}:
        story = [e.event for e in events if e.loan_id == loan]
        if "default" in story:
            assert story[-4:] == ["payment_missed"] * 3 + ["default"], "three misses in a row"
        assert story[0] == "payment_missed"
    write_outcomes(events, tmp_path / "outcomes.jsonl")
    lines = (tmp_path / "outcomes.jsonl").read_bytes().splitlines()
    assert len(lines) == len(events)
    first = orjson.loads(lines[0])
    assert list(first) == ["ts", "tenant", "borrower_id", "loan_id", "event"]
    assert first["tenant"] == "demo-bank" and first["ts"] == events[0].ts


def _plant_borrower(fleet: Fleet) -> Fleet:
    """The first borrower with a production line, with only its output counter."""
    b = next(b for b in fleet.borrowers if any(s.id.endswith("-p1") for s in b.sites))
    plant = [d for d in b.devices if d.kind is DeviceKind.OUTPUT_COUNTER]
    return Fleet(tenant=fleet.tenant, borrowers=[b.model_copy(update={"devices": plant})])


def test_production_slowdown_falls_over_weeks_and_ends_in_a_missed_payment() -> None:
    fleet = _plant_borrower(generate_fleet(10, seed=3))
    b = fleet.borrowers[0]
    start, end = MONDAY - 10 * WEEK, MONDAY - 10 * WEEK + 8 * WEEK
    plan = plan_scenarios(
        fleet, seed=1, start_ts=start, end_ts=end, assign={b.id: "production_slowdown"}
    )
    (inj,) = plan
    ramp = inj.param("ramp_s")
    assert 3 * WEEK < ramp <= 4 * WEEK, "over weeks"
    counter = next(d.id for d in b.devices if d.kind is DeviceKind.OUTPUT_COUNTER)
    got = by_device(generate(fleet, plan, start, end, seed=2, glitches=False))[counter]
    base = by_device(generate(fleet, [], start, end, seed=2, glitches=False))[counter]
    ratios = []
    weekly_base = []
    t = inj.start_ts
    while t + WEEK <= end:
        g = sum(m.values["output_count"] for m in got if t <= m.ts < t + WEEK)
        n = sum(m.values["output_count"] for m in base if t <= m.ts < t + WEEK)
        ratios.append(g / n)
        weekly_base.append(n)
        t += WEEK
    assert [m for m in got if m.ts < inj.start_ts] == [m for m in base if m.ts < inj.start_ts]
    assert all(a > b for a, b in itertools.pairwise(ratios[:4])), ratios
    assert abs(ratios[-1] - inj.param("floor")) < 0.03, "the own baseline, scaled to the floor"
    assert max(weekly_base) > 1.02 * min(weekly_base), "the baseline itself varies"
    events = loan_events(fleet, plan, start, end, seed=5)
    missed = [e for e in events if e.loan_id == inj.loan_id and e.event == "payment_missed"]
    due = inj.start_ts + inj.param("missed_after_s")
    assert due < end and any(abs(e.ts - due) < 0.01 for e in missed)


def test_borrower_default_outcome_is_forced_and_nothing_else_for_that_loan() -> None:
    fleet = generate_fleet(6, seed=1)
    start, end = MONDAY, MONDAY + 60 * DAY
    plan = plan_scenarios(
        fleet, seed=9, start_ts=start, end_ts=end, assign={"b003": "borrower_default"}
    )
    (inj,) = plan
    assert isinstance(inj, Injection) and inj.end_ts is not None
    events = [e for e in loan_events(fleet, plan, start, end, seed=1) if e.loan_id == inj.loan_id]
    verdict = "default" if inj.param("default") else "cured"
    assert [(e.ts, e.event) for e in events] == [
        (inj.start_ts, "payment_missed"),
        (inj.end_ts, verdict),
    ]


def test_risk_multiplies_across_families_not_within_one() -> None:
    assert outcomes._risk([]) == 1.0
    assert outcomes._risk(["inventory_drain", "double_pledge"]) == 10.0, "one family: its worst"
    assert outcomes._risk(["inventory_drain", "tamper_door"]) == 8.0 * 4.0
    assert outcomes._risk(["machine_idle", "device_silent", "salami_theft"]) == 5.0 * 2.5 * 5.0
    assert outcomes._risk(["borrower_default"]) == 1.0, "forced events, not a multiplier"
