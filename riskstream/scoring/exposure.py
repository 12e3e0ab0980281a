"""What a borrower owes, what secures it now, and how much of the loan is at risk.

Definitions (also in the README):

- *pledged value* of a lot = pledged quantity × unit value (in the loan's currency);
- *value on hand* = quantity on hand (from the lot's load cells) × unit value;
- *coverage* of a loan = value on hand / pledged value over the loan's weighed lots;
- *exposure at risk* of a loan = principal × (1 − min(coverage, 1)): the part of the
  loan that the goods the sensors still see no longer secure, in proportion;
- *value shortfall* = Σ over lots of (pledged − on hand)⁺ × unit value.

Lots that are not weighed (vehicles, machines) have no measured coverage: they add to
neither value, and a loan secured only by such lots has no exposure at risk here (its
risk shows up as alerts: geofence, silent device, …).
"""

from dataclasses import dataclass
from typing import Protocol

from devices.model import Borrower, Collateral, Loan
from riskstream.engine.coverage import LotCoverage


class CoverageSource(Protocol):
    """Where lots' latest coverage comes from: the engine's `LatestCoverage`, or a
    borrower's live state sent by a risk worker (`riskstream.engine.live_state`)."""

    def lot(self, collateral_id: str) -> LotCoverage | None:
        """Coverage of one lot, None when it is not weighed (yet)."""


@dataclass(frozen=True)
class LotValue:
    """A lot's pledge and, when weighed, what is on hand."""

    collateral: Collateral
    loan_id: str
    currency: str
    on_hand: float | None
    coverage: float | None

    @property
    def pledged_value(self) -> float:
        """Value of the pledged quantity."""
        return self.collateral.pledged_value

    @property
    def value_on_hand(self) -> float | None:
        """Value of the quantity on hand, when weighed."""
        return None if self.on_hand is None else self.on_hand * self.collateral.unit_value


@dataclass
class ExposureSum:
    """Running sums of one currency (see the module docstring for the definitions)."""

    currency: str
    principal: float = 0.0
    pledged_value: float = 0.0
    value_on_hand: float = 0.0
    value_shortfall: float = 0.0
    exposure_at_risk: float = 0.0

    def add(self, other: "ExposureSum") -> None:
        """Add another sum of the same currency."""
        self.principal += other.principal
        self.pledged_value += other.pledged_value
        self.value_on_hand += other.value_on_hand
        self.value_shortfall += other.value_shortfall
        self.exposure_at_risk += other.exposure_at_risk

    def rounded(self) -> dict[str, float | str]:
        """JSON form, money rounded to cents."""
        return {
            "currency": self.currency,
            "principal": round(self.principal, 2),
            "pledged_value": round(self.pledged_value, 2),
            "value_on_hand": round(self.value_on_hand, 2),
            "value_shortfall": round(self.value_shortfall, 2),
            "exposure_at_risk": round(self.exposure_at_risk, 2),
        }


def lot_values(borrower: Borrower, coverage: CoverageSource) -> list[LotValue]:
    """Every pledged lot of a borrower with its latest on-hand quantity."""
    lots: list[LotValue] = []
    for loan in borrower.loans:
        for c in loan.collateral:
            measured = coverage.lot(c.id)
            lots.append(
                LotValue(
                    collateral=c,
                    loan_id=loan.id,
                    currency=loan.currency,
                    on_hand=None if measured is None else measured.on_hand,
                    coverage=None if measured is None else measured.coverage,
                )
            )
    return lots


def loan_exposure(loan: Loan, lots: list[LotValue]) -> ExposureSum:
    """Exposure figures of one loan from its lots' values."""
    total = ExposureSum(loan.currency, principal=loan.principal)
    for lot in lots:
        on_hand_value = lot.value_on_hand
        if lot.loan_id != loan.id or on_hand_value is None or lot.on_hand is None:
            continue
        total.pledged_value += lot.pledged_value
        total.value_on_hand += on_hand_value
        missing = max(0.0, lot.collateral.quantity - lot.on_hand)
        total.value_shortfall += missing * lot.collateral.unit_value
    if total.pledged_value > 0:
        covered = min(total.value_on_hand / total.pledged_value, 1.0)
        total.exposure_at_risk = loan.principal * (1.0 - covered)
    return total


def borrower_exposure(borrower: Borrower, lots: list[LotValue]) -> list[ExposureSum]:
    """Exposure per currency of a borrower, currencies in alphabetical order."""
    sums: dict[str, ExposureSum] = {}
    for loan in borrower.loans:
        sums.setdefault(loan.currency, ExposureSum(loan.currency)).add(loan_exposure(loan, lots))
    return [sums[c] for c in sorted(sums)]


def value_coverage(lots: list[LotValue]) -> float | None:
    """Value on hand / pledged value over weighed lots (None when none is weighed)."""
    pledged = sum(lot.pledged_value for lot in lots if lot.value_on_hand is not None)
    on_hand = sum(lot.value_on_hand or 0.0 for lot in lots)
    return None if pledged <= 0 else on_hand / pledged


def worst_coverage(lots: list[LotValue]) -> float | None:
    """The lowest lot coverage (what the scorecard scores)."""
    measured = [lot.coverage for lot in lots if lot.coverage is not None]
    return min(measured) if measured else None
