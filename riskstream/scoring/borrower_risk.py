"""Borrower risk: the scorecard blended with the outcome model, and the credit matrix.

``scorecard score = (1 - w) · scorecard + w · 100 · p`` where ``p`` is the tenant's
outcome model probability and ``w`` its weight (0 until bad outcomes have been
learned). The credit matrix (`riskstream.scoring.matrix`) combines six component scores
by the weights of the borrower's segment; ``[scoring] score_from`` says which of the
two is the headline score (both are always given). Each scoring snapshots the
borrower's features for the model's delayed labels and appends the score to a bounded
history when it changed.
"""

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from riskstream.engine.alerts import Alert
from riskstream.engine.coverage import LatestCoverage
from riskstream.rules.schema import RuleSet
from riskstream.scoring.matrix_input import MatrixInputs, MatrixSnapshot
from riskstream.scoring.outcome_model import LoanEvent, OutcomeModels
from riskstream.scoring.scorecard import score as scorecard_score

HISTORY_LEN = 256


@dataclass(frozen=True)
class BorrowerRisk:
    """A borrower's score (0–100, high = risky) as of event time ``computed_at``."""

    borrower_id: str
    tenant: str
    score: float
    reasons: list[str]
    components: dict[str, float]
    computed_at: float
    matrix: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


class BorrowerScoring:
    """Scores borrowers and keeps their score history and the tenants' outcome models."""

    def __init__(self, coverage: LatestCoverage, rules: RuleSet) -> None:
        self.coverage = coverage
        self.rules = rules
        self.models = OutcomeModels(rules.models)
        self.history: dict[str, deque[tuple[float, float]]] = {}
        self.latest: dict[str, BorrowerRisk] = {}
        self.matrix_inputs = MatrixInputs()
        self.snapshot_log: list[MatrixSnapshot] | None = None  # a backtest sets a list

    def set_rules(self, rules: RuleSet) -> None:
        """Use new scorecard points and model settings from now on."""
        self.rules = rules
        self.models.set_settings(rules.models)

    def score(
        self,
        tenant: str,
        borrower_id: str,
        alerts: Iterable[Alert],
        now: float,
        *,
        record: bool = True,
    ) -> BorrowerRisk:
        """Score a borrower from its open alerts and lot coverage; record it unless
        ``record`` is False (a read, e.g. a page asking: no snapshot, no history point)."""
        alerts = list(alerts)
        lots = self.coverage.of_borrower(borrower_id)
        card = scorecard_score(self.rules.scorecard, alerts, lots)
        model = self.models.of(tenant)
        features = {
            **card.features,
            **self.matrix_inputs.repayment.of(borrower_id).features(now),
        }
        p = model.predict(features)
        w = model.weight
        total = round((1.0 - w) * card.total + w * 100.0 * p, 1)
        reasons = [f"scorecard {card.total:g} points", *card.reasons]
        reasons.append(
            f"model: p(default)={p:.2f} (weight {w:.2f}, {model.bad_outcomes} bad outcomes learned)"
        )
        matrix = self.matrix_inputs.matrix_score(
            self.coverage.index, lots, self.rules, model, p, borrower_id, alerts, now, record=record
        )
        if self.rules.scoring.score_from == "matrix":
            reasons = [f"credit matrix {matrix.score:g} (segment {matrix.segment})", *reasons]
            total = matrix.score
        components = {
            **card.points,
            "scorecard": card.total,
            "model_probability": round(p, 4),
            "model_weight": round(w, 4),
            **{f"feature.{k}": v for k, v in features.items()},
        }
        risk = BorrowerRisk(borrower_id, tenant, total, reasons, components, now, matrix.to_dict())
        if not record:
            return risk
        if model.snapshot(borrower_id, now, features) and self.snapshot_log is not None:
            self.snapshot_log.append(
                MatrixSnapshot.of(borrower_id, now, matrix, card.total, risk.score)
            )
        history = self.history.get(borrower_id)
        if history is None:
            history = self.history[borrower_id] = deque(maxlen=HISTORY_LEN)
        if not history or (history[-1][1] != total and now >= history[-1][0]):
            history.append((now, total))
        self.latest[borrower_id] = risk
        return risk

    def outcome(self, tenant: str, borrower_id: str, event: LoanEvent, ts: float) -> int:
        """Take a loan event: the repayment record and the tenant's outcome model; return
        how many snapshots the model labelled."""
        self.matrix_inputs.repayment.take(borrower_id, event, ts)
        return self.models.of(tenant).outcome(borrower_id, ts, event)

    def history_of(self, borrower_id: str) -> list[tuple[float, float]]:
        """(event time, score) of every change, oldest first (bounded)."""
        return list(self.history.get(borrower_id, ()))
