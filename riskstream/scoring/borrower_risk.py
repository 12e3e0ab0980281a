"""Borrower risk: the scorecard blended with the outcome model, and the credit matrix.

``scorecard score = (1 - w) · scorecard + w · 100 · p`` where ``p`` is the tenant's
outcome model probability and ``w`` its weight (0 until bad outcomes have been
learned). The credit matrix (`riskstream.scoring.matrix`) combines six component scores
by the weights of the borrower's segment; ``[scoring] score_from`` says which of the
two is the headline score (both are always given). Each scoring appends the score to a
bounded history when it changed, and snapshots the borrower's features for the model's
delayed labels when the borrower is in the model's population (`learns_from`).

The outcome model's population: the borrowers that have a loan, and those that loan
outcomes name (a backtest names its outcome file's borrowers up front,
`expect_outcomes`). A borrower without a loan can get no loan outcome (the API refuses
an event of a loan the borrower does not have), so its snapshots could only be learned
as good, a horizon later: they would teach the model about borrowers it never prices.
"""

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from riskstream.engine.alerts import Alert
from riskstream.engine.coverage import LatestCoverage
from riskstream.rules.schema import RuleSet
from riskstream.scoring.derived import ScoringCache
from riskstream.scoring.matrix import MatrixScore
from riskstream.scoring.matrix_input import MatrixInputs, MatrixSnapshot
from riskstream.scoring.outcome_model import LoanEvent, OutcomeModels

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
        self.matrix_inputs = MatrixInputs()
        self.snapshot_log: list[MatrixSnapshot] | None = None  # a backtest sets a list
        self.derived = ScoringCache()
        self.outcome_borrowers: set[str] = set()
        """Borrowers that loan outcomes named or (in a backtest) will name: in the outcome
        model's population with or without a loan."""

    def learns_from(self, borrower_id: str) -> bool:
        """Whether the outcome model snapshots ``borrower_id``'s scorings: it has a loan,
        or loan outcomes name it."""
        return bool(self.coverage.index.loans_of.get(borrower_id)) or (
            borrower_id in self.outcome_borrowers
        )

    def expect_outcomes(self, borrower_ids: Iterable[str]) -> None:
        """Put borrowers that loan outcomes will name in the model's population from
        now on (a backtest knows its outcome file up front)."""
        self.outcome_borrowers.update(borrower_ids)

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
        """Score a borrower from its open alerts and lot coverage, with its reasons;
        record it unless ``record`` is False (a read, e.g. a page asking: no snapshot, no
        history point)."""
        risk = self._score(tenant, borrower_id, list(alerts), now, record=record, explain=True)
        assert risk is not None
        return risk

    def rescore(self, tenant: str, borrower_id: str, alerts: Sequence[Alert], now: float) -> None:
        """Record a scoring as `score` does (history point, outcome-model snapshot,
        matrix inputs) without explaining it: the engine's own scorings, which nobody
        reads until a page asks (`score` then)."""
        self._score(tenant, borrower_id, alerts, now, record=True, explain=False)

    def _score(
        self,
        tenant: str,
        borrower_id: str,
        alerts: Sequence[Alert],
        now: float,
        *,
        record: bool,
        explain: bool,
    ) -> BorrowerRisk | None:
        lots = self.coverage.of_borrower(borrower_id)
        card = self.derived.card(self.rules.scorecard, borrower_id, alerts, lots)
        model = self.models.of(tenant)
        w = model.weight
        from_matrix = self.rules.scoring.score_from == "matrix"
        snapshot = record and self.learns_from(borrower_id) and model.snapshot_due(borrower_id, now)
        with_matrix = explain or from_matrix or (snapshot and self.snapshot_log is not None)
        features: dict[str, float] = {}
        p = 0.0  # when nothing reads it: with no weight it does not move the score
        if snapshot or with_matrix or w > 0.0:
            features = {
                **card.features,
                **self.matrix_inputs.repayment.of(borrower_id).features(now),
            }
            p = model.predict(features)
        total = round((1.0 - w) * card.total + w * 100.0 * p, 1)
        matrix: MatrixScore | None = None
        if with_matrix:
            index = self.coverage.index
            profile = self.derived.profile(
                borrower_id,
                index.borrower_records[borrower_id],
                index.device_kinds[borrower_id],
                index.site_kinds[borrower_id],
            )
            matrix = self.matrix_inputs.matrix_score(
                profile, lots, self.rules, model, p, borrower_id, alerts, now, record=record
            )
            if from_matrix:
                total = matrix.score
        elif record:
            self.matrix_inputs.note(borrower_id, lots, now)
        if record:
            if snapshot:
                model.snapshot(borrower_id, now, features, p)
                if self.snapshot_log is not None:
                    assert matrix is not None
                    self.snapshot_log.append(
                        MatrixSnapshot.of(borrower_id, now, matrix, card.total, total)
                    )
            history = self.history.get(borrower_id)
            if history is None:
                history = self.history[borrower_id] = deque(maxlen=HISTORY_LEN)
            if not history or (history[-1][1] != total and now >= history[-1][0]):
                history.append((now, total))
        if not explain:
            return None
        assert matrix is not None
        reasons = [f"scorecard {card.total:g} points", *card.reasons]
        reasons.append(
            f"model: p(default)={p:.2f} (weight {w:.2f}, {model.bad_outcomes} bad outcomes learned)"
        )
        if from_matrix:
            reasons = [f"credit matrix {matrix.score:g} (segment {matrix.segment})", *reasons]
        components = {
            **card.points,
            "scorecard": card.total,
            "model_probability": round(p, 4),
            "model_weight": round(w, 4),
            **{f"feature.{k}": v for k, v in features.items()},
        }
        return BorrowerRisk(borrower_id, tenant, total, reasons, components, now, matrix.to_dict())

    def outcome(self, tenant: str, borrower_id: str, event: LoanEvent, ts: float) -> int:
        """Take a loan event: the repayment record and the tenant's outcome model; return
        how many snapshots the model labelled."""
        self.matrix_inputs.repayment.take(borrower_id, event, ts)
        self.outcome_borrowers.add(borrower_id)
        return self.models.of(tenant).outcome(borrower_id, ts, event)

    def history_of(self, borrower_id: str) -> list[tuple[float, float]]:
        """(event time, score) of every change, oldest first (bounded)."""
        return list(self.history.get(borrower_id, ()))
