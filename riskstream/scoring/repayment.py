"""A borrower's repayment record from loan events, and the repayment component's score.

Loan events (``payment_missed``, ``default``, ``cured``) come from the lender's core
banking system (``POST /api/loan-events``, a backtest's ``--outcomes``). Per borrower
the record keeps the current run of missed payments, whether a default is standing and
the times of past misses (bounded), which is all the score needs.
"""

from collections import deque
from dataclasses import dataclass, field

from riskstream.scoring.outcome_model import LoanEvent

YEAR_S = 365 * 86_400.0
MISSES_KEPT = 24
DEFAULT_POINTS = 100.0
FIRST_MISS_POINTS = 40.0
NEXT_MISS_POINTS = 25.0
STREAK_MAX = 90.0
PAST_MISS_POINTS = 15.0
PAST_MISSES_MAX = 45.0


def _misses() -> deque[float]:
    return deque(maxlen=MISSES_KEPT)


@dataclass
class RepaymentRecord:
    """One borrower's payment history as far as the score needs it."""

    streak: int = 0
    defaulted: bool = False
    misses: deque[float] = field(default_factory=_misses)

    def take(self, event: LoanEvent, ts: float) -> None:
        """Apply one loan event."""
        if event == "payment_missed":
            self.streak += 1
            self.misses.append(ts)
        elif event == "default":
            self.defaulted = True
        else:
            self.streak = 0
            self.defaulted = False

    def features(self, now: float) -> dict[str, float]:
        """The record as the outcome model's features: its points, the missed payments
        in a row and whether a default stands."""
        return {
            "repayment_points": self.score(now)[0],
            "missed_in_a_row": float(self.streak),
            "in_default": float(self.defaulted),
        }

    def score(self, now: float) -> tuple[float, list[str]]:
        """Points 0–100 (high = risky) as of event time ``now``, with reasons."""
        if self.defaulted:
            return DEFAULT_POINTS, ["a loan is in default: 100 points"]
        if self.streak:
            pts = min(STREAK_MAX, FIRST_MISS_POINTS + NEXT_MISS_POINTS * (self.streak - 1))
            return pts, [f"{self.streak} payment(s) missed in a row, not cured: {pts:g} points"]
        recent = sum(1 for ts in self.misses if now - YEAR_S <= ts <= now)
        if recent:
            pts = min(PAST_MISSES_MAX, PAST_MISS_POINTS * recent)
            return pts, [f"{recent} cured missed payment(s) in the last 365 days: {pts:g} points"]
        return 0.0, ["no missed payment in the last 365 days: 0 points"]


@dataclass
class RepaymentBook:
    """Repayment records of a lender's borrowers."""

    records: dict[str, RepaymentRecord] = field(default_factory=dict)
    events: int = 0

    def take(self, borrower_id: str, event: LoanEvent, ts: float) -> None:
        """Apply one loan event of a borrower."""
        self.events += 1
        record = self.records.get(borrower_id)
        if record is None:
            record = self.records[borrower_id] = RepaymentRecord()
        record.take(event, ts)

    def of(self, borrower_id: str) -> RepaymentRecord:
        """The borrower's record (an empty one if it has no events)."""
        return self.records.get(borrower_id) or RepaymentRecord()
