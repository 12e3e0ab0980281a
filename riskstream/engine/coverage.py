"""Latest collateral coverage per lot, as the inventory rule sees it.

The engine notes the last weight of every load cell (one dict store per reading);
coverage is computed when asked: on hand (sum of the lot's load cells, in the pledge's
unit) / pledged quantity, the same figure `InventoryDetector` alerts on.
"""

from dataclasses import dataclass, field

from riskstream.engine.fleet_index import FleetIndex


@dataclass(frozen=True)
class LotCoverage:
    """Coverage of one pledged lot."""

    collateral_id: str
    coverage: float
    on_hand: float
    pledged: float
    unit: str


@dataclass
class LatestCoverage:
    """Last ``weight_kg`` of every load cell, and coverage of lots from them."""

    index: FleetIndex
    _kg: dict[str, float] = field(default_factory=dict)
    _lots: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for collateral_id, lot in self.index.collateral.items():
            self._lots.setdefault(lot.borrower_id, []).append(collateral_id)

    def observe(self, device_id: str, weight_kg: float) -> None:
        """Note the latest weight of a load cell."""
        self._kg[device_id] = weight_kg

    def lot(self, collateral_id: str) -> LotCoverage | None:
        """Coverage of one lot, or None until every one of its load cells reported."""
        lot = self.index.collateral.get(collateral_id)
        if lot is None or not lot.load_cells or lot.kg_per_unit is None:
            return None
        weights = [self._kg.get(cell) for cell in lot.load_cells]
        if any(w is None for w in weights):
            return None
        on_hand = sum(w for w in weights if w is not None) / lot.kg_per_unit
        c = lot.collateral
        return LotCoverage(c.id, on_hand / c.quantity, on_hand, c.quantity, c.unit)

    def of_borrower(self, borrower_id: str) -> list[LotCoverage]:
        """Coverage of every weighed lot of a borrower."""
        lots = (self.lot(cid) for cid in self._lots.get(borrower_id, []))
        return [lot for lot in lots if lot is not None]
