"""The same goods at two sites: what one lot loses, a lot of another borrower gains.

Fed with the moves (`lot_moves.Move`) of the lots. A loss of at least ``min_share`` of
the origin's pledge, partly in its quiet hours, and a gain within ± ``tolerance`` of it
at a lot of another borrower whose goods have the same handling unit (in the receiving
lot's quiet hours, or at least `BUSY_GAIN_SHARE` of its pledge: more than a delivery),
starting after the loss began and at most ``max_transit`` after it ended, raise
``double_pledge`` (critical) on the origin borrower, subject the origin lot. The
receiving lot may then let the goods go again unflagged (`MovementDetector.expect_return`);
the alert resolves when the origin gets them back.

In a cluster the two lots may belong to borrowers of different risk partitions. A
partition's detector then keeps the candidate moves of its own lots in ``shared`` (the
worker sends them to the other partitions) and takes theirs with `observe_remote`.
Pairing does not depend on which side arrives first: a loss pairs with a gain only if
it was known over (``seen_at``) no later than the gain, as in one process, and each side
waits for the other for `max_transit` plus a day of this partition's event time. The
alert is raised once, by the origin's partition, at the gain's event time; the receiving
lot's partition only notes the goods it hosts (`MovementDetector.expect_return`).
"""

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from riskstream.detectors.findings import lot_finding
from riskstream.detectors.lot_moves import Move
from riskstream.detectors.movement import MovementDetector
from riskstream.detectors.timefmt import clock
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.fleet_index import CollateralContext, FleetIndex
from riskstream.rules.fields import AlertComponent, AlertSeverity, Enabled, RuleTable, Seconds

KIND = "double_pledge"
HOLD_S = 30 * 86_400.0  # how long received goods may stay before leaving again unflagged
BUSY_GAIN_SHARE = 0.1


