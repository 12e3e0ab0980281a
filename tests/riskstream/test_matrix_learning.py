"""Learning the credit matrix from outcomes: labels, AUC per segment with its sample, the
suggested matrix (a valid rules file) and `riskstream backtest --suggest-matrix`."""

import random
from pathlib import Path

import typer
from typer.testing import CliRunner

from riskstream.backtest.component_auc import ALL, auc_table, label, rank_auc
from riskstream.backtest.outcomes_file import LoanOutcome
from riskstream.backtest.suggest_matrix import suggest_matrix
from riskstream.cli import backtest as cli_backtest
from riskstream.rules.matrix import COMPONENTS
from riskstream.rules.schema import parse_rules
from riskstream.scoring.matrix_input import MatrixSnapshot
from tests.riskstream.backtest_data import DAY, START
from tests.riskstream.test_backtest_outcomes import outcomes_jsonl, telemetry_csv

runner = CliRunner()
HORIZON = 30 * DAY
SEGMENTS = """
[[scoring.matrix.segments]]
name = "traders"
industry = ["metals trading"]
"""


def test_rank_auc_counts_ties_half() -> None:
    assert rank_auc([(1.0, False), (2.0, True)]) == 1.0
    assert rank_auc([(1.0, True), (2.0, False)]) == 0.0
    assert rank_auc([(1.0, True), (1.0, False)]) == 0.5
    assert rank_auc([(1.0, True)]) is None


def test_snapshots_are_labelled_by_what_followed_within_the_horizon() -> None:
    def snap(borrower: str, day: float) -> MatrixSnapshot:
        return MatrixSnapshot(borrower, START + day * DAY, "default", {}, 0.0, 0.0, 0.0)

    outcomes = [
        LoanOutcome(START + 40 * DAY, "b1", "payment_missed"),
        LoanOutcome(START + 50 * DAY, "b1", "default"),
        LoanOutcome(START + 20 * DAY, "b2", "cured"),
    ]
    snaps = [snap("b1", 5), snap("b1", 20), snap("b1", 55), snap("b2", 5), snap("b2", 80)]
    labelled = label(snaps, outcomes, HORIZON, START + 90 * DAY)
    got = [(x.snapshot.borrower_id, x.snapshot.ts, x.bad) for x in labelled]
    assert got == [
        ("b1", START + 5 * DAY, False),  # the miss is 35 days later
        ("b1", START + 20 * DAY, True),
        ("b2", START + 5 * DAY, False),  # a cure is no bad outcome
    ], "after a default, and with the horizon past the end: left out"


def synthetic(seed: int) -> list[MatrixSnapshot]:
    """Traders' outcomes follow conduct; others' follow collateral; the rest is noise."""
    rng = random.Random(seed)
    snaps = []
    for i in range(400):
        segment = "traders" if i % 2 else "default"
        bad = i % 5 == 0
        signal = rng.uniform(50, 100) if bad else rng.uniform(0, 60)
        parts: dict[str, float | None] = {c: rng.uniform(0, 100) for c in COMPONENTS}
        parts["conduct" if segment == "traders" else "collateral"] = signal
        parts["operations"] = None if segment == "traders" else parts["operations"]
        snaps.append(
            MatrixSnapshot(f"b{i}", float(bad), segment, parts, signal / 2, rng.uniform(0, 100), 0)
        )
    return snaps


def test_suggested_matrix_weights_the_component_that_ranked_outcomes() -> None:
    snaps = synthetic(seed=7)
    outcomes = [LoanOutcome(1.0 + 0.5, s.borrower_id, "default") for s in snaps if s.ts == 1.0]
    labelled = label(snaps, outcomes, horizon=1.0, end=10.0)
    table = auc_table(labelled)
    assert list(table) == [ALL, "default", "traders"]
    traders = table["traders"]
    assert traders["operations"].snapshots == 0 and traders["operations"].auc is None
    assert traders["conduct"].snapshots == 200 and traders["conduct"].positives == 40
    assert traders["conduct"].auc is not None and traders["conduct"].auc > 0.9
    assert table["default"]["collateral"].auc is not None
    assert table["default"]["collateral"].auc > 0.9
    for noise in ("behaviour", "repayment", "outcome_model"):
        cell = traders[noise]
        assert cell.auc is not None and abs(cell.auc - 0.5) < 0.15

    rules = parse_rules(SEGMENTS)
    text = suggest_matrix(rules.scoring.matrix, table)
    suggested = parse_rules(text, "suggested.toml").scoring.matrix
    assert suggested.segments[0].industry == ["metals trading"], "conditions kept"
    weights = suggested.segments[0].weights.as_dict()
    assert max(weights, key=lambda c: weights[c]) == "conduct" and weights["conduct"] >= 0.5
    assert weights["operations"] == 0.0, "no data, no weight"
    default = suggested.default.as_dict()
    assert max(default, key=lambda c: default[c]) == "collateral"
    assert "# AUC " in text and "200 snapshots, 40 bad" in text
    assert text == suggest_matrix(rules.scoring.matrix, auc_table(labelled)), "deterministic"


def test_too_few_bad_outcomes_keep_the_weights_in_force() -> None:
    snaps = synthetic(seed=7)[:20]
    outcomes = [LoanOutcome(1.5, s.borrower_id, "default") for s in snaps if s.ts == 1.0]
    rules = parse_rules(SEGMENTS)
    text = suggest_matrix(rules.scoring.matrix, auc_table(label(snaps, outcomes, 1.0, 10.0)))
    assert text.count("# kept: too few bad outcomes") == 2
    assert parse_rules(text).scoring.matrix == rules.scoring.matrix


def cli() -> typer.Typer:
    app = typer.Typer()
    cli_backtest.register(app)
    return app


def test_backtest_prints_the_auc_table_and_writes_a_suggested_matrix(tmp_path: Path) -> None:
    csv = telemetry_csv(tmp_path / "t.csv")
    outcomes = outcomes_jsonl(
        tmp_path / "o.jsonl",
        [{"ts": START + 35 * DAY, "borrower_id": "default", "event": "payment_missed"}],
    )
    out = ["--out", str(tmp_path / "a.jsonl")]
    refused = runner.invoke(
        cli(), ["backtest", "--telemetry", str(csv), "--suggest-matrix", "m.toml", *out]
    )
    assert refused.exit_code == 2
    assert "--suggest-matrix needs --outcomes" in refused.output
    suggested = tmp_path / "matrix.toml"
    args = ["backtest", "--telemetry", str(csv), "--outcomes", str(outcomes)]
    result = runner.invoke(cli(), [*args, "--suggest-matrix", str(suggested), *out])
    assert result.exit_code == 0, result.output
    assert "ROC AUC of a bad outcome" in result.output
    # 40 days of daily snapshots: days 5..34 are within 30 days before the miss (bad),
    # days 0..4 not (good), later days' horizons run past the end (left out); the conduct
    # score is 0 throughout, so it ranks nothing
    assert "0.500 (35/30)" in result.output
    assert f"suggested matrix → {suggested}" in result.output
    assert parse_rules(suggested.read_text()).scoring.matrix.default.collateral == 0.3
