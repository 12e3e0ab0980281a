"""The ramp test of production_decline, and what the simulated plants' noise allows it.

The floor. A simulated plant's day varies by a factor uniform(0.92, 1.08): a standard
deviation of 4.6 % of its level, day to day, independent. A fall of 15 % over two weeks
loses 1.07 % a day: on day 7 the newest day is 7.5 % down (1.6 spreads) and the week's
mean 4 %. Whatever the test, a false alarm on at most one clean line-month in 100 bounds
how soon such a fall can be seen. Measured by a Monte Carlo of the simulator's noise
(``scripts/decline_floor.py``: 6,000 clean 30-day runs, 3,000 falls, thresholds set so
1 % of clean runs alarm), the median day of detection after the fall began was:

- knowing the day the fall began and the level before it (a Neyman-Pearson test on
  each day, which no detector has): 9 days, 25 % of falls within 7 days;
- a test of a change of slope against a known level: 9 days (17 % within 7);
- the same against the mean of the 14 or 21 days before it: 10-10.5 days (7-10 %);
- fitting the level before the fall too (this module's test): 10 days (11 %); with
  only 5 days before the fall, 11 days (7 %);
- a CUSUM on the level, its allowance at its best (1 spread): 10 days; with the rule's
  allowance of 0.5 spreads, 11-12 days.

So "15 % over two weeks within a week" is not within reach at that false-alarm rate:
a median of 7 days needs a threshold near 2.5 spreads, which alarms on 11 % of clean
line-months (`test_a_week_is_below_the_floor`). With the rule's threshold (4.5) and a
line without peers (a 9 % fall), the ramp test alone catches 15 % over two weeks after 12
days at the median, 25 % over two weeks after 9 (16 of 60 within 7 days) and 15 % over
three weeks after 18 (60 simulated lines each, 14 days before the fall). Beside the
CUSUM it mostly adds lines seen only a few days before their fall, which have no
reference yet.
"""

import math
import random

import pytest

from riskstream.detectors.decline_judgement import DAY, Judgement, Settings, judge_ramp
from riskstream.detectors.decline_ramp import PRIOR_SPREAD, day_spread, fit_ramp

SETTINGS = Settings(7 * DAY, 21 * DAY, 3, 0.5, net_of_cohort=True)
THRESHOLD = 4.5  # the rule's ramp_threshold


def plant(rng: random.Random, days: int, fall_from: int | None = None, **kw: float) -> list[float]:
    """A simulated plant's daily levels (uniform(0.92, 1.08) day factors around 100); from
    day ``fall_from`` a fall of ``fall`` over ``ramp`` days."""
    fall, ramp = kw.get("fall", 0.15), kw.get("ramp", 14.0)
    out = []
    for d in range(days):
        level = 100.0 * rng.uniform(0.92, 1.08)
        if fall_from is not None and d >= fall_from:
            level *= 1.0 - fall * min(1.0, (d - fall_from + 0.5) / ramp)
        out.append(level)
    return out


def by_day(levels: list[float]) -> list[Judgement | None]:
    """The ramp judgement at the close of each day (no peers)."""
    days = [d * DAY for d in range(len(levels))]
    return [
        judge_ramp((days[: i + 1], levels[: i + 1]), [], SETTINGS, days[i] + DAY, None)
        for i in range(len(days))
    ]


def alarms(judged: Judgement | None, threshold: float = THRESHOLD) -> bool:
    """What the rule's defaults say of ``judged`` (a line without peers)."""
    return (
        judged is not None
        and judged.ramp_z >= threshold
        and judged.drop >= 0.09
        and judged.own_drop >= 0.035
        and judged.falling >= 0.05
        and judged.own_falling is not None
        and judged.own_falling >= 0.05
    )


def first_alarm(levels: list[float], after: int, threshold: float = THRESHOLD) -> float:
    """Days from day ``after``'s start to the close of the first day that alarms."""
    for i, judged in enumerate(by_day(levels)):
        if i >= after and alarms(judged, threshold):
            return i + 1 - after
    return math.inf


