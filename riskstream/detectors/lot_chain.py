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

The router also hands the chain the two steps around it, which it then takes inline
(`take_inline`): the coverage's note of the cell's latest weight before the chain
(`riskstream.engine.coverage.LatestCoverage.take`), and the stuck-values check of the
cell after it (`StuckValuesDetector.observe`, when its rule watches ``weight_kg``). The
common cases of a judged reading are written out here too: inventory's judgement of a
lot well covered (`InventoryDetector.judge`) and the stuck-values check of a value that
changed, each with the same arithmetic in the same order; anything else goes to the
detector's own method.
"""

from typing import TYPE_CHECKING, Any

from devices.reading import Reading
from riskstream.detectors.inventory import InventoryDetector, LotInventory
from riskstream.detectors.lot_moves import LotState
from riskstream.detectors.lot_weight import Cells, LotWeightDetector
from riskstream.detectors.movement import MovementDetector
from riskstream.detectors.slow_loss import LotLoss
from riskstream.detectors.stuck_values import StuckRun
from riskstream.engine.alerts import Alert
from riskstream.engine.fleet_index import CollateralContext, DeviceContext

if TYPE_CHECKING:
    from riskstream.detectors.double_pledge import DoublePledgeDetector
    from riskstream.detectors.pledged_elsewhere import PledgedElsewhereDetector
    from riskstream.detectors.slow_loss import SlowLossDetector
    from riskstream.detectors.stuck_values import StuckValuesDetector
    from riskstream.engine.coverage import LatestCoverage

__all__ = ["CellRefs", "LotChain", "LotRefs"]

WEIGHT = "weight_kg"


class LotRefs:
    """One lot's state in each lot detector, once that detector has built it."""

    __slots__ = ("cells", "collateral_id", "context", "inventory", "loss", "movement")

    def __init__(
        self, collateral_id: str, cells: Cells | None, context: CollateralContext | None
    ) -> None:
        self.collateral_id = collateral_id
        self.cells = cells  # None: one cell, weighed as it reads
        self.context = context  # the fleet's lot (None: not in the fleet)
        self.inventory: LotInventory | None = None
        self.movement: LotState | None = None
        self.loss: LotLoss | None = None


class CellRefs:
    """One cell's lot, its place among the lot's cells, and its stuck-values run."""

    __slots__ = ("i", "lot", "run")

    def __init__(self, lot: LotRefs, i: int | None) -> None:
        self.lot = lot
        self.i = i  # None: the lot's one cell, or a cell the lot does not know
        self.run: StuckRun | None = None  # once `StuckValuesDetector` made it


class LotChain:
    """The step of every lot's ``weight_kg`` reading (a callable `routing.Handler`).

    ``host`` is the engine (`riskstream.detectors.registry.Host`): its book, and the
    lot detectors, which stay the same objects for an engine's life.
    """

    __slots__ = (
        "_cells",
        "_lots",
        "_weights",
        "coverage",
        "elsewhere",
        "host",
        "inventory",
        "movement",
        "pledges",
        "slow_loss",
        "stuck",
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
        self.coverage: LatestCoverage | None = None
        self.stuck: StuckValuesDetector | None = None
        self._weights: dict[str, float] | None = None
        self._lots: dict[str, LotRefs] = {}
        self._cells: dict[str, CellRefs] = {}

    def take_inline(
        self, coverage: "LatestCoverage | None", stuck: "StuckValuesDetector | None"
    ) -> None:
        """Take the steps before and after the chain inline: noting the cell's latest
        weight in ``coverage``, and the stuck-values check of ``stuck`` (None: its rule
        does not watch ``weight_kg``). A chain is built anew when either changes
        (the rules, or a checkpoint's state)."""
        self.coverage = coverage
        self._weights = None if coverage is None else coverage.latest_weights
        self.stuck = stuck

    def _link(self, device: DeviceContext) -> CellRefs:
        cid = device.collateral_id
        assert cid is not None
        lot = self._lots.get(cid)
        if lot is None:
            context = self.inventory.index.collateral.get(cid)
            lot = self._lots[cid] = LotRefs(cid, self.weight.cells_of(cid), context)
        cells = lot.cells
        link = CellRefs(lot, None if cells is None else cells.index.get(device.device_id))
        self._cells[device.device_id] = link
        return link

    def __call__(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        """Take one ``weight_kg`` reading of a cell of ``device``'s lot."""
        device_id = reading.device_id
        value = reading.value
        ts = reading.ts
        weights = self._weights
        if weights is not None:
            # `LatestCoverage.take`
            weights[device_id] = value
            history = self.coverage.history  # type: ignore[union-attr]
            if history is not None:
                history.observe(device_id, ts, value)
        try:
            link = self._cells[device_id]
        except KeyError:
            link = self._link(device)
        lot = link.lot
        book = self.host.book
        cells = lot.cells
        if cells is None:
            total: float | None = value  # one cell: the lot's weight as it reads
        else:
            total = self.weight.weigh_cell(cells, link.i, reading, book, wall, changed)
        cid = lot.collateral_id
        movement = self.movement
        state = lot.movement
        if total is not None:
            inventory = lot.inventory
            if inventory is None:
                inventory = lot.inventory = self.inventory.lot(cid)
            alert = None
            if inventory is not None:
                rule = self.inventory.rule
                if rule.enabled:
                    # `InventoryDetector.judge` of a lot covered and not raised, written out
                    on_hand = total / inventory.kg_per_unit
                    condition = inventory.condition
                    if on_hand / inventory.quantity >= rule.coverage_below and not (
                        condition.raised
                    ):
                        inventory.last_ok_ts, inventory.last_ok_on_hand = ts, on_hand
                        condition.breach_since = None
                    else:
                        alert = self.inventory.judge(inventory, reading, cid, total, book, wall)
            if alert is not None:
                changed[alert.id] = alert
            if state is None:
                state = lot.movement = movement.lot_state(cid)
            if state is not None:
                if (
                    state.last_ts <= ts < state.next_eval
                    and (total != state.r1 or not state.single)
                    and not state.repeats
                ):
                    # `MovementDetector.take` of a weight between two judgements (the
                    # commonest on a lot of several cells), written out: the last two
                    # weights kept for the median, the level not worked out
                    state.last_ts = ts
                    state.r2, state.r1 = state.r1, total
                else:
                    for alert in movement.take(state, reading, cid, total, book, wall):
                        changed[alert.id] = alert
        elif state is None:
            state = lot.movement = movement.lots.get(cid)
        if state is not None and state.level_ts == ts:  # judged at this reading
            context = lot.context
            if context is not None and context.kg_per_unit is not None:
                loss = lot.loss
                if loss is None:
                    loss = lot.loss = self.slow_loss.lot(cid)
                alert = self.slow_loss.judge(
                    loss, context, state, state.condition.raised, ts, book, wall
                )
                if alert is not None:
                    changed[alert.id] = alert
        if movement.moves:
            for alert in self.pledges.observe(movement.take_moves(), movement, book, wall):
                changed[alert.id] = alert
        if self.elsewhere.tracking:
            self.elsewhere.observe(reading, device)
        stuck = self.stuck
        if stuck is None:
            return
        # `StuckValuesDetector.observe` of the cell's weight
        run = link.run
        if run is None:
            alert = stuck.observe(reading, device, book, wall)
            link.run = stuck.run_of(device_id, WEIGHT)
        elif not stuck.rule.enabled:
            return
        elif run.value != value and not run.raised:
            run.value, run.since, run.count = value, ts, 1
            return
        else:
            alert = stuck.follow(run, reading, device, book, wall)
        if alert is not None:
            changed[alert.id] = alert
