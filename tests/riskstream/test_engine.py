from devices.reading import Reading
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from tests.fleets import small_fleet

T0 = 1_795_000_000.0
INSIDE = (50.1, 8.2)
OUTSIDE = (50.6, 8.2)


def engine() -> Engine:
    return Engine([small_fleet()], RuleSet(), wall_clock=lambda: 42.0)


def minute_readings(minute: int, weight_b1_t: float, pos: tuple[float, float]) -> list[Reading]:
    ts = T0 + minute * 60
    # live load cells and GPS fixes always jitter; a constant is a stuck sensor
    noise = (minute % 3) * 0.1
    fix = (minute % 3) * 1e-5  # about a metre
    return [
        Reading("bank-a", "b1-d1", ts, "weight_kg", weight_b1_t * 1000 + noise, minute),
        Reading("bank-a", "b1-d2", ts, "lat_deg", pos[0] + fix, minute),
        Reading("bank-a", "b1-d2", ts, "lon_deg", pos[1] + fix, minute),
        Reading("bank-a", "b2-d1", ts, "weight_kg", 500_000.0 + noise, minute),
    ]


def run(
    e: Engine, minutes: range, weight: float, pos: tuple[float, float]
) -> list[dict[str, object]]:
    out = []
    for m in minutes:
        changed = e.process(minute_readings(m, weight, pos))
        changed += e.tick(T0 + m * 60)
        out += [a.to_dict() for a in changed]
    return out


def test_healthy_fleet_raises_nothing() -> None:
    assert run(engine(), range(0, 240), 1200.0, INSIDE) == []


def test_inventory_below_pledge_opens_after_duration_then_clears() -> None:
    e = engine()
    run(e, range(0, 10), 1200.0, INSIDE)
    changes = run(e, range(10, 39), 850.0, INSIDE)
    assert changes == []  # 29 minutes below: not yet (rule: 30 min)
    changes = run(e, range(39, 41), 850.0, INSIDE)
    assert len(changes) == 1
    alert = changes[0]
    assert alert["kind"] == "inventory_below_pledge" and alert["subject"] == "b1-c1"
    assert alert["borrower_id"] == "b1" and alert["loan_id"] == "b1-l1"
    assert alert["opened_at"] == T0 + 10 * 60 and alert["detected_at"] == 42.0
    assert alert["severity"] == "critical" and alert["status"] == "open"
    assert "850.0 t is 85% of the pledged 1,000.0 t" in alert["reasons"][0]  # type: ignore[index]
    assert alert["evidence"]["coverage"] == 0.85  # type: ignore[index]
    # 0.93 is above the alert threshold but below clear_above (hysteresis): stays open
    assert [c["status"] for c in run(e, range(41, 200), 930.0, INSIDE)] == ["open"] * 31
    cleared = run(e, range(200, 261), 1200.0, INSIDE)
    assert [c["status"] for c in cleared] == ["resolved"]
    assert cleared[0]["id"] == alert["id"]
    # a recurrence opens a new alert
    again = run(e, range(261, 300), 800.0, INSIDE)
    assert len({c["id"] for c in again}) == 1 and again[0]["id"] != alert["id"]


def test_geofence_exit_for_vehicle() -> None:
    e = engine()
    run(e, range(0, 10), 1200.0, INSIDE)
    changes = run(e, range(10, 16), 1200.0, OUTSIDE)
    # 56 km in a minute: no vehicle drives that, so the jump is an alert of its own
    assert [(c["kind"], c["subject"], c["site_id"]) for c in changes] == [
        ("position_implausible", "b1-d2", "b1-v1"),
        ("geofence_exit", "b1-d2", "b1-v1"),
    ]
    assert "km outside its geofence" in changes[1]["reasons"][0]  # type: ignore[index]
    assert changes[1]["evidence"]["distance_outside_km"] > 30  # type: ignore[index]


def test_silent_device_detected_by_tick_and_cleared_when_back() -> None:
    e = engine()
    run(e, range(0, 10), 1200.0, INSIDE)
    alerts = []
    for m in range(10, 30):
        ts = T0 + m * 60
        batch = [r for r in minute_readings(m, 1200.0, INSIDE) if r.device_id != "b2-d1"]
        alerts += e.process(batch) + e.tick(ts)
    silent = [a for a in alerts if a.kind == "device_silent"]
    assert len({a.id for a in silent}) == 1
    first = silent[0]
    assert first.subject == "b2-d1" and first.borrower_id == "b2"
    assert first.opened_at == T0 + 9 * 60 + 600  # last reading + 10 min minimum silence
    back = e.process(minute_readings(30, 1200.0, INSIDE))
    assert [(a.kind, a.status) for a in back] == [("device_silent", "resolved")]


def test_unknown_device_or_wrong_tenant_is_ignored_by_engine() -> None:
    e = engine()
    assert e.process([Reading("bank-b", "b1-d1", T0, "weight_kg", 0.0)]) == []
    assert e.readings_unmatched == 1


def test_replay_gives_same_alerts_regardless_of_batching() -> None:
    readings = []
    for m in range(0, 120):
        readings += minute_readings(m, 1200.0 if m < 20 else 700.0, INSIDE if m < 50 else OUTSIDE)
    one = Engine([small_fleet()], RuleSet(), wall_clock=lambda: 0.0)
    whole = [a.to_dict() for a in one.process(readings)]
    other = Engine([small_fleet()], RuleSet(), wall_clock=lambda: 0.0)
    pieces = []
    for i in range(0, len(readings), 7):
        pieces += [a.to_dict() for a in other.process(readings[i : i + 7])]
    final_whole = {a["id"]: a for a in whole}
    final_pieces = {a["id"]: a for a in pieces}
    # inventory, geofence exit, and the implausible 56 km jump out of the fence
    assert final_whole == final_pieces and len(final_whole) == 3
