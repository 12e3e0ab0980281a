"""What the credit matrix keeps per borrower between scorings, and its snapshots.

Per borrower: the repayment record, the event time of its first scoring (its data
history starts there) and the running variance of the daily change of its worst lot
coverage (the volatility of stock). A `MatrixSnapshot` is one day's component scores of
a borrower, which a backtest labels with the loan outcomes that followed.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from riskstream.engine.alerts import Alert
from riskstream.engine.coverage import LotCoverage
from riskstream.rules.schema import RuleSet
from riskstream.scoring.components import BorrowerFacts, components
from riskstream.scoring.derived import BorrowerProfile
from riskstream.scoring.matrix import DAY_S, MatrixScore, combine, segment_of
from riskstream.scoring.outcome_model import OutcomeModel
from riskstream.scoring.repayment import RepaymentBook

if TYPE_CHECKING:
    from river import stats

MIN_CHANGES_FOR_VOLATILITY = 3


@dataclass(frozen=True, slots=True)
class MatrixSnapshot:
    """A borrower's component scores at an event time (None: the component lacked data)."""

    borrower_id: str
    ts: float
    segment: str
    components: dict[str, float | None]
    matrix: float
    scorecard: float
    headline: float

    @classmethod
    def of(
        cls, borrower_id: str, ts: float, matrix: MatrixScore, scorecard: float, headline: float
    ) -> "MatrixSnapshot":
        """The snapshot of one scoring."""
        parts = {row.component: row.score if row.has_data else None for row in matrix.rows}
        return cls(borrower_id, ts, matrix.segment, parts, matrix.score, scorecard, headline)


def _new_var() -> "stats.Var":
    from river import stats  # imported when used: see `outcome_model.OutcomeModel`

    return stats.Var()


@dataclass
class _Volatility:
    last_ts: float
    last_coverage: float
    var: "stats.Var" = field(default_factory=_new_var)


@dataclass
class MatrixInputs:
    """Per-borrower state of the credit matrix (learned: it is checkpointed)."""

    repayment: RepaymentBook = field(default_factory=RepaymentBook)
    first_scored: dict[str, float] = field(default_factory=dict)
    volatility: dict[str, _Volatility] = field(default_factory=dict)

    def _note_coverage(self, borrower_id: str, coverage: float, now: float) -> None:
        vol = self.volatility.get(borrower_id)
        if vol is None:
            self.volatility[borrower_id] = _Volatility(now, coverage)
        elif now >= vol.last_ts + DAY_S:
            vol.var.update(coverage - vol.last_coverage)
            vol.last_ts, vol.last_coverage = now, coverage

    def _volatility_of(self, borrower_id: str) -> float | None:
        vol = self.volatility.get(borrower_id)
        if vol is None or vol.var.n < MIN_CHANGES_FOR_VOLATILITY:
            return None
        variance: float = vol.var.get()
        return float(variance**0.5)

    def note(self, borrower_id: str, lots: list[LotCoverage], now: float) -> None:
        """Record a scoring: on the first, the start of the borrower's data history; on
        each, the day's worst coverage (for the volatility of stock)."""
        if borrower_id not in self.first_scored:
            self.first_scored[borrower_id] = now
        if lots:
            self._note_coverage(borrower_id, min(lot.coverage for lot in lots), now)

    def matrix_score(
        self,
        profile: BorrowerProfile,
        lots: list[LotCoverage],
        rules: RuleSet,
        model: OutcomeModel,
        model_p: float,
        borrower_id: str,
        alerts: Iterable[Alert],
        now: float,
        *,
        record: bool,
    ) -> MatrixScore:
        """The borrower's matrix score as of ``now``; ``record`` first `note`s the
        scoring."""
        if record:
            self.note(borrower_id, lots, now)
        first = self.first_scored.get(borrower_id)
        history_days = max(0.0, now - first) / DAY_S if first is not None else 0.0
        settings = rules.scoring.matrix
        facts = BorrowerFacts(
            alerts=list(alerts),
            lots=lots,
            unit_values=profile.unit_values,
            currency=profile.currency,
            has_collateral=profile.has_collateral,
            has_production=profile.has_production,
            coverage_volatility=self._volatility_of(borrower_id),
            history_days=history_days,
            min_history_days=settings.min_history_days,
            repayment=self.repayment.of(borrower_id),
            loan_events_known=model.outcomes > 0,
            model_p=model_p,
            model_bad_outcomes=model.bad_outcomes,
            coverage_bands=rules.scorecard.coverage,
        )
        name, weights = segment_of(settings, profile.borrower, history_days)
        return combine(name, weights, components(facts, now))
