"""`[rules.anomaly.series] model = "cohort"`: one model per cohort of series."""

import math
import pickle
import random
from pathlib import Path
from typing import Any

from devices.reading import Reading
from riskstream.backtest import generic_fleet, read_telemetry, replay
from riskstream.backtest.replay import readings
from riskstream.backtest.telemetry_file import Telemetry
from riskstream.detectors.cohort_series import CohortMember, CohortModel
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet, parse_rules

T0 = 1_780_000_000.0 - 1_780_000_000.0 % 86400  # a UTC midnight
DAY, HOUR = 86_400.0, 3_600.0
LEAK_FROM = T0 + 3 * DAY
NEW_FROM = T0 + 3.5 * DAY
JUMP_AT = NEW_FROM + 4 * HOUR
KEY = b"c" * 32


def rules(model: str, extra: str = "") -> RuleSet:
    return parse_rules(
        "[rules.device_silent]\nenabled = false\n[rules.anomaly.series]\nenabled = true\n"
        f'metrics = ["level_m3"]\nmodel = "{model}"\n{extra}'
    )


def tank_farm(path: Path) -> Telemetry:
    """20 tanks of 10-900 m³ with a daily cycle and 0.5 % noise, every 7-13 min, for 5
    days; tank-07 leaks 2 % of its size an hour from day 3; tank-new (200 m³) joins at
    day 3.5 and jumps by 60 m³ four hours later."""
    rng = random.Random(5)
    rows: list[tuple[float, str, float]] = []
    for i in range(20):
        size = 10 * (1 + i) ** 1.5
        ts = T0 + rng.uniform(0, 600)
        while ts < T0 + 5 * DAY:
            level = size * (0.6 + 0.05 * math.sin(2 * math.pi * (ts - T0) / DAY))
            level += rng.gauss(0, 0.005 * size)
            if i == 7 and ts > LEAK_FROM:
                level -= size * 0.02 * (ts - LEAK_FROM) / HOUR
            rows.append((ts, f"tank-{i:02d}", level))
            ts += rng.uniform(400, 800)
    ts = NEW_FROM
    while ts < T0 + 5 * DAY:
        rows.append((ts, "tank-new", 200 + rng.gauss(0, 1) + (60 if ts > JUMP_AT else 0)))
        ts += 600
    rows.sort()
    text = "".join(f"{ts},{device},level_m3,{value}\n" for ts, device, value in rows)
    path.write_text("ts,device_id,metric,value\n" + text, encoding="utf-8")
    return read_telemetry(path)


def anomalies(telemetry: Telemetry, ruleset: RuleSet) -> list[dict[str, Any]]:
    fleet = generic_fleet(telemetry)
    engine = Engine([fleet], ruleset, wall_clock=lambda: 0.0)
    return [a for a in replay(engine, telemetry, fleet.tenant.id).alerts if a["kind"] == "anomaly"]


def test_a_cohort_of_tanks_finds_the_leaking_one_and_judges_a_new_one_within_hours(
    tmp_path: Path,
) -> None:
    telemetry = tank_farm(tmp_path / "tanks.csv")
    found = anomalies(telemetry, rules("cohort"))
    assert {a["subject"] for a in found} == {"tank-07/level_m3", "tank-new/level_m3"}
    leak = next(a for a in found if a["subject"] == "tank-07/level_m3")
    # net of each tank's own daily cycle: within 2 h (10.5 h without a daily profile)
    assert LEAK_FROM < leak["opened_at"] < LEAK_FROM + 2 * HOUR
    assert leak["evidence"]["method"] == "cohort"
    assert "what the cohort's 21 series usually stray" in leak["reasons"][0]
    assert leak["evidence"]["value"] < leak["evidence"]["expected"]  # below its own level
    new = next(a for a in found if a["subject"] == "tank-new/level_m3")
    # judged from the cohort's model after its 3-hour warm-up: the jump is found at once
    assert JUMP_AT < new["opened_at"] < JUMP_AT + HOUR
    # a model of its own would still be learning its first day: the jump goes unseen
    alone = anomalies(telemetry, rules("series"))
    assert "tank-new/level_m3" not in {a["subject"] for a in alone}


