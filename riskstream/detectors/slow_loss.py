"""Stock lost a little in every quiet stretch: salami theft below any one night's threshold.

Out-of-hours movement (`movement`) judges each quiet stretch alone: a night's fall of
``drop_share`` of the pledge raises it, a fall of 1 % does not, and the next stretch starts
from a new reference. A thief taking 1 % every night stays under it for ever. This
detector sums the stretches instead, with a one-sided CUSUM on the stock each quiet
stretch lost (share of the pledge, positive when stock fell):

    S ← max(0, S + loss − k)

where ``k`` is the larger of the rule's ``allowance`` and three times the lot's own
spread of quiet-stretch changes (learned on the stretches that lost nothing unusual),
and the alert opens once S, counting the stretch under way, reaches ``threshold``. With
the defaults (0.4 %, 1.5 %) a 1 % nightly drain is caught in its third night and a 3 %
one in its first, while a clean lot's quiet-stretch change (a few hundredths of a per
cent: the level is the mean of the stretch's first `START_EVALS` minutes against a
smoothed current level) never accumulates. Stretches in which out-of-hours movement
already raised its alert, or in which another lot's goods (a double pledge) were present,
are not summed: that alert speaks for them (an open alert holds through them). The alert
clears once S is back at 0.

It reads the movement detector's per-lot state (its quiet stretch, its level), so it
runs after it, on the readings at which that detector judged the lot.
"""

import math
from collections import deque
from datetime import datetime
from typing import ClassVar

from pydantic import Field

from devices.reading import Reading
from riskstream.detectors.findings import lot_finding
from riskstream.detectors.lot_moves import LotState
from riskstream.detectors.settle import settle
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import CollateralContext, DeviceContext, FleetIndex
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
)

KIND = "inventory_slow_loss"
START_EVALS = 10  # minutes of a quiet stretch whose mean level is its reference
SMOOTHING = 0.1  # weight of a new level in the stretch's current level
SPREAD_LEARNING = 0.1
NIGHTS_KEPT = 7


class SlowLossRule(RuleTable):
    """Stock lost a little in every quiet stretch (a CUSUM over the lot's quiet stretches)."""

    matrix_component: ClassVar[AlertComponent] = "collateral"

    enabled: Enabled = True
    allowance: float = Field(
        0.004,
        gt=0,
        le=0.5,
        description="loss a quiet stretch may have without counting, share of the pledge",
    )
    threshold: float = Field(
        0.015, gt=0, le=1, description="sum of losses beyond the allowance that alerts"
    )
    for_: HoldFor = Field(600.0, alias="for")
    clear_after: ClearAfter = 3600.0
    severity: AlertSeverity = "critical"


class LotLoss:
    """One lot's quiet-stretch losses and their CUSUM."""

    __slots__ = (
        "condition",
        "cusum",
        "flagged",
        "last_ts",
        "smooth",
        "spread",
        "start_n",
        "start_sum",
        "stretch",
        "stretches",
    )

    def __init__(self, spread: float) -> None:
        self.cusum = 0.0
        self.spread = spread
        self.stretch: float | None = None  # the reference time of the stretch under way
        self.start_sum = 0.0
        self.start_n = 0
        self.smooth = math.nan
        self.flagged = False
        self.last_ts = -math.inf
        self.stretches: deque[tuple[float, float, float]] = deque(maxlen=NIGHTS_KEPT)
        """(start, end, loss share) of the last stretches that added to the sum."""
        self.condition = Condition()

    def begin(self, ref_ts: float) -> None:
        self.stretch = ref_ts
        self.start_sum, self.start_n, self.smooth, self.flagged = 0.0, 0, math.nan, False

    def add(self, level: float) -> None:
        if self.start_n < START_EVALS:
            self.start_sum += level
            self.start_n += 1
        s = self.smooth
        self.smooth = level if s != s else s + SMOOTHING * (level - s)

    def loss(self, pledge_kg: float) -> float | None:
        """Stock lost in the stretch so far, share of the pledge; None too early."""
        if self.start_n < START_EVALS:
            return None
        return (self.start_sum / self.start_n - self.smooth) / pledge_kg


