"""A lot's weight reading through every lot detector: the `lot_weight` route's step.

One step for the chain rather than one route per detector: the lot's weight is worked
out once (`lot_weight`), then inventory and movement judge it, and slow loss, double
pledge and the cross-lender facts are called only at the readings they use (a minute's
judgement, a finished move, several lenders).

A lot's reading is the engine's commonest (a lot on eight cells sends eight a minute),
so the step looks its lot up once per reading, by the cell's id, and keeps each
detector's state of the lot at hand (`LotRefs`): no lookup by lot id per detector. The
references are taken from the detectors as they build their state, at the same readings
as without them, so the state and the alerts are those of looking everything up; a
new chain (the router builds one whenever the rules or the detectors' state change) starts
without any.
"""

from typing import TYPE_CHECKING, Any

from devices.reading import Reading
from riskstream.detectors.inventory import InventoryDetector, LotInventory
from riskstream.detectors.lot_moves import LotState
from riskstream.detectors.lot_weight import Cells, LotWeightDetector
from riskstream.detectors.movement import MovementDetector
from riskstream.engine.alerts import Alert
from riskstream.engine.fleet_index import DeviceContext

if TYPE_CHECKING:
    from riskstream.detectors.double_pledge import DoublePledgeDetector
    from riskstream.detectors.pledged_elsewhere import PledgedElsewhereDetector
    from riskstream.detectors.slow_loss import SlowLossDetector

__all__ = ["LotChain", "LotRefs"]


class LotRefs:
    """One lot's state in each lot detector, once that detector has built it."""

    __slots__ = ("cells", "collateral_id", "inventory", "movement")

    def __init__(self, collateral_id: str, cells: Cells | None) -> None:
        self.collateral_id = collateral_id
        self.cells = cells  # None: one cell, weighed as it reads
        self.inventory: LotInventory | None = None
        self.movement: LotState | None = None


class LotChain:
    """The step of every lot's ``weight_kg`` reading (a callable `routing.Handler`).

    ``host`` is the engine (`riskstream.detectors.registry.Host`): its book, and the
    lot detectors, which stay the same objects for an engine's life.
    """

    __slots__ = (
        "_cells",
        "_lots",
        "elsewhere",
        "host",
        "inventory",
        "movement",
        "pledges",
        "slow_loss",
        "weight",
    )

    def __init__(self, weight: LotWeightDetector, host: Any) -> None:
        self.weight = weight
        self.host = host
        self.inventory: InventoryDetector = host.detector("inventory")
        self.movement: MovementDetector = host.detector("movement")
        self.slow_loss: SlowLossDetector = host.detector("slow_loss")
        self.pledges: DoublePledgeDetector = host.detector("double_pledge")
        self.elsewhere: PledgedElsewhereDetector = host.detector("pledged_elsewhere")
        self._lots: dict[str, LotRefs] = {}
        self._cells: dict[str, tuple[LotRefs, int | None]] = {}

    def _link(self, device: DeviceContext) -> tuple[LotRefs, int | None]:
        cid = device.collateral_id
        assert cid is not None
        lot = self._lots.get(cid)
        if lot is None:
            lot = self._lots[cid] = LotRefs(cid, self.weight.cells_of(cid))
        cells = lot.cells
        link = (lot, None if cells is None else cells.index.get(device.device_id))
        self._cells[device.device_id] = link
        return link

    def __call__(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        """Take one ``weight_kg`` reading of a cell of ``device``'s lot."""
        try:
            lot, i = self._cells[reading.device_id]
        except KeyError:
            lot, i = self._link(device)
        book = self.host.book
        cells = lot.cells
        if cells is None:
            total: float | None = reading.value  # one cell: the lot's weight as it reads
        else:
            total = self.weight.weigh_cell(cells, i, reading, book, wall, changed)
        cid = lot.collateral_id
        movement = self.movement
        state = lot.movement
        if total is not None:
            inventory = lot.inventory
            if inventory is None:
                inventory = lot.inventory = self.inventory.lot(cid)
            alert = self.inventory.judge(inventory, reading, cid, total, book, wall)
            if alert is not None:
                changed[alert.id] = alert
            if state is None:
                state = lot.movement = movement.lot_state(cid)
            if state is not None:
                for alert in movement.take(state, reading, cid, total, book, wall):
                    changed[alert.id] = alert
        elif state is None:
            state = lot.movement = movement.lots.get(cid)
        if state is not None and state.level_ts == reading.ts:  # judged at this reading
            alert = self.slow_loss.observe(
                reading, device, state, state.condition.raised, book, wall
            )
            if alert is not None:
                changed[alert.id] = alert
        if movement.moves:
            for alert in self.pledges.observe(movement.take_moves(), movement, book, wall):
                changed[alert.id] = alert
        if self.elsewhere.tracking:
            self.elsewhere.observe(reading, device)
