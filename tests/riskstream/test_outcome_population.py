"""Whom the outcome model learns from: borrowers with a loan, and those loan outcomes name.

A borrower without a loan is scored like any other (history, reasons), but its scorings
are not snapshotted for the outcome model unless loan outcomes name it: live from its
first outcome on, in a backtest from the start (the outcome file is known up front).
"""

from pathlib import Path
from typing import Any

from devices.model import Fleet
from devices.reading import Reading
from riskstream.backtest import generic_fleet, read_telemetry, replay
from riskstream.backtest.outcomes_file import LoanOutcome
from riskstream.engine.core import Engine
from riskstream.rules.schema import parse_rules
from tests.fleets import small_fleet
from tests.riskstream.test_scorecard import SAMPLE

HOUR = 3600.0
T0 = 1_795_000_000.0


def hourly_rules(full_weight_after: int = 30) -> str:
    """The sample rules with hourly snapshots, learned 25 hours after they are taken."""
    return (
        SAMPLE.read_text()
        .replace('horizon = "30d"', 'horizon = "1d"')
        .replace('outcome_grace = "1d"', 'outcome_grace = "1h"')
        .replace('snapshot_every = "1d"', 'snapshot_every = "1h"')
        .replace("max_weight = 0.6", "max_weight = 0.5")
        .replace("outcomes_for_full_weight = 30", f"outcomes_for_full_weight = {full_weight_after}")
    )


def with_loanless_borrower() -> Fleet:
    """`small_fleet` and b3: a site with a level gauge, no loan."""
    raw: dict[str, Any] = small_fleet().model_dump(mode="json")
    raw["borrowers"].append(
        {
            "id": "b3",
            "sites": [{"id": "b3-s1", "kind": "warehouse"}],
            "devices": [{"id": "b3-d1", "kind": "generic", "site": "b3-s1", "interval_s": 60}],
        }
    )
    return Fleet.model_validate(raw)


def run_hours(engine: Engine, hours: range) -> None:
    for hour in hours:
        ts = T0 + hour * HOUR
        engine.process(
            [
                Reading("bank-a", "b1-d1", ts, "weight_kg", 850_000.0, hour),
                Reading("bank-a", "b3-d1", ts, "level_m", 2.0, hour),
            ]
        )
        engine.tick(ts)


def test_a_borrower_without_a_loan_is_scored_but_not_snapshotted() -> None:
    engine = Engine([with_loanless_borrower()], parse_rules(hourly_rules()), wall_clock=lambda: 0)
    run_hours(engine, range(30))
    model = engine.scoring.models.of("bank-a")
    assert set(model.pending) == {"b1", "b2"}
    assert model.labels == 2 * 4  # each one's hours 0..3 were learned (over 25 h old)
    assert engine.scoring.history_of("b3")  # its score is kept all the same
    assert engine.borrower_risk("b3").score == engine.borrower_risk("b3").components["scorecard"]


def test_a_loan_outcome_brings_a_loanless_borrower_in_from_then_on() -> None:
    engine = Engine([with_loanless_borrower()], parse_rules(hourly_rules()), wall_clock=lambda: 0)
    run_hours(engine, range(10))
    # nothing of it was kept, so the outcome labels nothing
    assert engine.record_outcome("b3", "payment_missed", T0 + 9 * HOUR) == 0
    run_hours(engine, range(10, 14))
    model = engine.scoring.models.of("bank-a")
    assert [s.ts for s in model.pending["b3"]] == [T0 + h * HOUR for h in range(10, 14)]
    assert engine.record_outcome("b3", "default", T0 + 13 * HOUR) == 4


def test_borrowers_a_backtest_expects_outcomes_of_are_in_from_the_start() -> None:
    engine = Engine([with_loanless_borrower()], parse_rules(hourly_rules()), wall_clock=lambda: 0)
    engine.expect_outcomes(["b3", "not-in-the-fleet"])
    assert engine.scoring.outcome_borrowers == {"b3"}
    run_hours(engine, range(3))
    pending = engine.scoring.models.of("bank-a").pending["b3"]
    assert [s.ts for s in pending] == [T0 + h * HOUR for h in range(3)]
    # kept by a checkpoint, and by the engine that replaces this one when fleets change
    restored = Engine([with_loanless_borrower()], parse_rules(hourly_rules()))
    restored.load(engine.state())
    assert restored.scoring.outcome_borrowers == {"b3"}
    successor = Engine([with_loanless_borrower()], parse_rules(hourly_rules()))
    successor.keep_learning_of(engine)
    assert successor.scoring.learns_from("b3")


def test_a_loanless_borrowers_score_blends_the_model_once_it_has_weight() -> None:
    engine = Engine(
        [with_loanless_borrower()], parse_rules(hourly_rules(full_weight_after=1)), lambda: 0
    )
    run_hours(engine, range(30))
    engine.record_outcome("b1", "default", T0 + 29 * HOUR)
    run_hours(engine, range(30, 56))  # the labelled snapshots are learned: weight 0.5
    model = engine.scoring.models.of("bank-a")
    assert model.weight == 0.5 and "b3" not in model.pending
    recorded = engine.scoring.history_of("b3")[-1]
    explained = engine.scoring.score("bank-a", "b3", [], recorded[0], record=False)
    p = explained.components["model_probability"]
    assert 0.0 < p < 1.0
    assert recorded[1] == explained.score
    assert explained.score == round(0.5 * explained.components["scorecard"] + 50.0 * p, 1)


def test_backtest_without_outcomes_keeps_no_snapshot_of_the_generic_borrower(
    tmp_path: Path,
) -> None:
    rows = [f"{T0 + h * HOUR},s1,level_m,1.0" for h in range(24 * 5)]
    csv = tmp_path / "t.csv"
    csv.write_text("ts,device_id,metric,value\n" + "\n".join(rows) + "\n")
    telemetry = read_telemetry(csv)
    fleet = generic_fleet(telemetry)
    quiet = Engine([fleet], parse_rules(hourly_rules()), wall_clock=lambda: 0.0)
    replay(quiet, telemetry, fleet.tenant.id)
    assert quiet.scoring.models.of("default").pending == {}
    assert len(quiet.scoring.history_of("default")) == 1  # the same score all along
    named = Engine([fleet], parse_rules(hourly_rules()), wall_clock=lambda: 0.0)
    outcome = LoanOutcome(T0 + 100 * HOUR, "default", "payment_missed")
    replay(named, telemetry, fleet.tenant.id, outcomes=[outcome])
    model = named.scoring.models.of("default")
    # a snapshot an hour from the first on (hours 0..119); the outcome labels hours
    # 76..100 bad; by hour 119 those older than 25 h (0..93) are learned
    assert model.outcomes == 1 and len(model.pending["default"]) == 19  # hours 101..119
    assert (model.labels, model.positive_labels, len(model.labelled_bad)) == (94, 18, 7)
    assert quiet.scoring.history_of("default") == named.scoring.history_of("default")
