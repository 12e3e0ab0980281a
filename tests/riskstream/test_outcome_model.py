"""The online default model: delayed labels, progressive validation, weight in the score."""

import math
import random

from devices.reading import Reading
from riskstream.engine.core import Engine
from riskstream.rules.schema import ModelSettings, RuleSet, load_rules, parse_rules
from riskstream.scoring.outcome_model import OutcomeModel, Snapshot
from tests.fleets import small_fleet
from tests.riskstream.test_scorecard import SAMPLE

DAY = 86400.0
T0 = 1_795_000_000.0


def daily_model(**overrides: float) -> OutcomeModel:
    settings = {"horizon": 30 * DAY, "outcome_grace": DAY, "snapshot_every": DAY, **overrides}
    return OutcomeModel(ModelSettings.model_validate(settings))


def synthetic_stream(model: OutcomeModel, days: int, seed: int) -> list[float]:
    """100 borrowers; the coverage gap carries their risk, ``noise`` carries nothing."""
    rng = random.Random(seed)
    risk = {f"b{i}": rng.random() for i in range(100)}
    weights = []
    for day in range(days):
        now = T0 + day * DAY
        for borrower, r in risk.items():
            features = {"coverage_gap": r + rng.gauss(0, 0.1), "noise": rng.gauss(0, 1)}
            model.snapshot(borrower, now, features)
            if rng.random() < 0.001 + 0.05 * r**3:
                model.outcome(borrower, now + rng.random() * DAY / 2, "payment_missed")
        model.expire(now)
        weights.append(model.weight)
    return weights


def test_model_learns_a_predictive_feature_and_takes_weight() -> None:
    model = daily_model()
    weights = synthetic_stream(model, 300, seed=7)
    summary = model.summary()
    assert summary["auc"] > 0.7, summary
    assert summary["logloss"] < math.log(2), summary  # better than always saying 0.5
    assert 0 < summary["positive_labels"] < summary["labels"]
    assert weights[0] < 0.1 and weights == sorted(weights)  # weight only grows
    assert weights[-1] == 0.6  # max_weight reached after 30 bad outcomes
    high = model.predict({"coverage_gap": 0.9, "noise": 0.0})
    low = model.predict({"coverage_gap": 0.1, "noise": 0.0})
    assert high > low + 0.1


def test_unpredictive_feature_gives_chance_auc() -> None:
    model = daily_model()
    rng = random.Random(3)
    for day in range(200):
        now = T0 + day * DAY
        for i in range(50):
            model.snapshot(f"b{i}", now, {"noise": rng.gauss(0, 1)})
            if rng.random() < 0.01:
                model.outcome(f"b{i}", now, "default")
        model.expire(now)
    assert 0.4 < model.summary()["auc"] < 0.6


def test_delayed_label_joins_the_snapshots_of_the_horizon_before_the_outcome() -> None:
    model = daily_model()
    for day in range(60):
        model.snapshot("a", T0 + day * DAY, {"x": float(day)})
        model.snapshot("b", T0 + day * DAY, {"x": float(day)})
    assert not model.snapshot("a", T0 + 59.5 * DAY, {"x": 0.0})  # one per snapshot_every
    joined = model.outcome("a", T0 + 40 * DAY, "payment_missed")
    assert joined == 31  # days 10..40: within 30 days before, none after
    assert model.labels == 0 and model.bad_outcomes == 0  # labelled, learned when old enough
    assert model.summary()["bad_outcomes_waiting"] == 1
    pending_a = [round((s.ts - T0) / DAY) for s in model.pending["a"]]
    assert pending_a == list(range(10)) + list(range(41, 60))  # the future stays pending
    assert len(model.pending["b"]) == 60  # another borrower's snapshots are untouched
    # a cure is no label; nothing from before the first snapshot is learned
    assert model.outcome("a", T0 + 45 * DAY, "cured") == 0
    assert model.outcome("c", T0, "default") == 0
    # horizon + grace after a snapshot, it is learned: good unless a bad outcome claimed it
    assert model.expire(T0 + 41 * DAY) == 10 + 10  # days 0..9 of a and of b
    assert model.positive_labels == 0 and model.labels == 20
    assert model.expire(T0 + 51 * DAY) == 10 + 10  # days 10..19 of a (bad) and of b
    assert model.positive_labels == 10 and model.labels == 40 and model.bad_outcomes == 0
    model.expire(T0 + 71.5 * DAY)  # day 40, the outcome's last labelled snapshot, learned
    assert model.positive_labels == 31 and model.bad_outcomes == 1
    assert model.summary()["bad_outcomes_waiting"] == 0


