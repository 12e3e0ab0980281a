"""The engine's own scorings record what an explained scoring records, and what scoring
keeps between scorings (profiles, last scorecards) is reused only while its inputs are
the same."""

from dataclasses import asdict, replace
from typing import Any

import pytest

from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.engine.coverage import LotCoverage
from riskstream.rules.schema import RuleSet, parse_rules
from riskstream.scoring.borrower_risk import BorrowerScoring
from riskstream.scoring.derived import ScoringCache
from tests.fleets import small_fleet
from tests.riskstream.test_checkpoint import KEY, step
from tests.riskstream.test_engine import T0
from tests.riskstream.test_scorecard import SAMPLE

MINUTE = 60.0


def rules(score_from: str) -> RuleSet:
    text = SAMPLE.read_text().replace('snapshot_every = "1d"', 'snapshot_every = "5m"')
    return parse_rules(text.replace('score_from = "scorecard"', f'score_from = "{score_from}"'))


def recorded(scoring: BorrowerScoring) -> dict[str, Any]:
    """Everything a recorded scoring leaves behind."""
    models = {
        tenant: (
            {b: [(s.ts, s.names, s.values, s.p) for s in q] for b, q in m.pending.items()},
            m.summary(),
        )
        for tenant, m in scoring.models.by_tenant.items()
    }
    inputs = scoring.matrix_inputs
    return {
        "history": {b: list(h) for b, h in scoring.history.items()},
        "models": models,
        "first_scored": dict(inputs.first_scored),
        "volatility": {
            b: (v.last_ts, v.last_coverage, v.var.get()) for b, v in inputs.volatility.items()
        },
        "snapshots": [asdict(s) for s in scoring.snapshot_log or []],
    }


@pytest.mark.parametrize("score_from", ["scorecard", "matrix"])
def test_rescore_records_what_an_explained_score_records(score_from: str) -> None:
    ruleset = rules(score_from)
    engine = Engine([small_fleet()], ruleset, wall_clock=lambda: 0.0)
    explained = BorrowerScoring(engine.coverage, ruleset)
    unexplained = BorrowerScoring(engine.coverage, ruleset)
    explained.snapshot_log, unexplained.snapshot_log = [], []
    for minute in range(60):  # alerts open, escalate and clear; lots fall; a truck leaves
        step(engine, minute)
        now = T0 + minute * MINUTE
        if minute == 25:
            for scoring in (explained, unexplained):
                scoring.outcome("bank-a", "b1", "payment_missed", now)
        for borrower_id, tenant in engine.index.borrowers.items():
            alerts = [a for a in engine.open_alerts() if a.borrower_id == borrower_id]
            explained.score(tenant, borrower_id, alerts, now)
            unexplained.rescore(tenant, borrower_id, alerts, now)
        explained.models.expire(now)
        unexplained.models.expire(now)
    assert engine.open_alerts(), "the steps leave alerts open"
    assert recorded(unexplained) == recorded(explained)
    assert explained.snapshot_log, "snapshots were taken"


def alert(kind: str, subject: str, severity: str) -> Alert:
    return Alert(
        id=f"{kind}-{subject}",
        tenant="bank-a",
        borrower_id="b1",
        loan_id=None,
        site_id=None,
        device_id=None,
        kind=kind,
        subject=subject,
        severity=severity,  # type: ignore[arg-type]
        status="open",
        opened_at=T0,
        detected_at=T0,
        updated_at=T0,
        score=50.0,
        reasons=["r"],
        evidence={},
        rule=kind,
    )


def test_a_scorecard_is_kept_while_its_inputs_are_the_same() -> None:
    settings = RuleSet().scorecard
    cache = ScoringCache()
    lot = LotCoverage("b1-c1", 1.2, 1200.0, 1000.0, "t")
    open_alert = alert("inventory_below_pledge", "b1-c1", "warning")
    first = cache.card(settings, "b1", [open_alert], [lot])
    assert cache.card(settings, "b1", [replace(open_alert, score=90.0)], [lot]) is first
    open_alert.severity = "critical"  # escalated in place, as the alert book does
    escalated = cache.card(settings, "b1", [open_alert], [lot])
    assert escalated is not first and escalated.total > first.total
    lower = cache.card(settings, "b1", [open_alert], [replace(lot, coverage=0.5)])
    assert lower is not escalated and lower.points["coverage"] > escalated.points["coverage"]
    assert cache.card(settings, "b1", [], [replace(lot, coverage=0.5)]).points["alerts"] == 0
    assert cache.card(RuleSet().scorecard, "b1", [], [replace(lot, coverage=0.5)]) is not None
    other = cache.card(settings, "b2", [open_alert], [lot])
    assert other is not first, "kept per borrower"


def test_a_new_rule_set_scores_anew() -> None:
    text = SAMPLE.read_text()
    engine = Engine([small_fleet()], parse_rules(text), wall_clock=lambda: 0.0)
    for minute in range(50):
        step(engine, minute)
    assert "geofence_exit" in {a.kind for a in engine.open_alerts() if a.borrower_id == "b1"}
    before = engine.borrower_risk("b1").components["alerts"]
    line = "geofence_exit = { info = 5, warning = 20, critical = 35 }"
    assert line in text
    doubled = text.replace(line, "geofence_exit = { info = 10, warning = 40, critical = 70 }")
    engine.set_rules(parse_rules(doubled))
    assert engine.borrower_risk("b1").components["alerts"] == before + 20


def test_checkpoints_hold_no_derived_scoring_and_load_old_ones(tmp_path: Any) -> None:
    engine = Engine([small_fleet()], rules("scorecard"), wall_clock=lambda: 0.0)
    for minute in range(25):
        step(engine, minute)
    state = engine.state()
    assert "derived" not in state["scoring"] and "latest" not in state["scoring"]
    old = {**state, "scoring": {**state["scoring"], "latest": {"b1": "a score of before"}}}
    restored = Engine([small_fleet()], rules("scorecard"), wall_clock=lambda: 0.0)
    restored.load(old)
    assert not hasattr(restored.scoring, "latest")
    assert restored.scoring.history_of("b1") == engine.scoring.history_of("b1")
    path = tmp_path / "engine.ckpt"
    restored.checkpoint(path, key=KEY)
    again = Engine([small_fleet()], rules("scorecard"), wall_clock=lambda: 0.0)
    again.restore(path, key=KEY)
    assert again.borrower_risk("b1") == engine.borrower_risk("b1")
