"""Production drift: an early warning that must outlast one day's ups and downs.

The simulated plants' output varies ±8 % from day to day, and a plant has bad days: one
weak day is no change of trend. Drift opens only once its change has held for ``for``
(24 h by default), so a single weak day passes and a slowdown that lasts is still
warned of, dated from when the change began.
"""

from devices.model import DeviceKind, Fleet
from devices.reading import Reading
from riskstream.engine.alerts import Alert
from riskstream.rules.schema import parse_rules
from simulator import plan_scenarios
from tests.fleets import production_lines
from tests.riskstream.test_operations_detectors import DAY, START, engine_for, feed, readings
from tests.riskstream.test_production_decline import one_per_cohort

DIP_START = START + 15 * DAY  # a Tuesday, when the lines' baselines know two weeks
DIP_SHARE = 0.6  # what a weak day leaves of the output


def _counters(fleet: Fleet, borrowers: set[str]) -> set[str]:
    return {
        d.id
        for b in fleet.borrowers
        if b.id in borrowers
        for d in b.devices
        if d.kind is DeviceKind.OUTPUT_COUNTER
    }


def _one_weak_day(fleet: Fleet, stream: list[Reading]) -> list[Reading]:
    """``stream`` with the output counter of one line per cohort at `DIP_SHARE` of its
    output for 24 hours (their peers go on as usual)."""
    counters = _counters(fleet, one_per_cohort(fleet))
    return [
        Reading(r.tenant, r.device_id, r.ts, r.metric, r.value * DIP_SHARE, r.seq)
        if r.device_id in counters and DIP_START <= r.ts < DIP_START + DAY
        else r
        for r in stream
    ]


def _drifts(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.kind == "production_drift" and a.status == "open"]


def test_one_weak_day_is_no_drift_but_it_was_one_without_the_hold() -> None:
    fleet = production_lines(8, seed=11)
    stream = _one_weak_day(fleet, readings(fleet, [], 21, seed=11))
    without_hold = feed(
        engine_for(fleet, parse_rules('[rules.production_drift]\nfor = "0s"\n')), stream
    )
    raised = {a.subject for a in _drifts(without_hold)}
    assert raised, "the weak day must be one the test without a hold takes for a change"
    assert all(DIP_START <= a.opened_at < DIP_START + 2 * DAY for a in _drifts(without_hold))
    assert _drifts(feed(engine_for(fleet), stream)) == []


def test_a_slowdown_that_lasts_is_warned_of_after_the_hold_dated_from_its_start() -> None:
    fleet = production_lines(12, seed=5)
    days = 10
    borrower = fleet.borrowers[1].id
    plan = plan_scenarios(
        fleet, 3, START, START + days * DAY, assign={borrower: "production_slowdown"}
    )
    alerts = feed(engine_for(fleet), readings(fleet, plan, days, seed=3))
    first: dict[str, Alert] = {}
    for a in _drifts(alerts):
        first.setdefault(a.id, a)
    (drift,) = first.values()
    assert drift.borrower_id == borrower
    assert drift.opened_at == drift.evidence["since"] >= plan[0].start_ts
    # raised once the change held 24 hours (the hour that raised it ends at "ts")
    assert drift.evidence["ts"] - drift.opened_at >= DAY
    assert "trending down" in drift.reasons[0]
