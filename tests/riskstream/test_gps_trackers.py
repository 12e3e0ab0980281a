"""GPS trackers on simulated fleets: false signals, frozen trackers, and days of normal
driving and parking with jitter and reflected fixes."""

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
TRACKER_KINDS = {"position_implausible", "values_stuck", "geofence_exit"}


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


def test_false_signals_raise_position_implausible_critical_when_they_flip() -> None:
    fleet = generate_fleet(6, seed=31)
    away_on, flip_on = trackers(fleet)[0], trackers(fleet)[-1]
    assert away_on.id.split("-")[0] != flip_on.id.split("-")[0]
    plan = [
        on(d, Injection("gps_spoof", d.id.split("-")[0], None, None, None, start, start + 2 * HOUR))
        for d, start in ((away_on, START + 0.6 * DAY), (flip_on, START + 1.3 * DAY))
    ]
    plan[0] = replace(plan[0], params=(("alternate", 0.0), ("inside", 0.0)))
    plan[1] = replace(plan[1], params=(("alternate", 1.0), ("inside", 0.0)))
    found = [a for a in alerts(fleet, plan, 2.0, glitches=True) if a.kind == "position_implausible"]
    assert {(a.device_id, a.severity) for a in found} == {
        (away_on.id, "warning"),  # away and back: two jumps
        (flip_on.id, "critical"),  # flipping: a jump every fix
    }
    for alert, inj in zip(sorted(found, key=lambda a: a.opened_at), plan, strict=True):
        assert inj.end_ts is not None and inj.start_ts <= alert.opened_at <= inj.end_ts
        ev = alert.evidence
        assert ev["implied_speed_kmh"] > 250 and ev["from"]["ts"] < ev["to"]["ts"]
        assert {"ts", "lat_deg", "lon_deg"} == set(ev["from"]) == set(ev["to"])
        assert " km/h, from " in alert.reasons[0]


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
