"""What scoring derives again and again from inputs that seldom change, kept.

A borrower is scored once a day and whenever its alerts change; most of the time its
fleet record, its open alerts and its lots are what they were at its last scoring.
`ScoringCache` keeps:

- per borrower, its `BorrowerProfile`: the facts of the credit matrix that depend on the
  fleet alone (built on its first scoring; an engine is built anew when fleets change);
- per borrower, its last scorecard with what it was computed from (the scorecard
  settings, the kind, subject and severity of each open alert, the lots' coverage),
  returned again while all of these are the same.

Nothing here is learned: a checkpoint leaves it out (`riskstream.engine.checkpoint.SHARED`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from devices.model import Borrower, DeviceKind, SiteKind
from riskstream.engine.alerts import Alert
from riskstream.engine.coverage import LotCoverage
from riskstream.rules.settings import ScorecardSettings
from riskstream.scoring.scorecard import ScorecardResult
from riskstream.scoring.scorecard import score as scorecard_score

__all__ = ["PRODUCTION_DEVICES", "BorrowerProfile", "ScoringCache"]

PRODUCTION_DEVICES = frozenset({DeviceKind.POWER_METER, DeviceKind.OUTPUT_COUNTER})

AlertKey = tuple[tuple[str, str, str], ...]


@dataclass(frozen=True, slots=True)
class BorrowerProfile:
    """A borrower's facts for the credit matrix that only its fleet record decides."""

    borrower: Borrower
    unit_values: dict[str, float]
    currency: str
    has_collateral: bool
    has_production: bool

    @classmethod
    def of(
        cls,
        borrower: Borrower,
        device_kinds: frozenset[DeviceKind],
        site_kinds: frozenset[SiteKind],
    ) -> "BorrowerProfile":
        """The profile of a borrower's fleet record, with the kinds of its devices and
        sites (the engine keeps records without them: `FleetIndex.borrower_records`)."""
        loans = borrower.loans
        return cls(
            borrower=borrower,
            unit_values={c.id: c.unit_value for loan in loans for c in loan.collateral},
            currency=loans[0].currency if loans else "",
            has_collateral=any(loan.collateral for loan in loans),
            has_production=not PRODUCTION_DEVICES.isdisjoint(device_kinds)
            or SiteKind.PRODUCTION_LINE in site_kinds,
        )


def alert_key(alerts: Sequence[Alert]) -> AlertKey:
    """What the scorecard reads of a borrower's open alerts (one per kind and subject)."""
    return tuple(sorted((a.kind, a.subject, a.severity) for a in alerts))


class ScoringCache:
    """Borrower profiles and last scorecards (see the module's docstring)."""

    def __init__(self) -> None:
        self.profiles: dict[str, BorrowerProfile] = {}
        self._cards: dict[
            str, tuple[ScorecardSettings, AlertKey, tuple[LotCoverage, ...], ScorecardResult]
        ] = {}

    def profile(
        self,
        borrower_id: str,
        borrower: Borrower,
        device_kinds: frozenset[DeviceKind],
        site_kinds: frozenset[SiteKind],
    ) -> BorrowerProfile:
        """The borrower's profile (built on first use)."""
        profile = self.profiles.get(borrower_id)
        if profile is None or profile.borrower is not borrower:
            profile = BorrowerProfile.of(borrower, device_kinds, site_kinds)
            self.profiles[borrower_id] = profile
        return profile

    def card(
        self,
        settings: ScorecardSettings,
        borrower_id: str,
        alerts: Sequence[Alert],
        lots: Sequence[LotCoverage],
    ) -> ScorecardResult:
        """The borrower's scorecard, computed again only when its inputs changed.

        The result is shared between scorings: callers copy what they change.
        """
        keys = alert_key(alerts)
        lot_key = tuple(lots)
        kept = self._cards.get(borrower_id)
        if kept is not None:
            was_settings, was_alerts, was_lots, card = kept
            if was_settings is settings and was_alerts == keys and was_lots == lot_key:
                return card
        card = scorecard_score(settings, alerts, list(lots))
        self._cards[borrower_id] = (settings, keys, lot_key, card)
        return card
