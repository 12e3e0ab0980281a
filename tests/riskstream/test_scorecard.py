"""The cold-start scorecard: rules-file validation, points, reasons and score history."""

from pathlib import Path

import pytest

from riskstream.engine.core import Engine
from riskstream.errors import RulesFileError
from riskstream.rules.schema import RuleSet, load_rules, parse_rules
from riskstream.scoring import borrower_risk
from tests.fleets import small_fleet
from tests.riskstream.test_engine import INSIDE, OUTSIDE, T0, minute_readings, run

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.toml"


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        (
            "coverage = [[1.1, 0], [1.0, 10], [0.9, 30], [0.0, 60]]",
            "coverage = [[1.0, 0], [1.1, 10], [0.9, 30], [0.0, 60]]",
            "scorecard.coverage",
            "strictly decrease",
        ),
        (
            "coverage = [[1.1, 0], [1.0, 10], [0.9, 30], [0.0, 60]]",
            'coverage = [[1.1, 0], [1.0, "ten"], [0.9, 30], [0.0, 60]]',
            "scorecard.coverage.1.1",
            "ten",
        ),
        (
            "default = { info = 5, warning = 15, critical = 30 }",
            "default = { info = 5, warning = 15, critical = 300 }",
            "scorecard.alert_points.default.critical",
            "less than or equal to 100",
        ),
        ("max_weight = 0.6", "max_weight = 1.5", "models.max_weight", "1.5"),
        ('horizon = "30d"', 'horizon = "a month"', "models.horizon", "not a duration"),
        ("silent_device_points = 5", "silent_device_pts = 5", "scorecard.silent_device_pts", ""),
    ],
)
def test_scorecard_and_model_errors_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    text = SAMPLE.read_text()
    assert old in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    assert (info.value.line, info.value.field) == (line_of(text, old), field)
    assert reason in str(info.value)


def test_sample_scorecard_and_models_load() -> None:
    rules = load_rules(SAMPLE)
    assert rules.scorecard.coverage[0] == (1.1, 0.0)
    assert rules.scorecard.alert_points["inventory_below_pledge"].critical == 30
    assert rules.models.horizon == 30 * 86400 and rules.models.snapshot_every == 86400


def sample_engine() -> Engine:
    return Engine([small_fleet()], load_rules(SAMPLE), wall_clock=lambda: 42.0)


def test_healthy_borrower_scores_zero_with_readable_reasons() -> None:
    e = sample_engine()
    run(e, range(0, 10), 1200.0, INSIDE)
    risk = e.borrower_risk("b1")
    assert risk.score == 0.0 and risk.tenant == "bank-a"
    assert risk.computed_at == T0 + 9 * 60  # event time, not wall time
    assert "coverage 120% of pledge on lot b1-c1 (1,200.0 of 1,000.0 t): +0 points" in risk.reasons
    assert risk.reasons[-1] == "model: p(default)=0.05 (weight 0.00, 0 bad outcomes learned)"


def test_low_coverage_and_alerts_add_points_capped_at_100() -> None:
    e = sample_engine()
    run(e, range(0, 10), 1200.0, INSIDE)
    run(e, range(10, 12), 950.0, INSIDE)
    risk = e.borrower_risk("b1")
    assert risk.score == 30.0 and risk.components["coverage"] == 30.0  # band [0.9, 30]
    run(e, range(12, 45), 850.0, INSIDE)  # inventory alert opens after 30 min
    risk = e.borrower_risk("b1")
    assert risk.components["alerts"] == 30.0 and risk.components["coverage"] == 60.0
    assert risk.score == 90.0
    assert "open critical alert inventory_below_pledge on b1-c1: +30 points" in risk.reasons
    assert "coverage 85% of pledge on lot b1-c1 (850.0 of 1,000.0 t): +60 points" in risk.reasons
    # out of the fence (warning, +20) by a 56 km jump in a minute, which no vehicle drives
    # (position_implausible, warning, +15): alert points capped at the file's 60
    run(e, range(45, 60), 850.0, OUTSIDE)
    risk = e.borrower_risk("b1")
    assert "alert points capped at 60" in risk.reasons
    assert risk.components["alerts"] == 60.0 and risk.components["scorecard"] == 100.0
    assert risk.score == 100.0  # 110 points capped to 100
    assert e.borrower_risk("b2").score == 0.0  # the other borrower is untouched


def test_alert_points_are_capped_by_the_rules_file() -> None:
    text = SAMPLE.read_text().replace("alert_points_max = 60", "alert_points_max = 40")
    e = Engine([small_fleet()], parse_rules(text), wall_clock=lambda: 42.0)
    run(e, range(0, 10), 1200.0, INSIDE)
    run(e, range(10, 60), 850.0, OUTSIDE)
    risk = e.borrower_risk("b1")
    assert risk.components["alerts"] == 40.0 and "alert points capped at 40" in risk.reasons
    assert risk.score == 100.0


def test_silent_devices_count_as_data_quality_not_alert_points() -> None:
    e = sample_engine()
    run(e, range(0, 10), 1200.0, INSIDE)
    for m in range(10, 30):
        batch = [r for r in minute_readings(m, 1200.0, INSIDE) if r.device_id != "b2-d1"]
        e.process(batch)
        e.tick(T0 + m * 60)
    risk = e.borrower_risk("b2")
    assert risk.components["data_quality"] == 5.0 and risk.components["alerts"] == 0.0
    assert "1 silent device(s) (b2-d1): +5 points" in risk.reasons
    assert risk.score == 5.0


def test_score_history_records_changes_in_event_time_and_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    e = sample_engine()
    run(e, range(0, 10), 1200.0, INSIDE)
    run(e, range(10, 45), 850.0, INSIDE)
    e.borrower_risk("b1")
    e.borrower_risk("b1")  # unchanged: no new point
    history = e.scoring.history_of("b1")
    assert history[0] == (T0, 0.0)
    assert [score for _, score in history] == [0.0, 90.0]
    assert history[1][0] == T0 + 40 * 60  # scored when the alert opened
    monkeypatch.setattr(borrower_risk, "HISTORY_LEN", 3)
    small = Engine([small_fleet()], RuleSet(), wall_clock=lambda: 0.0)
    for m, weight in enumerate([1200.0, 950.0, 1200.0, 950.0, 1200.0]):
        small.process(minute_readings(m, weight, INSIDE))
        small.borrower_risk("b1")
    assert [score for _, score in small.scoring.history_of("b1")] == [0.0, 30.0, 0.0]


def test_asking_before_any_reading_leaves_no_wall_clock_point_in_the_history() -> None:
    e = Engine([small_fleet()], RuleSet(), wall_clock=lambda: T0 + 86_400.0)
    assert e.borrower_risk("b1").score == 0.0
    assert e.scoring.history_of("b1") == []
    run(e, range(0, 10), 1200.0, INSIDE)
    assert all(ts < T0 + 86_400.0 for ts, _ in e.scoring.history_of("b1"))
