"""Which borrowers the engine scores when, and the pricing of the alerts it emits.

A borrower is scored when its alerts change, and every borrower once per
``[models] snapshot_every`` of event time (the outcome model's daily snapshots, and
the score history's points as time passes); the outcome models learn what has become
old enough just before. These scorings are recorded, not explained
(`BorrowerScoring.rescore`): a page that asks for a borrower's risk gets it explained
(`Rescoring.borrower_risk`).
"""

import math
from collections.abc import Callable, Iterable

from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.fleet_index import FleetIndex
from riskstream.rules.schema import RuleSet
from riskstream.scoring import alert_score
from riskstream.scoring.borrower_risk import BorrowerRisk, BorrowerScoring

__all__ = ["Rescoring"]


class Rescoring:
    """When to score whom, for an engine's fleet index, alert book and scoring."""

    def __init__(
        self, index: FleetIndex, book: AlertBook, scoring: BorrowerScoring, rules: RuleSet
    ) -> None:
        self.index = index
        self.book = book
        self.scoring = scoring
        self.rules = rules
        self.next_scoring: float | None = None
        """Event time of the next scoring of every borrower (None: at the next step)."""

    def due(self) -> float:
        """When the next scoring of every borrower is due (-inf: at once)."""
        return -math.inf if self.next_scoring is None else self.next_scoring

    def rescore(self, changed: Iterable[Alert], now: float) -> bool:
        """Score the borrowers whose alerts changed, or everyone when the periodic
        scoring is due; return whether it was (the next due time moved)."""
        if self.next_scoring is None or now >= self.next_scoring:
            self.next_scoring = now + self.rules.models.snapshot_every
            self.scoring.models.expire(now)
            grouped = self.open_by_borrower()
            for borrower_id, tenant in self.index.borrowers.items():
                self.scoring.rescore(tenant, borrower_id, grouped.get(borrower_id, ()), now)
            return True
        borrowers = {(a.tenant, a.borrower_id) for a in changed}
        if borrowers:
            grouped = self.open_by_borrower()
            for tenant, borrower_id in borrowers:
                self.scoring.rescore(tenant, borrower_id, grouped.get(borrower_id, ()), now)
        return False

    def open_by_borrower(self) -> dict[str, list[Alert]]:
        """Open (or acknowledged) alerts by borrower id, in the book's order."""
        grouped: dict[str, list[Alert]] = {}
        for alert in self.book.open_alerts():
            grouped.setdefault(alert.borrower_id, []).append(alert)
        return grouped

    def score_all(self, now: float) -> list[BorrowerRisk]:
        """Score and explain every registered borrower as of event time ``now``."""
        grouped = self.open_by_borrower()
        return [
            self.scoring.score(tenant, borrower_id, grouped.get(borrower_id, []), now)
            for borrower_id, tenant in self.index.borrowers.items()
        ]

    def borrower_risk(
        self, borrower_id: str, watermark: float | None, wall_clock: Callable[[], float]
    ) -> BorrowerRisk:
        """Score and explain one borrower as of event time ``watermark`` (recorded), or of
        the wall clock before any data (not recorded); KeyError if unknown."""
        tenant = self.index.borrowers[borrower_id]
        alerts = self.open_by_borrower().get(borrower_id, [])
        if watermark is None:  # no data yet: a wall-clock point would not fit the history
            return self.scoring.score(tenant, borrower_id, alerts, wall_clock(), record=False)
        return self.scoring.score(tenant, borrower_id, alerts, watermark)

    def price(self, alerts: Iterable[Alert]) -> None:
        """Give each emitted alert its money at risk and alert score as of its own last
        change (so a replay gives the same scores however its readings are batched; the
        API ages them to the event time it serves them at)."""
        for alert in alerts:
            alert_score.apply(alert, self.index, alert.updated_at)