class DoublePledgeRule(RuleTable):
    """The same goods at two sites: one lot loses what a lot of another borrower gains."""

    matrix_component: ClassVar[AlertComponent] = "collateral"

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
        self.lender_lots: Mapping[str, CollateralContext] = index.collateral
        """Every lot of the lender (a cluster partition's index has only its own)."""
        self.shared: list[Move] | None = None
        """In a cluster partition: the candidate moves of its own lots that the other
        partitions need, until the worker takes them (`take_shared`). None: one process."""
        self._gains: list[Move] = []  # gains not paired yet, for losses told later (cluster)
        self._told: dict[tuple[str, float, float], float] = {}  # remote moves taken → end
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
            self._forget_before(move.seen_at - self.rule.max_transit - 86_400.0)
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

    def _forget_before(self, horizon: float) -> None:
        if self._recent:
            self._recent = [m for m in self._recent if m.end >= horizon]
        if self._gains:
            self._gains = [m for m in self._gains if m.end >= horizon]
        if self._told:
            self._told = {k: end for k, end in self._told.items() if end >= horizon}

    def take_shared(self) -> list[Move]:
        """The candidate moves found since the last call (a cluster partition's)."""
        if not self.shared:
            return []
        moves, self.shared = self.shared, []
        return moves

    def observe_remote(
        self, moves: list[Move], movement: MovementDetector, book: AlertBook, wall: float
    ) -> list[Alert]:
        """Take candidate moves of lots of other partitions (each once); return alerts
        raised or resolved on this partition's lots."""
        changed: list[Alert] = []
        if not self.rule.enabled:
            return changed
        for move in moves:
            key = (move.collateral_id, move.start, move.seen_at)
            if key in self._told or move.collateral_id not in self.lender_lots:
                continue
            self._told[key] = move.end
            if move.delta_kg < 0:
                self._remote_loss(move, movement)
            else:
                changed.extend(self._remote_gain(move, book, wall))
        return changed

    def _remote_loss(self, loss: Move, movement: MovementDetector) -> None:
        """A loss of another partition's lot: goods it lost that one of ours already
        gained are hosted here; else it waits for a gain of ours."""
        origin = self.lender_lots[loss.collateral_id]
        for gain in self._gains:
            to = self.index.collateral.get(gain.collateral_id)
            if to is not None and self._matches(origin, loss, to, gain):
                self._gains.remove(gain)
                self._host(to, gain, movement)
                return
        self._recent.append(loss)

    def _remote_gain(self, gain: Move, book: AlertBook, wall: float) -> list[Alert]:
        """A gain of another partition's lot: paired with a loss of ours known over no
        later, it raises the alert on our lot (and resolves it at once if the goods are
        back already); else it waits for a loss of ours."""
        to = self.lender_lots[gain.collateral_id]
        for loss in self._recent:
            origin = self.index.collateral.get(loss.collateral_id)
            if origin is None or not self._matches(origin, loss, to, gain):
                continue
            self._recent.remove(loss)
            changed = [a for a in [self._raise(origin, loss, to, gain, book, wall)] if a]
            back = self._came_back(origin, -loss.delta_kg, gain.seen_at)
            if back is not None:
                self._gains.remove(back)
                alert = self._returned(back, origin, to.collateral.id, book)
                changed.extend([alert] if alert is not None else [])
            return changed
        self._gains.append(gain)
        return []

    def _came_back(self, origin: CollateralContext, kg: float, after: float) -> Move | None:
        """A gain of ours already seen at ``origin`` that brought ``kg`` back after
        ``after`` (this partition ran ahead of the one that told us of the gain)."""
        for gain in self._gains:
            if (
                gain.collateral_id == origin.collateral.id
                and gain.seen_at > after
                and self._close(gain.delta_kg, kg)
            ):
                return gain
        return None

    def _matches(
        self, origin: CollateralContext, loss: Move, to: CollateralContext, gain: Move
    ) -> bool:
        """Whether ``gain`` at ``to`` may be the goods ``loss`` took from ``origin``."""
        return (
            origin.borrower_id != to.borrower_id
            and origin.collateral.handling_unit_kg == to.collateral.handling_unit_kg
            and self._close(gain.delta_kg, loss.delta_kg)
            and loss.start <= gain.start <= loss.end + self.rule.max_transit
            and loss.seen_at <= gain.seen_at
        )

    def _host(self, to: CollateralContext, gain: Move, movement: MovementDetector) -> None:
        """Our lot ``to`` holds goods pledged elsewhere: they may leave again unflagged."""
        self._hosting[to.collateral.id] = gain.delta_kg
        movement.expect_return(to.collateral.id, gain.delta_kg, gain.seen_at + HOLD_S)

    def _raise(
        self,
        origin: CollateralContext,
        loss: Move,
        to: CollateralContext,
        gain: Move,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        self._away[origin.collateral.id] = (to.collateral.id, -loss.delta_kg)
        finding = _finding(origin, to, loss, gain, self.rule)
        return book.raise_(finding, loss.start, gain.seen_at, wall)

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
                if self.shared is not None:
                    self.shared.append(move)
                    return self._pair_told_gain(move, lot, book, wall)
            return None
        if not move.quiet and move.delta_kg < BUSY_GAIN_SHARE * _pledge_kg(lot):
            return None
        for loss in self._recent:
            origin = self.lender_lots[loss.collateral_id]
            if not self._matches(origin, loss, lot, move):
                continue
            self._recent.remove(loss)
            self._host(lot, move, movement)
            if loss.collateral_id not in self.index.collateral:
                if self.shared is not None:
                    self.shared.append(move)  # for the origin's partition, which raises it
                return None
            return self._raise(origin, loss, lot, move, book, wall)
        if self.shared is not None:
            self.shared.append(move)
            self._gains.append(move)
        return None

    def _pair_told_gain(
        self, loss: Move, origin: CollateralContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """A loss of ours that a gain another partition told us of already took."""
        for gain in self._gains:
            to = self.lender_lots[gain.collateral_id]
            if gain.collateral_id in self.index.collateral or not self._matches(
                origin, loss, to, gain
            ):
                continue
            self._gains.remove(gain)
            self._recent.remove(loss)
            return self._raise(origin, loss, to, gain, book, wall)
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
