"""Cold chain, vehicles moving at night and stuck sensors, on simulated fleets with truth."""

from collections.abc import Iterable

import pytest

from devices.model import Fleet
from devices.reading import Reading
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from simulator import generate, generate_fleet, plan_scenarios, truth_records
from simulator.telemetry import Message

START = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
DAYS = 3
KIND_OF = {
    "cold_chain": ("cold_chain_excursion", "collateral_id"),
    "parked_moving": ("vehicle_moving_when_parked", "device_id"),
    "stuck_values": ("values_stuck", "device_id"),
}


def readings(tenant: str, messages: Iterable[Message]) -> Iterable[Reading]:
    for m in messages:
        for metric, value in m.values.items():
            yield Reading(tenant, m.device_id, m.ts, metric, value, m.seq)


def run(
    fleet: Fleet, scenario: str, seed: int
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    end = START + DAYS * 86400
    injections = plan_scenarios(fleet, seed, START, end, rate=0.25, kinds=[scenario])
    truth = truth_records(fleet.tenant.id, injections, end)
    kind, subject_field = KIND_OF[scenario]
    expected = {(t.borrower_id, getattr(t, subject_field)) for t in truth}
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    seen: set[tuple[str, str]] = set()
    batch: list[Reading] = []
    next_tick = START + 60
    for reading in readings(fleet.tenant.id, generate(fleet, injections, START, end, seed)):
        batch.append(reading)
        if reading.ts >= next_tick:
            changed = engine.process(batch) + engine.tick(reading.ts)
            seen |= {(a.borrower_id, a.subject) for a in changed if a.kind == kind}
            batch = []
            next_tick = reading.ts + 60
    changed = engine.process(batch)
    seen |= {(a.borrower_id, a.subject) for a in changed if a.kind == kind}
    return expected, seen


@pytest.mark.parametrize("scenario", sorted(KIND_OF))
def test_scenario_detected_for_the_right_subject_and_nowhere_else(scenario: str) -> None:
    fleet = generate_fleet(8, seed=21)
    expected, seen = run(fleet, scenario, seed=5)
    assert expected, f"the simulator planned no {scenario}"
    assert seen == expected