def test_a_noiseless_ramp_is_fitted_from_its_first_day() -> None:
    days = [d * DAY for d in range(20)]
    logs = [0.0 if d < 12 else -0.01 * (d - 12 + 0.5) for d in range(20)]
    ramp = fit_ramp(days, logs, 6, 3)
    assert ramp is not None
    assert ramp.since == 12 * DAY and ramp.days_before == 12 and ramp.days_after == 8
    assert ramp.rate == pytest.approx(0.01) and ramp.base == pytest.approx(0.0, abs=1e-12)
    assert ramp.fall == pytest.approx(1.0 - math.exp(-0.01 * 7.5))
    assert ramp.per_week == pytest.approx(1.0 - math.exp(-0.07))
    assert ramp.spread >= 0.01  # a noiseless line is not judged on hundredths of a percent


def test_a_line_rising_or_level_has_no_fall() -> None:
    days = [d * DAY for d in range(20)]
    assert fit_ramp(days, [0.01 * d for d in range(20)], 6, 3) is None
    assert fit_ramp(days, [0.0] * 20, 6, 3) is None


def test_a_few_days_say_little_of_the_noise() -> None:
    # two calm days are not a calm line: the spread stays near the prior
    assert day_spread([0.0, 0.001]) == pytest.approx(PRIOR_SPREAD, rel=0.05)
    calm = [0.002 * (-1) ** d for d in range(60)]
    assert 0.01 <= day_spread(calm) < 0.02  # sixty calm days are


def test_two_days_of_history_are_not_judged() -> None:
    assert by_day([100.0, 80.0])[-1] is None
    assert judge_ramp(([], []), [], SETTINGS, DAY, None) is None


def test_zero_levels_are_not_days_and_raise_nothing() -> None:
    # a line standing still all day has level 0 (machine_idle's to say): no log of 0
    zeros = [0.0] * 30
    assert all(j is None for j in by_day(zeros))
    mixed = [100.0, 0.0] * 15
    assert not any(alarms(j) for j in by_day(mixed))


def test_one_odd_day_weighs_no_more_than_a_bad_day() -> None:
    rng = random.Random(3)
    levels = plant(rng, 30)
    levels[26] = 5.0  # a meter reset, a strike: 95 % down for one day
    judged = by_day(levels)
    assert not any(alarms(j) for j in judged)


def test_a_step_is_caught_at_its_size() -> None:
    rng = random.Random(5)
    levels = plant(rng, 30, fall_from=18, fall=0.2, ramp=0.5)
    days = first_alarm(levels, 18)
    assert days <= 4, days
    judged = by_day(levels)[18 + int(days) - 1]
    assert judged is not None and 0.12 < judged.drop < 0.3


def test_a_recovering_line_is_no_longer_falling() -> None:
    rng = random.Random(7)
    levels = plant(rng, 21, fall_from=14, fall=0.2, ramp=4.0) + plant(rng, 14)
    judged = by_day(levels)
    assert any(alarms(j) for j in judged[14:21])
    assert not any(alarms(j) for j in judged[-5:])  # a week back at its level


def test_a_fall_of_15_percent_over_two_weeks_after_14_days_is_caught_by_day_12() -> None:
    """The ramp test alone, on a line without peers (which needs a 9 % fall)."""
    rng = random.Random(14)
    days = sorted(first_alarm(plant(rng, 30, fall_from=14), 14) for _ in range(60))
    assert days[len(days) // 2] <= 12, days  # 12 days at the median, 11 at the quartile
    assert days[len(days) // 4] <= 11, days
    assert sum(d <= 16 for d in days) >= 0.9 * len(days), days


def test_clean_simulated_lines_raise_nothing_in_a_month() -> None:
    rng = random.Random(41)
    alarmed = sum(first_alarm(plant(rng, 30), 0) < math.inf for _ in range(200))
    assert alarmed <= 2  # at most one line-month in 100


def test_a_week_is_below_the_floor() -> None:
    """A threshold low enough for a median of 7 days alarms on clean line-months."""
    rng = random.Random(21)
    days = sorted(first_alarm(plant(rng, 30, fall_from=14), 14, 2.5) for _ in range(60))
    assert days[len(days) // 2] <= 8, days  # 8 days at the median, 20 of 60 within 7
    alarmed = sum(first_alarm(plant(rng, 30), 0, 2.5) < math.inf for _ in range(200))
    assert alarmed >= 8, alarmed  # 4 % or more of clean line-months (11 of 200 here)
