"""The periodic checks riskstream replaces: when would they have caught each event?

A lender without sensors checks each borrower every `PeriodicCheck.period_s`: a
monthly field exam (inventory audit, site visit) or a quarterly review. Each borrower's
checks fall at a random but seeded phase: ``offset + k * period`` with ``offset``
drawn once per (check, tenant, borrower, seed) in ``[0, period)``. An event is caught
by the first check at or after its start, if that check comes no later than its end;
otherwise it is missed within the window (it ended, or the run ended, first).

This is generous to the checks: it assumes a check sees every kind of event, also
the data-integrity ones (a silent sensor) that a site visit would not look for.
"""

import math
import random
from dataclasses import dataclass

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class PeriodicCheck:
    """A check done every ``period_s`` for each borrower.

    Attributes:
        key: name in ``--json`` output.
        label: name in prose.
        short: column header.
        period_s: time between two checks of a borrower.
    """

    key: str
    label: str
    short: str
    period_s: float


BASELINES = (
    PeriodicCheck("monthly_exam", "monthly field exam", "exam 30d", 30 * DAY_S),
    PeriodicCheck("quarterly_review", "quarterly review", "review 90d", 90 * DAY_S),
)


def phase(check: PeriodicCheck, tenant: str, borrower_id: str, seed: int) -> float:
    """The borrower's check phase in ``[0, period)``: the same for the same seed."""
    rng = random.Random(f"{seed}:{check.key}:{tenant}:{borrower_id}")
    return rng.uniform(0.0, check.period_s) % check.period_s


def next_check(ts: float, offset: float, period_s: float) -> float:
    """The first check time ``offset + k * period_s`` (integer k) at or after ``ts``."""
    return offset + math.ceil((ts - offset) / period_s) * period_s


def caught_at(
    check: PeriodicCheck,
    tenant: str,
    borrower_id: str,
    start_ts: float,
    end_ts: float,
    seed: int,
) -> float | None:
    """When ``check`` catches an event of ``[start_ts, end_ts]``; None if it is missed."""
    at = next_check(start_ts, phase(check, tenant, borrower_id, seed), check.period_s)
    return at if at <= end_ts else None


def check_times(
    check: PeriodicCheck, tenant: str, borrower_id: str, start: float, end: float, seed: int
) -> list[float]:
    """The borrower's check times in ``[start, end]``."""
    times = []
    at = next_check(start, phase(check, tenant, borrower_id, seed), check.period_s)
    while at <= end:
        times.append(at)
        at += check.period_s
    return times
