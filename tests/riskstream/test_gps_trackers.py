"""GPS trackers on simulated fleets: frozen trackers, and days of normal driving and
parking with jitter and reflected fixes."""

from collections.abc import Sequence
from dataclasses import replace

from devices.model import Device, DeviceKind, Fleet
from devices.reading import Reading
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from simulator import Injection, generate, generate_fleet, plan_scenarios

START = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
DAY = 86_400.0
HOUR = 3600.0
TRACKER_KINDS = {"values_stuck", "geofence_exit"}


def alerts(fleet: Fleet, plan: Sequence[Injection], days: float, glitches: bool) -> list[Alert]:
    """Every alert of the run in its final state, readings fed a minute at a time."""
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    final: dict[str, Alert] = {}
    batch: list[Reading] = []
    next_tick = START + 60
    tenant = fleet.tenant.id
    for m in generate(fleet, plan, START, START + days * DAY, seed=5, glitches=glitches):
        batch += [Reading(tenant, m.device_id, m.ts, k, v, m.seq) for k, v in m.values.items()]
        if m.ts >= next_tick:
            final.update((a.id, a) for a in engine.process(batch) + engine.tick(m.ts))
            batch, next_tick = [], m.ts + 60
    final.update((a.id, a) for a in engine.process(batch))
    return list(final.values())


def trackers(fleet: Fleet) -> list[Device]:
    return [d for d in fleet.devices() if d.kind is DeviceKind.GPS_TRACKER]


def on(d: Device, inj: Injection) -> Injection:
    """``inj`` moved onto device ``d`` (and its site and collateral)."""
    return replace(inj, device_id=d.id, site_id=d.site, collateral_id=d.collateral)


def test_days_of_jitter_and_reflected_fixes_raise_nothing_on_trackers() -> None:
    fleet = generate_fleet(12, seed=17)
    found = [
        (a.kind, a.device_id)
        for a in alerts(fleet, [], 6.0, glitches=True)
        if a.kind in TRACKER_KINDS | {"vehicle_moving_when_parked"}
    ]
    assert found == []
    assert len(trackers(fleet)) >= 20


def test_a_frozen_tracker_raises_values_stuck() -> None:
    fleet = generate_fleet(6, seed=31)
    tracker = trackers(fleet)[1]
    [inj] = plan_scenarios(
        fleet, 5, START, START + 2 * DAY, assign={tracker.id.split("-")[0]: "stuck_values"}
    )
    inj = on(tracker, inj)
    found = [a for a in alerts(fleet, [inj], 2.0, glitches=False) if a.kind in TRACKER_KINDS]
    assert found and {a.kind for a in found} == {"values_stuck"}
    assert {a.device_id for a in found} == {tracker.id}
    for alert in found:
        assert alert.evidence["metric"] in ("lat_deg", "lon_deg")
        assert inj.start_ts <= alert.opened_at