class SlowLossDetector:
    """Per weighed lot: the CUSUM of its quiet-stretch losses above ``threshold``."""

    def __init__(self, index: FleetIndex, rule: SlowLossRule) -> None:
        self.index = index
        self.rule = rule
        self.lots: dict[str, LotLoss] = {}

    def observe(
        self,
        reading: Reading,
        device: DeviceContext,
        state: LotState | None,
        moved_out_of_hours: bool,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        """Follow the lot of ``device`` at ``reading`` if the movement detector judged it
        then (``state``: its per-lot state; ``moved_out_of_hours``: its alert is raised)."""
        cid = device.collateral_id
        if state is None or cid is None or state.level_ts != reading.ts:
            return None
        lot = self.index.collateral.get(cid)
        if lot is None or lot.kg_per_unit is None:
            return None
        return self.judge(self.lot(cid), lot, state, moved_out_of_hours, reading.ts, book, wall)

    def lot(self, collateral_id: str) -> LotLoss:
        """What the detector keeps of a weighed lot, made on its first judged level
        (`riskstream.detectors.lot_chain` holds it)."""
        loss = self.lots.get(collateral_id)
        if loss is None:
            loss = self.lots[collateral_id] = LotLoss(self.rule.allowance / 3.0)
        return loss

    def judge(
        self,
        loss: LotLoss,
        lot: CollateralContext,
        state: LotState,
        moved_out_of_hours: bool,
        ts: float,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        """`observe` at event time ``ts``, at which the movement detector judged the lot
        (``lot``, weighed: its ``kg_per_unit`` is known), its `lot` looked up."""
        if ts <= loss.last_ts:
            return None
        loss.last_ts = ts
        assert lot.kg_per_unit is not None
        pledge_kg = lot.collateral.quantity * lot.kg_per_unit
        rule = self.rule
        allowance = rule.allowance
        spread = 3.0 * loss.spread
        if spread > allowance:  # `max`, the first of equals
            allowance = spread
        if state.ref is not None:
            if loss.stretch != state.ref_ts:
                if loss.stretch is not None:
                    self._close(loss, pledge_kg, allowance, ts)
                loss.begin(state.ref_ts)
            loss.add(state.level)
            if moved_out_of_hours or state.foreign_kg:
                loss.flagged = True
        elif loss.stretch is not None:
            self._close(loss, pledge_kg, allowance, ts)
        now = loss.loss(pledge_kg) if loss.stretch is not None and not loss.flagged else None
        live = loss.cusum
        if now is not None and now - allowance > 0.0:  # + max(0, now - allowance)
            live += now - allowance
        if not rule.enabled:
            return None
        condition = loss.condition
        # raised, it holds while out-of-hours movement speaks for the stretch (a drain
        # going on through the night): one alert, not one a night
        breached = live >= rule.threshold or (condition.raised and (live > 0.0 or loss.flagged))
        transition = condition.observe(ts, breached, rule.for_, rule.clear_after)
        if transition == "none":
            return None
        cid = lot.collateral.id
        return settle(
            book,
            (lot.tenant, lot.borrower_id, KIND, cid),
            transition,
            condition,
            ts,
            wall,
            # shown even when out-of-hours movement speaks for the stretch (not summed)
            lambda since: self._finding(
                lot,
                loss,
                loss.loss(pledge_kg) if loss.stretch is not None else None,
                live,
                allowance,
                since,
            ),
            lambda: (
                "cleared: quiet stretches without loss brought the sum back to 0 "
                f"for {format_duration(rule.clear_after)}"
            ),
        )

    def _close(self, loss: LotLoss, pledge_kg: float, allowance: float, ts: float) -> None:
        """The stretch under way ended: sum its loss, learn its spread if it was usual."""
        lost = loss.loss(pledge_kg)
        start = loss.stretch
        loss.stretch = None
        if lost is None or start is None:
            return
        if loss.flagged:
            # out-of-hours movement raised for it: shown in the reasons, not summed
            if lost > allowance and loss.condition.raised:
                loss.stretches.append((start, ts, lost))
            return
        if loss.cusum == 0.0 and lost < allowance:
            loss.spread += SPREAD_LEARNING * (abs(lost) - loss.spread)
        loss.cusum = max(0.0, loss.cusum + lost - allowance)
        if lost > allowance:
            loss.stretches.append((start, ts, lost))
        elif loss.cusum == 0.0:
            loss.stretches.clear()

    def _finding(
        self,
        lot: CollateralContext,
        loss: LotLoss,
        now: float | None,
        live: float,
        allowance: float,
        since: float,
    ) -> Finding:
        c = lot.collateral
        zone = self.index.zone(c.site)
        parts = [
            f"{datetime.fromtimestamp(start, zone):%a %d %b} {lost:.1%}"
            for start, _, lost in loss.stretches
        ]
        if now is not None and loss.stretch is not None:
            parts.append(f"{datetime.fromtimestamp(loss.stretch, zone):%a %d %b} {now:.1%} so far")
        lost_share = sum(lost for _, _, lost in loss.stretches) + max(0.0, now or 0.0)
        lost_units = lost_share * c.quantity
        reasons = [
            f"stock fell in each quiet stretch: {', '.join(parts)} of the pledge, "
            f"{lost_units:,.1f} {c.unit} in all; each alone is below the out-of-hours "
            "threshold",
            f"sum of losses beyond {allowance:.1%} a stretch is {live:.1%} of the pledge "
            f"(≥ {self.rule.threshold:.1%}) since {clock(since)}",
        ]
        return lot_finding(
            lot,
            kind=KIND,
            severity=self.rule.severity,
            score=min(100.0, 50.0 + 1000.0 * live),
            reasons=reasons,
            evidence={
                "collateral_id": c.id,
                "stretches": [
                    {"start": start, "end": end, "loss_share": round(lost, 5)}
                    for start, end, lost in loss.stretches
                ],
                "current_loss_share": None if now is None else round(now, 5),
                "cusum": round(live, 5),
                "allowance": round(allowance, 5),
                "threshold": self.rule.threshold,
                "lost_quantity": round(lost_units, 3),
                "unit": c.unit,
                "lost_value": round(max(0.0, lost_units) * c.unit_value, 2),
            },
        )
