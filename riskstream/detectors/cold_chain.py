"""Perishable collateral outside its storage temperature band (a cold-chain excursion).

A thermometer watches the band of the lot it is bound to, or else of a perishable lot
kept at its site (`Collateral.temperature_band_c`).
"""

from typing import ClassVar

from pydantic import Field

from devices.model import DeviceKind
from devices.reading import Reading
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

KIND = "cold_chain_excursion"


class ColdChainRule(RuleTable):
    """Perishable collateral outside its storage temperature band."""

    matrix_component: ClassVar[AlertComponent] = "collateral"

    enabled: Enabled = True
    tolerance_c: float = Field(0.5, ge=0, description="allowed overshoot of the band, °C")
    for_: HoldFor = Field(900.0, alias="for")
    clear_after: ClearAfter = 1800.0
    severity: AlertSeverity = "critical"


def _watched_lots(index: FleetIndex) -> dict[str, CollateralContext]:
    by_site: dict[str, CollateralContext] = {}
    for lot in index.collateral.values():
        if lot.collateral.temperature_band_c is not None:
            by_site.setdefault(lot.collateral.site, lot)
    watched: dict[str, CollateralContext] = {}
    for device in index.devices.values():
        if device.kind is not DeviceKind.TEMPERATURE:
            continue
        bound = index.collateral.get(device.collateral_id or "")
        if bound is not None and bound.collateral.temperature_band_c is not None:
            watched[device.device_id] = bound
        elif device.site_id in by_site:
            watched[device.device_id] = by_site[device.site_id]
    return watched


class ColdChainDetector:
    """Per thermometer of a perishable lot: temperature outside the band for ``for``."""

    def __init__(self, index: FleetIndex, rule: ColdChainRule) -> None:
        self.rule = rule
        self._lots = _watched_lots(index)
        self._conditions: dict[str, Condition] = {}

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """Feed a ``temperature_c`` reading."""
        lot = self._lots.get(reading.device_id)
        if lot is None or not self.rule.enabled:
            return None
        band = lot.collateral.temperature_band_c
        assert band is not None
        low, high = band
        tolerance = self.rule.tolerance_c
        outside = reading.value > high + tolerance or reading.value < low - tolerance
        condition = self._conditions.get(reading.device_id)
        if condition is None:
            condition = self._conditions[reading.device_id] = Condition()
        transition = condition.observe(reading.ts, outside, self.rule.for_, self.rule.clear_after)
        if transition == "none":
            return None
        key = (lot.tenant, lot.borrower_id, KIND, lot.collateral.id)
        return settle(
            book,
            key,
            transition,
            condition,
            reading.ts,
            wall,
            lambda since: self._finding(lot, device, reading, since),
            lambda: (
                f"cleared: back inside {low:g}..{high:g} °C for "
                f"{format_duration(self.rule.clear_after)}"
            ),
        )

    def _finding(
        self, lot: CollateralContext, device: DeviceContext, reading: Reading, since: float
    ) -> Finding:
        band = lot.collateral.temperature_band_c
        assert band is not None
        low, high = band
        subject = lot.collateral.id
        excess = reading.value - high if reading.value > high else low - reading.value
        return Finding(
            tenant=lot.tenant,
            borrower_id=lot.borrower_id,
            loan_id=lot.loan_id,
            site_id=device.site_id,
            device_id=reading.device_id,
            kind=KIND,
            subject=subject,
            severity=self.rule.severity,
            score=round(min(100.0, 40.0 + 5.0 * excess), 1),
            reasons=[
                f"{lot.collateral.description.split(';')[0] or subject} at "
                f"{reading.value:.1f} °C, outside its band {low:g}..{high:g} °C "
                f"since {clock(since)}",
            ],
            evidence={
                "temperature_c": reading.value,
                "band_c": [low, high],
                "tolerance_c": self.rule.tolerance_c,
                "for_s": self.rule.for_,
                "ts": reading.ts,
            },
            rule=f"rules.{KIND}",
        )
