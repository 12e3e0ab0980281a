"""The same goods at two sites: what one lot loses, a lot of another borrower gains.

Fed with the moves (`lot_moves.Move`) of the lots. A loss of at least ``min_share`` of
the origin's pledge, partly in its quiet hours, and a gain within ± ``tolerance`` of it
at a lot of another borrower whose goods have the same handling unit (in the receiving
lot's quiet hours, or at least `BUSY_GAIN_SHARE` of its pledge: more than a delivery),
starting after the loss began and at most ``max_transit`` after it ended, raise
``double_pledge`` (critical) on the origin borrower, subject the origin lot. The
receiving lot may then let the goods go again unflagged (`MovementDetector.expect_return`);
the alert resolves when the origin gets them back.
"""

from pydantic import Field

from riskstream.detectors.findings import lot_finding
from riskstream.detectors.lot_moves import Move
from riskstream.detectors.movement import MovementDetector
from riskstream.detectors.timefmt import clock
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.fleet_index import CollateralContext, FleetIndex
from riskstream.rules.fields import AlertSeverity, Enabled, RuleTable, Seconds

KIND = "double_pledge"
HOLD_S = 30 * 86_400.0  # how long received goods may stay before leaving again unflagged
BUSY_GAIN_SHARE = 0.1


class DoublePledgeRule(RuleTable):
    """The same goods at two sites: one lot loses what a lot of another borrower gains."""

    enabled: Enabled = True
    min_share: float = Field(
        0.05, gt=0, le=1, description="smallest block that counts, share of the origin's pledge"
    )
    tolerance: float = Field(0.03, gt=0, lt=1, description="gain within ± this of the loss")
    max_transit: Seconds = Field(14 * 3600.0, gt=0, description="loss to gain, at most")
    severity: AlertSeverity = "critical"


class DoublePledgeDetector:
    """Pairs losses and gains of lots of different borrowers with the same handling unit."""

    def __init__(self, index: FleetIndex, rule: DoublePledgeRule) -> None:
        self.index = index
        self.rule = rule
        self._recent: list[Move] = []
        self._away: dict[str, tuple[str, float]] = {}  # origin lot → (receiving lot, kg)
        self._hosting: dict[str, float] = {}  # receiving lot → kg of the origin's goods

    def observe(
        self, moves: list[Move], movement: MovementDetector, book: AlertBook, wall: float
    ) -> list[Alert]:
        """Take finished moves; return alerts raised or resolved."""
        changed: list[Alert] = []
        if not self.rule.enabled:
            return changed
        for move in moves:
            lot = self.index.collateral[move.collateral_id]
            horizon = move.seen_at - self.rule.max_transit - 86_400.0
            if self._recent:
                self._recent = [m for m in self._recent if m.end >= horizon]
            if self._goes_back(move):
                continue
            away = self._away.get(move.collateral_id)
            if move.delta_kg > 0 and away is not None and self._close(move.delta_kg, away[1]):
                alert = self._returned(move, lot, away[0], book)
            else:
                alert = self._pair(move, lot, movement, book, wall)
            if alert is not None:
                changed.append(alert)
        return changed

    def _goes_back(self, move: Move) -> bool:
        """Whether ``move`` takes double-pledged goods from the receiving lot again."""
        kg = self._hosting.get(move.collateral_id)
        if kg is None or move.delta_kg > 0 or not self._close(move.delta_kg, kg):
            return False
        del self._hosting[move.collateral_id]
        return True

    def _close(self, a: float, b: float) -> bool:
        return abs(abs(a) - abs(b)) <= self.rule.tolerance * abs(b)

    def _returned(
        self, move: Move, lot: CollateralContext, held_at: str, book: AlertBook
    ) -> Alert | None:
        del self._away[move.collateral_id]
        reason = (
            f"cleared: the goods came back to lot {lot.collateral.id} from {held_at} "
            f"at {clock(move.end)}"
        )
        return book.clear(
            lot.tenant, lot.borrower_id, KIND, lot.collateral.id, move.seen_at, reason
        )

    def _pair(
        self,
        move: Move,
        lot: CollateralContext,
        movement: MovementDetector,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        unit = lot.collateral.handling_unit_kg
        if unit is None:
            return None
        rule = self.rule
        if move.delta_kg < 0:
            if move.quiet and -move.delta_kg >= rule.min_share * _pledge_kg(lot):
                self._recent.append(move)
            return None
        if not move.quiet and move.delta_kg < BUSY_GAIN_SHARE * _pledge_kg(lot):
            return None
        for loss in self._recent:
            origin = self.index.collateral[loss.collateral_id]
            if (
                origin.borrower_id == lot.borrower_id
                or origin.collateral.handling_unit_kg != unit
                or not self._close(move.delta_kg, loss.delta_kg)
                or not loss.start <= move.start <= loss.end + rule.max_transit
            ):
                continue
            self._recent.remove(loss)
            self._away[origin.collateral.id] = (lot.collateral.id, -loss.delta_kg)
            self._hosting[lot.collateral.id] = move.delta_kg
            movement.expect_return(lot.collateral.id, move.delta_kg, move.seen_at + HOLD_S)
            finding = _finding(origin, lot, loss, move, rule)
            return book.raise_(finding, loss.start, move.seen_at, wall)
        return None


def _pledge_kg(lot: CollateralContext) -> float:
    return lot.collateral.quantity * (lot.kg_per_unit or 0.0)


def _finding(
    origin: CollateralContext,
    to: CollateralContext,
    loss: Move,
    gain: Move,
    rule: DoublePledgeRule,
) -> Finding:
    c, other = origin.collateral, to.collateral
    per_unit = origin.kg_per_unit or 1.0
    left = -loss.delta_kg / per_unit
    came = gain.delta_kg / per_unit
    units = -loss.delta_kg / (c.handling_unit_kg or 1.0)
    hours = max(0.0, gain.start - loss.end) / 3600.0
    reasons = [
        f"{left:,.1f} {c.unit} ({units:,.0f} handling units of {c.handling_unit_kg:,.0f} kg) "
        f"left lot {c.id} of {origin.borrower_id} between {clock(loss.start)} and "
        f"{clock(loss.end)}",
        f"{came:,.1f} {c.unit} of the same handling unit arrived at lot {other.id} of "
        f"{to.borrower_id} (loan {to.loan_id}) {hours:,.1f} h later, between "
        f"{clock(gain.start)} and {clock(gain.end)}: the same goods at two sites, "
        "pledged twice",
    ]
    return lot_finding(
        origin,
        kind=KIND,
        severity=rule.severity,
        score=60.0 + 100.0 * -loss.delta_kg / max(_pledge_kg(origin), 1.0),
        reasons=reasons,
        evidence={
            "collateral_id": c.id,
            "counterpart_collateral_id": other.id,
            "counterpart_borrower_id": to.borrower_id,
            "counterpart_loan_id": to.loan_id,
            "counterpart_device_id": to.load_cells[0] if to.load_cells else None,
            "left_kg": round(-loss.delta_kg, 1),
            "arrived_kg": round(gain.delta_kg, 1),
            "handling_unit_kg": c.handling_unit_kg,
            "left_between": [loss.start, loss.end],
            "arrived_between": [gain.start, gain.end],
            "tolerance": rule.tolerance,
            "max_transit_s": rule.max_transit,
        },
    )