def test_both_classes_are_learned_at_the_same_age_in_the_order_taken() -> None:
    """A bad label learned at once, with good ones a horizon later, gave the model a first
    month of bad outcomes only; its guesses then swung with that mix, not the borrowers."""
    model = daily_model()
    learned: list[tuple[float, bool]] = []
    learn = model._learn

    def spy(snap: Snapshot, label: bool) -> None:
        learned.append((snap.ts, label))
        learn(snap, label)

    model._learn = spy  # type: ignore[method-assign]
    for day in range(80):
        for borrower in ("a", "b"):
            model.snapshot(borrower, T0 + day * DAY, {"x": float(day)})
        if day == 35:
            model.outcome("a", T0 + 35 * DAY, "default")
        model.expire(T0 + day * DAY)
        if day < 36:
            assert not any(label for _, label in learned)  # the bad ones wait their age
    times = [ts for ts, _ in learned]
    assert times == sorted(times)
    assert {label for _, label in learned} == {True, False}
    first_bad = next(ts for ts, label in learned if label)
    assert first_bad == T0 + 5 * DAY  # day 5 is within 30 days before day 35


def test_the_untrained_model_says_the_prior_bad_rate() -> None:
    model = daily_model(prior_bad_rate=0.02)
    assert abs(model.predict({"x": 1.0}) - 0.02) < 1e-9


def test_outcome_never_learns_from_snapshots_after_it() -> None:
    model = daily_model()
    model.snapshot("a", T0 + 10 * DAY, {"x": 1.0})
    before = model.predict({"x": 1.0})
    assert model.outcome("a", T0 + 9 * DAY, "default") == 0
    assert model.labels == 0 and model.predict({"x": 1.0}) == before
    assert model.outcome("a", T0 + 10 * DAY, "default") == 1


def test_engine_blends_model_into_score_and_expires_snapshots_on_tick() -> None:
    text = (
        SAMPLE.read_text()
        .replace('horizon = "30d"', 'horizon = "1d"')
        .replace('outcome_grace = "1d"', 'outcome_grace = "1h"')
        .replace('snapshot_every = "1d"', 'snapshot_every = "1h"')
        .replace("max_weight = 0.6", "max_weight = 0.5")
        .replace("outcomes_for_full_weight = 30", "outcomes_for_full_weight = 1")
    )
    e = Engine([small_fleet()], parse_rules(text), wall_clock=lambda: 0.0)
    for hour in range(30):
        ts = T0 + hour * 3600
        e.process([Reading("bank-a", "b1-d1", ts, "weight_kg", 850_000.0, hour)])
        e.tick(ts)
    model = e.scoring.models.of("bank-a")
    assert model.labels > 0 and model.positive_labels == 0  # older than 25 h: learned as 0
    assert e.record_outcome("b1", "default", T0 + 29 * 3600) == 25  # hours 4..29 left
    assert e.borrower_risk("b1").components["model_weight"] == 0.0  # labelled, not learned
    for hour in range(30, 56):
        ts = T0 + hour * 3600
        e.process([Reading("bank-a", "b1-d1", ts, "weight_kg", 850_000.0, hour)])
        e.tick(ts)
    assert model.bad_outcomes == 1
    risk = e.borrower_risk("b1")
    p = risk.components["model_probability"]
    assert risk.components["model_weight"] == 0.5
    assert risk.score == round(0.5 * risk.components["scorecard"] + 0.5 * 100 * p, 1)
    assert f"model: p(default)={p:.2f} (weight 0.50, 1 bad outcomes learned)" in risk.reasons


def test_default_rules_match_the_sample_model_settings() -> None:
    assert RuleSet().models == load_rules(SAMPLE).models
