"""Inventory on hand below the pledged quantity (sold out of trust, drained, moved).

On hand is the lot's weight (its one load cell's reading, or its cells' sum kept by
`lot_weight`, which sets failing cells aside), converted to the lot's unit; coverage is
on hand / pledged quantity (equal to value on hand / pledged value at the lot's unit
value).
"""

from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator

from devices.reading import Reading
from riskstream.detectors.findings import lot_finding
from riskstream.detectors.settle import settle
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import CollateralContext, FleetIndex
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
)

KIND = "inventory_below_pledge"


class InventoryRule(RuleTable):
    """Inventory on hand below the pledged quantity."""

    matrix_component: ClassVar[AlertComponent] = "collateral"

    enabled: Enabled = True
    coverage_below: float = Field(0.9, gt=0, le=2, description="on hand / pledged quantity")
    clear_above: float = Field(0.95, gt=0, le=2, description="coverage that clears the alert")
    for_: HoldFor = Field(1800.0, alias="for")
    clear_after: ClearAfter = 3600.0
    severity: AlertSeverity = "critical"

    @field_validator("clear_above")
    @classmethod
    def _clears_above_the_threshold(cls, value: float, info: ValidationInfo) -> float:
        below = info.data.get("coverage_below")
        if isinstance(below, float) and value <= below:
            raise ValueError(
                f"must be above coverage_below ({below:g}): an alert that clears where it "
                "opens would flap"
            )
        return value


class _Lot:
    """What the detector keeps of one weighed lot."""

    __slots__ = (
        "condition",
        "context",
        "kg_per_unit",
        "last_ok_on_hand",
        "last_ok_ts",
        "quantity",
    )

    def __init__(self, context: CollateralContext, kg_per_unit: float) -> None:
        self.context = context
        self.kg_per_unit = kg_per_unit
        self.quantity = context.collateral.quantity
        self.condition = Condition()
        self.last_ok_ts: float | None = None
        self.last_ok_on_hand = 0.0


LotInventory = _Lot
"""What the detector keeps of one weighed lot (`riskstream.detectors.lot_chain` holds it);
the class keeps its private name, which checkpoints record."""


class InventoryDetector:
    """Per collateral lot: coverage below ``coverage_below`` for ``for``."""

    def __init__(self, index: FleetIndex, rule: InventoryRule) -> None:
        self.index = index
        self.rule = rule
        self._lots: dict[str, _Lot | None] = {}

    def _lot(self, collateral_id: str) -> _Lot | None:
        context = self.index.collateral.get(collateral_id)
        if context is None or context.kg_per_unit is None:
            lot = None
        else:
            lot = _Lot(context, context.kg_per_unit)
        self._lots[collateral_id] = lot
        return lot

    def observe(
        self, reading: Reading, collateral_id: str, total_kg: float, book: AlertBook, wall: float
    ) -> Alert | None:
        """Judge the lot ``collateral_id`` at ``total_kg``, its weight after ``reading``."""
        return self.judge(self.lot(collateral_id), reading, collateral_id, total_kg, book, wall)

    def lot(self, collateral_id: str) -> "_Lot | None":
        """What the detector keeps of a lot, built on its first weight; None for a lot it
        cannot judge (no weight per unit)."""
        try:
            return self._lots[collateral_id]
        except KeyError:
            return self._lot(collateral_id)

    def judge(
        self,
        state: "_Lot | None",
        reading: Reading,
        collateral_id: str,
        total_kg: float,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        """`observe` with the lot's `lot` already looked up."""
        if state is None or not self.rule.enabled:
            return None
        lot = state.context
        on_hand = total_kg / state.kg_per_unit
        coverage = on_hand / state.quantity
        condition = state.condition
        rule = self.rule
        breached = coverage < rule.coverage_below or (
            condition.raised and coverage < rule.clear_above
        )
        if not breached:
            state.last_ok_ts, state.last_ok_on_hand = reading.ts, on_hand
            if not condition.raised:
                # what `Condition.observe` does then, without a call on most readings
                condition.breach_since = None
                return None
        transition = condition.observe(reading.ts, breached, rule.for_, rule.clear_after)
        if transition == "none":
            return None
        return settle(
            book,
            (lot.tenant, lot.borrower_id, KIND, collateral_id),
            transition,
            condition,
            reading.ts,
            wall,
            lambda since: self._finding(state, reading, on_hand, coverage, since),
            lambda: (
                f"cleared: coverage back to {coverage:.0%} (≥ {rule.clear_above:.0%}) "
                f"for {format_duration(rule.clear_after)}"
            ),
        )

    def _finding(
        self,
        state: _Lot,
        reading: Reading,
        on_hand: float,
        coverage: float,
        since: float,
    ) -> Finding:
        lot = state.context
        c = lot.collateral
        reasons = [
            f"inventory {on_hand:,.1f} {c.unit} is {coverage:.0%} of the pledged "
            f"{c.quantity:,.1f} {c.unit}; below {self.rule.coverage_below:.0%} "
            f"since {clock(since)}"
        ]
        last_ok = state.last_ok_ts
        if last_ok is not None and reading.ts > last_ok:
            hours = (reading.ts - last_ok) / 3600
            fall = state.last_ok_on_hand - on_hand
            if fall > 0 and hours > 0:
                reasons.append(
                    f"fell {fall:,.1f} {c.unit} ({fall / hours:,.1f} {c.unit}/h) "
                    f"since {clock(last_ok)}"
                )
        shortfall_value = max(0.0, c.quantity - on_hand) * c.unit_value
        return lot_finding(
            lot,
            kind=KIND,
            severity=self.rule.severity,
            score=(1.0 - coverage) * 100.0,
            reasons=reasons,
            evidence={
                "collateral_id": c.id,
                "on_hand": round(on_hand, 3),
                "unit": c.unit,
                "pledged_quantity": c.quantity,
                "coverage": round(coverage, 4),
                "threshold_coverage": self.rule.coverage_below,
                "for_s": self.rule.for_,
                "shortfall_value": round(shortfall_value, 2),
                "load_cells": list(lot.load_cells),
                "ts": reading.ts,
            },
        )
