"""Latest collateral coverage per lot, as the inventory rule sees it.

The engine notes the last weight of every load cell (one dict store per reading);
coverage is computed when asked: on hand (sum of the lot's load cells, in the pledge's
unit) / pledged quantity, the same figure `InventoryDetector` alerts on. An engine whose
coverage history is switched on (`keep_history`: a cluster's risk partitions, whose API
processes have no telemetry store to draw the coverage chart from) also keeps each load
cell's weights per bucket (`riskstream.engine.coverage_history`).
"""

from dataclasses import dataclass, field

from devices.reading import Reading
from riskstream.engine.alerts import Alert
from riskstream.engine.coverage_history import CoverageHistory, LotHistory, bounded
from riskstream.engine.fleet_index import DeviceContext, FleetIndex


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
    history: CoverageHistory | None = None
    """Each load cell's weights per bucket; None (the default) keeps none."""

    def __post_init__(self) -> None:
        for collateral_id, lot in self.index.collateral.items():
            self._lots.setdefault(lot.borrower_id, []).append(collateral_id)

    def observe(self, device_id: str, weight_kg: float, ts: float) -> None:
        """Note the latest weight of a load cell, read at event time ``ts``."""
        self._kg[device_id] = weight_kg
        if self.history is not None:
            self.history.observe(device_id, ts, weight_kg)

    @property
    def latest_weights(self) -> dict[str, float]:
        """The latest weight of each load cell, by device id: the dict `take` stores in
        (`riskstream.detectors.lot_chain.LotChain` stores in it inline; a checkpoint's
        state replaces it, after which the engine builds its chains anew)."""
        return self._kg

    def take(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        """`observe` a load cell's ``weight_kg`` reading, as a routing handler (the first
        step of a lot's weight reading, unless the lot chain takes it inline)."""
        self._kg[reading.device_id] = reading.value
        if self.history is not None:
            self.history.observe(reading.device_id, reading.ts, reading.value)

    def keep_history(self) -> None:
        """Keep the coverage history from now on (kept if it already is)."""
        if self.history is None:
            self.history = CoverageHistory()

    def history_of_borrower(self, borrower_id: str) -> list[LotHistory]:
        """The coverage history of a borrower's weighed lots, `bounded`; [] if not kept."""
        if self.history is None:
            return []
        found = (self.index.collateral.get(cid) for cid in self._lots.get(borrower_id, []))
        histories = (self.history.of_lot(lot) for lot in found if lot is not None)
        return bounded([h for h in histories if h is not None])

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
