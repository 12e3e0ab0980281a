"""Borrower risk: the scorecard blended with the outcome model, with reasons and history.

``score = (1 - w) · scorecard + w · 100 · p`` where ``p`` is the tenant's outcome model
probability and ``w`` its weight (0 until bad outcomes have been learned). Each scoring
snapshots the borrower's features for the model's delayed labels and appends the score
to a bounded history when it changed.
"""

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from riskstream.engine.alerts import Alert
from riskstream.engine.coverage import LatestCoverage
from riskstream.rules.schema import RuleSet
from riskstream.scoring.outcome_model import OutcomeModels
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
        card = scorecard_score(self.rules.scorecard, alerts, self.coverage.of_borrower(borrower_id))
        model = self.models.of(tenant)
        p = model.predict(card.features)
        w = model.weight
        total = round((1.0 - w) * card.total + w * 100.0 * p, 1)
        reasons = [f"scorecard {card.total:g} points", *card.reasons]
        reasons.append(
            f"model: p(default)={p:.2f} (weight {w:.2f}, {model.bad_outcomes} bad outcomes learned)"
        )
        components = {
            **card.points,
            "scorecard": card.total,
            "model_probability": round(p, 4),
            "model_weight": round(w, 4),
            **{f"feature.{k}": v for k, v in card.features.items()},
        }
        risk = BorrowerRisk(borrower_id, tenant, total, reasons, components, now)
        if not record:
            return risk
        model.snapshot(borrower_id, now, card.features)
        history = self.history.get(borrower_id)
        if history is None:
            history = self.history[borrower_id] = deque(maxlen=HISTORY_LEN)
        if not history or (history[-1][1] != total and now >= history[-1][0]):
            history.append((now, total))
        self.latest[borrower_id] = risk
        return risk

    def history_of(self, borrower_id: str) -> list[tuple[float, float]]:
        """(event time, score) of every change, oldest first (bounded)."""
        return list(self.history.get(borrower_id, ()))
