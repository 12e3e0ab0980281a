"""Online anomaly scorers: spikes flagged, clean series quiet, protected learning, pickling,
and the `riskstream bench anomaly` command."""

import math
import pickle
import random
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from riskstream.bench import anomaly as bench_anomaly
from riskstream.bench.anomaly import METHODS
from riskstream.cli.app import build_app
from riskstream.detectors.anomaly_methods import (
    DAY,
    HOUR,
    HalfSpaceTreesScorer,
    RobustSeasonalScorer,
    SeasonalResidualScorer,
    SeriesScorer,
    Verdict,
)

START = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
NOISE = 1.0
CLEAN_ALERTS_ALLOWED = 2  # anomalous verdicts over ten clean days (about 2,000 verdicts)


SCORERS: dict[str, Callable[[], SeriesScorer]] = METHODS
# HalfSpaceTrees stops flagging a new level after a few readings and DispersionScorer
# watches steps, not levels: a long stretch at a new level tests the others only
LEVEL_SCORERS = ["robust seasonal z", "seasonal residual", "residual + dispersion"]
# DispersionScorer leaves a lone spike to the level scorers (`clip_steps`)
SPIKE_SCORERS = [name for name in SCORERS if name != "step dispersion"]


def usual(ts: float) -> float:
    """The series' noise-free value: 50 ± 8 over the day, lower and flatter at weekends."""
    hours = (ts - START) / HOUR
    weekend = (hours // 24) % 7 >= 5
    swing = 4.0 if weekend else 8.0
    return 50.0 - 3.0 * weekend + swing * math.sin(2 * math.pi * (hours % 24 - 9) / 24)


def seasonal(days: float, seed: int = 0) -> list[tuple[float, float]]:
    """Readings every 1-10 min with gaps of 1-4 h now and then, rounded to 0.01."""
    rng = random.Random(seed)
    ts, out = START, []
    while ts < START + days * DAY:
        gap = rng.random() < 0.004
        ts += rng.uniform(HOUR, 4 * HOUR) if gap else rng.uniform(60, 600)
        out.append((ts, round(usual(ts) + rng.gauss(0.0, NOISE), 2)))
    return out


def fed(
    name: str, readings: list[tuple[float, float]]
) -> tuple[SeriesScorer, list[tuple[float, Verdict]]]:
    """A new scorer after scoring then learning every reading, and its verdicts by time."""
    scorer = SCORERS[name]()
    verdicts = []
    for ts, value in readings:
        verdict = scorer.score(ts, value)
        if verdict is not None:
            verdicts.append((ts, verdict))
        scorer.learn(ts, value)
    return scorer, verdicts


@pytest.mark.parametrize("name", SPIKE_SCORERS)
def test_a_blatant_spike_is_flagged_and_explained(name: str) -> None:
    readings = seasonal(8)
    scorer, _ = fed(name, readings)
    ts = readings[-1][0] + 300
    verdict = scorer.score(ts, usual(ts) + 40 * NOISE)
    assert verdict is not None and verdict.anomalous, verdict
    assert verdict.score >= verdict.threshold
    assert verdict.explain().startswith(f"value {verdict.value:.4g}")


@pytest.mark.parametrize("name", SCORERS)
def test_a_clean_seasonal_series_with_gaps_raises_almost_nothing(name: str) -> None:
    _, verdicts = fed(name, seasonal(10, seed=1))
    assert len(verdicts) > 1500  # a day of warm-up, then a verdict for most readings
    assert sum(v.anomalous for _, v in verdicts) <= CLEAN_ALERTS_ALLOWED


@pytest.mark.parametrize("name", SCORERS)
def test_no_verdict_while_warming_up(name: str) -> None:
    scorer = SCORERS[name]()
    for ts, value in seasonal(0.5):
        assert scorer.score(ts, value) is None
        scorer.learn(ts, value)


def test_the_explanation_names_the_expected_value_and_band() -> None:
    readings = seasonal(8)
    scorer, _ = fed("seasonal residual", readings)
    ts = readings[-1][0] + 300
    verdict = scorer.score(ts, usual(ts) + 40 * NOISE)
    assert verdict is not None and verdict.expected is not None and verdict.band is not None
    assert verdict.z is not None and verdict.z > verdict.threshold
    assert abs(verdict.expected - usual(ts)) < 3 * NOISE
    text = verdict.explain()
    assert f"expected {verdict.expected:.4g} ± " in text and "residual z +" in text


@pytest.mark.parametrize("name", [n for n in SPIKE_SCORERS if n != "residual + dispersion"])
def test_a_reading_judged_anomalous_is_not_learned(name: str) -> None:
    readings = seasonal(8)
    scorer, _ = fed(name, readings)
    ts = readings[-1][0] + 300
    verdict = scorer.score(ts, usual(ts) + 40 * NOISE)
    assert verdict is not None and verdict.anomalous
    before = pickle.dumps(scorer)
    scorer.learn(ts, usual(ts) + 40 * NOISE)
    assert pickle.dumps(scorer) == before


def test_a_lone_spike_does_not_hold_the_step_spread_up() -> None:
    readings = seasonal(8)
    scorer, _ = fed("step dispersion", readings)
    ts = readings[-1][0]
    spiked = [(ts + 300, usual(ts + 300) + 40 * NOISE)]
    after = [(ts + 300 * k, usual(ts + 300 * k)) for k in range(2, 14)]
    verdicts = []
    for t, value in [*spiked, *after]:
        verdicts.append(scorer.score(t, value))
        scorer.learn(t, value)
    assert not any(v is not None and v.anomalous for v in verdicts)


@pytest.mark.parametrize("name", LEVEL_SCORERS)
def test_a_new_level_is_reported_for_hours_then_accepted(name: str) -> None:
    shift_at = START + 8 * DAY
    readings = [(ts, v + 15 * NOISE if ts >= shift_at else v) for ts, v in seasonal(12)]
    _, verdicts = fed(name, readings)
    first_hours = [v for ts, v in verdicts if shift_at <= ts < shift_at + 3 * HOUR]
    assert first_hours and all(v.anomalous for v in first_hours)  # not learned as normal
    later = [v for ts, v in verdicts if ts >= shift_at + 3 * DAY]
    assert later and not any(v.anomalous for v in later)  # the new level is normal now


@pytest.mark.parametrize("name", SCORERS)
def test_a_pickled_scorer_gives_the_same_next_verdicts(name: str) -> None:
    readings = seasonal(9)
    split = len(readings) * 8 // 9
    scorer, _ = fed(name, readings[:split])
    copy = pickle.loads(pickle.dumps(scorer))
    for ts, value in readings[split:]:
        assert scorer.score(ts, value) == copy.score(ts, value)
        scorer.learn(ts, value)
        copy.learn(ts, value)


@pytest.mark.parametrize("name", SCORERS)
def test_a_clone_starts_afresh_with_the_same_settings(name: str) -> None:
    scorer, _ = fed(name, seasonal(3))
    fresh = scorer.clone()  # type: ignore[attr-defined]
    assert repr(fresh) == repr(SCORERS[name]())
    ts, value = seasonal(3)[-1]
    assert fresh.score(ts + 300, value) is None


@pytest.mark.parametrize("name", SCORERS)
def test_bad_and_late_readings_are_neither_judged_nor_learned(name: str) -> None:
    readings = seasonal(8)
    scorer, _ = fed(name, readings)
    ts = readings[-1][0]
    assert scorer.score(ts + 60, math.nan) is None
    assert scorer.score(math.inf, 50.0) is None
    before = pickle.dumps(scorer)
    scorer.learn(ts + 60, math.nan)
    scorer.learn(ts - HOUR, 50.0)  # older than the last reading learned
    assert pickle.dumps(scorer) == before


def test_settings_are_checked_when_built() -> None:
    with pytest.raises(ValueError, match=r"level_tau_s=-1\.0 must be above 0"):
        SeasonalResidualScorer(level_tau_s=-1.0)
    with pytest.raises(ValueError, match="min_bucket_values=20 must be at most recent=10"):
        RobustSeasonalScorer(recent=10, min_bucket_values=20)
    with pytest.raises(ValueError, match="utc_offset_s=nan must be a finite number"):
        HalfSpaceTreesScorer(utc_offset_s=math.nan)


def test_episodes_recall_and_delay_are_counted_from_event_windows() -> None:
    event = bench_anomaly.Event("spike", START + 1000.0, START + 1000.0)
    series = bench_anomaly.Series("spike", [START, START + 2 * DAY], [1.0, 1.0], (event,))
    alerts = [START + 1060.0, START + 1200.0, START + DAY]  # one true episode, one false
    result = bench_anomaly.tally(series, alerts, seconds=1.0)
    assert (result.episodes, result.true_episodes, result.false_episodes) == (2, 1, 1)
    assert result.delays_s == [60.0] and result.recall == 1.0 and result.precision == 0.5
    assert result.false_per_day == pytest.approx(0.5)


def test_the_bench_command_prints_its_table_and_recommendation() -> None:
    result = CliRunner().invoke(
        build_app(), ["bench", "anomaly", "--series", "1", "--days", "2", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "machine:" in text and "cores" in text
    assert "online anomaly scorers, by kind of series" in text
    for name in bench_anomaly.METHODS:
        assert name in text
    for kind in (*bench_anomaly.KINDS, "clean"):
        assert kind in text
    assert "readings/s" in text and "/series-day" in text
    assert "recommended:" in text or "no scorer meets the rule" in text