def test_a_cohort_per_site_and_a_longer_warm_up_are_the_rules_choice(tmp_path: Path) -> None:
    telemetry = tank_farm(tmp_path / "tanks.csv")
    fleet = generic_fleet(telemetry)
    chosen = rules("cohort", 'cohort_warmup = "6h"\ncohort_by = ["site"]\n')
    engine = Engine([fleet], chosen, wall_clock=lambda: 0.0)
    found = replay(engine, telemetry, fleet.tenant.id).alerts
    assert list(engine.detector("series_anomaly").cohorts) == [
        ("default", "generic", "level_m3", "default")
    ]
    # judged only after six hours of its own readings, the new tank has learned its jump
    # (at four hours) as part of its level; the leak is still found
    assert [a["subject"] for a in found if a["kind"] == "anomaly"] == ["tank-07/level_m3"]


def fed(engine: Engine, batch: list[Reading]) -> list[tuple[str, str, float, list[str]]]:
    changed = []
    for at in range(0, len(batch), 200):
        changed += engine.process(batch[at : at + 200])
    return [(a.id, a.status, a.updated_at, a.reasons) for a in changed if a.kind == "anomaly"]


def test_cohort_models_survive_a_checkpoint(tmp_path: Path) -> None:
    telemetry = tank_farm(tmp_path / "tanks.csv")
    fleet = generic_fleet(telemetry)
    batch = readings(telemetry, 0, len(telemetry), fleet.tenant.id)
    # after the cohort learned and the leak began, before the new tank's jump
    half = next(i for i, r in enumerate(batch) if r.ts > LEAK_FROM + HOUR)
    whole = Engine([fleet], rules("cohort"), wall_clock=lambda: 0.0)
    fed(whole, batch[:half])
    expected = fed(whole, batch[half:])
    first = Engine([fleet], rules("cohort"), wall_clock=lambda: 0.0)
    fed(first, batch[:half])
    first.checkpoint(tmp_path / "c.ckpt", key=KEY)
    resumed = Engine([fleet], rules("cohort"), wall_clock=lambda: 0.0)
    resumed.restore(tmp_path / "c.ckpt", key=KEY)
    cohorts = resumed.detector("series_anomaly").cohorts
    assert list(cohorts) == [("default", "generic", "level_m3")]
    assert fed(resumed, batch[half:]) == expected
    assert {reasons[0].split(":")[0] for _, _, _, reasons in expected} >= {
        "level_m3 (m³) unusual on tank-07",
        "level_m3 (m³) unusual on tank-new",
    }
    # a fresh engine has no cohort to judge the new tank from in its first hours
    fresh = Engine([fleet], rules("cohort"), wall_clock=lambda: 0.0)
    assert fed(fresh, batch[half:]) != expected


MONDAY = 1_767_571_200.0  # 2026-01-05 00:00 UTC: the pumps' days are all weekdays
SHIFT_AT = MONDAY + 3 * DAY + 9.3 * HOUR
SPIKE_AT = MONDAY + 3 * DAY + 17.6 * HOUR


def pumps(path: Path) -> Telemetry:
    """12 pressure series of very different sizes (2-2,000), each with its own strong daily
    cycle (amplitude 6 times its noise, its own phase), every 5-10 min for 4 days; pump-04
    rises by 6 times its noise for good at day 3.4, pump-09 spikes by 9 times its noise
    once at day 3.7."""
    rng = random.Random(11)
    rows: list[tuple[float, str, float]] = []
    for i in range(12):
        size, phase = 2.0 * 10 ** (i / 4), rng.uniform(0, DAY)
        noise = 0.01 * size
        ts = MONDAY + rng.uniform(0, 300)
        while ts < MONDAY + 4 * DAY:
            value = size + 6 * noise * math.sin(2 * math.pi * (ts - phase) / DAY)
            value += rng.gauss(0, noise)
            if i == 4 and ts >= SHIFT_AT:
                value += 6 * noise
            if i == 9 and SPIKE_AT <= ts < SPIKE_AT + 300:
                value += 9 * noise
            rows.append((ts, f"pump-{i:02d}", value))
            ts += 300 if i == 9 and ts < SPIKE_AT < ts + 600 else rng.uniform(300, 600)
    rows.sort()
    text = "".join(f"{ts},{device},pressure_bar,{value}\n" for ts, device, value in rows)
    path.write_text("ts,device_id,metric,value\n" + text, encoding="utf-8")
    return read_telemetry(path)


