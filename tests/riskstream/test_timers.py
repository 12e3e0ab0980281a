"""The engine's timers: when they are next due, and what is asked again to know it."""

import math
from pathlib import Path

from devices.reading import Reading
from riskstream.backtest import generic_fleet, read_telemetry, replay
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet, parse_rules
from tests.fleets import small_fleet
from tests.riskstream.backtest_data import START

T0 = 1_795_000_020.0  # on a minute


def deadman_rules(missed_intervals: float) -> RuleSet:
    return parse_rules(f"[rules.device_silent]\nmissed_intervals = {missed_intervals}\n")


def silent_at(engine: Engine, now: float) -> list[str]:
    return sorted(a.subject for a in engine.tick(now) if a.kind == "device_silent")


def test_deadman_limits_follow_new_rules() -> None:
    """The deadman keeps each device's limit (60 s interval: 20 min at 20 missed, 10 at
    5, 40 at 40) until other rules come in force."""
    devices = ("b1-d1", "b1-d2", "b2-d1")
    engine = Engine([small_fleet()], deadman_rules(20), wall_clock=lambda: 0.0)
    engine.process([Reading("bank-a", d, T0, "weight_kg", 1.0) for d in devices])
    assert silent_at(engine, T0) == []
    assert engine.next_due() == T0 + 1200
    assert silent_at(engine, T0 + 900) == []
    engine.set_rules(deadman_rules(5))
    assert engine.next_due() == -math.inf  # not known before a tick under the new rules
    assert silent_at(engine, T0 + 900) == list(devices)
    engine.set_rules(deadman_rules(40))
    reported = T0 + 960
    engine.process([Reading("bank-a", d, reported, "weight_kg", 1.0) for d in devices])
    assert silent_at(engine, reported + 2399) == []
    assert silent_at(engine, reported + 2401) == list(devices)


def test_an_hourly_gauge_asks_the_deadman_once_per_limit_not_per_reading(
    tmp_path: Path,
) -> None:
    """A reading only moves the deadman's due time later: the engine asks it again when
    the time it kept comes, about once per limit (5 h) of event time, not per reading."""
    hours = 24 * 60
    rows = [f"{START + h * 3600.0},g1,level_m,2.0" for h in range(hours)]
    csv = tmp_path / "hourly.csv"
    csv.write_text("ts,device_id,metric,value\n" + "\n".join(rows) + "\n")
    telemetry = read_telemetry(csv)
    fleet = generic_fleet(telemetry)
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    timers = engine.timers
    asked = 0
    ask = timers._parts[2]  # after the scoring's and the book's: the deadman's
    assert getattr(ask, "args", (None,))[0] is engine.deadman

    def counting() -> float:
        nonlocal asked
        asked += 1
        return ask()

    timers._parts[2] = counting
    assert replay(engine, telemetry, fleet.tenant.id).alerts == []
    days = hours // 24
    # every fourth hour when its kept time comes, plus afresh after each daily tick
    assert asked <= hours / 4 + 2 * days
    assert asked >= hours / 5