def test_a_cohort_with_a_daily_cycle_judges_each_series_net_of_its_own_day(
    tmp_path: Path,
) -> None:
    telemetry = pumps(tmp_path / "pumps.csv")
    ruleset = parse_rules(
        "[rules.device_silent]\nenabled = false\n[rules.anomaly.series]\nenabled = true\n"
        'metrics = ["pressure_bar"]\nmodel = "cohort"\n'
    )
    found = {a["subject"]: a for a in anomalies(telemetry, ruleset)}
    # the daily swings (6 times the noise) are no anomaly, the shift and the spike are
    assert set(found) == {"pump-04/pressure_bar", "pump-09/pressure_bar"}
    shift = found["pump-04/pressure_bar"]
    assert SHIFT_AT <= shift["opened_at"] < SHIFT_AT + HOUR
    assert "usual offset at weekday" in shift["reasons"][0]
    assert shift["evidence"]["value"] > shift["evidence"]["expected"]
    spike = found["pump-09/pressure_bar"]
    assert SPIKE_AT <= spike["opened_at"] < SPIKE_AT + 300


def _member_fed(days: float) -> tuple[CohortModel, CohortMember]:
    cohort = CohortModel()
    member = CohortMember(cohort, 3 * HOUR, DAY)
    for k in range(int(days * DAY / 600)):
        ts = T0 + 600.0 * k
        member.score(ts, _pump(ts))
        member.learn(ts, _pump(ts))
    return cohort, member


def _pump(ts: float) -> float:
    return 50.0 + 3.0 * math.sin(2 * math.pi * ts / DAY) + 0.5 * math.sin(ts / 997.0)


def test_a_cohort_checkpointed_before_daily_profiles_restores_and_learns_them() -> None:
    cohort, member = _member_fed(2.0)
    assert pickle.loads(pickle.dumps(member)).profile == member.profile
    # as a checkpoint written before the profile and the recent distances
    _, cohort_slots = cohort.__getstate__()
    for name in ("recent_spread", "recent_learned"):
        del cohort_slots[name]
    _, slots = member.__getstate__()
    for name in ("utc_offset_s", "residual_scale", "profiled", "recent", "profile", "seen"):
        del slots[name]
    old_cohort = CohortModel.__new__(CohortModel)
    old_cohort.__setstate__((None, cohort_slots))
    slots["cohort"] = old_cohort
    old = CohortMember.__new__(CohortMember)
    old.__setstate__((None, slots))
    assert old.level == member.level and old.readings == member.readings
    assert old.profiled == 0 and not any(old.seen) and old.cohort.recent_learned == 0
    assert old.cohort.usual() is not None and old.cohort.usual_recent() is None
    judged = []
    for k in range(288):  # two more days, every 10 min
        ts = T0 + 2 * DAY + 600.0 * k
        verdict = old.score(ts, _pump(ts))
        judged.append(verdict is not None and not verdict.anomalous)
        old.learn(ts, _pump(ts))
    # not judged until it has learned 12 readings net of a profile again (3 hours), then
    # judged normal
    assert not any(judged[:12]) and all(judged[18:])
    assert old.profiled > 200 and sum(1 for n in old.seen if n) == 24  # a weekend's hours
    assert old.cohort.usual_recent() is not None


def test_a_member_learns_its_day_in_its_sites_local_hours() -> None:
    cohort = CohortModel()
    member = CohortMember(cohort, 3 * HOUR, DAY, utc_offset_s=2 * HOUR)  # UTC+2
    for k in range(2 * 144):  # two weekdays from a Monday, every 10 min
        ts = MONDAY + 600.0 * k
        value = 100.0 + (20.0 if 12 * HOUR <= ts % DAY < 13 * HOUR else 0.0)  # 12:00 UTC
        member.score(ts, value)
        member.learn(ts, value)
    weekday = list(member.profile[:24])
    assert weekday.index(max(weekday)) == 14  # 14:00 local
