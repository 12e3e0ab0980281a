"""A lot's weight from its load cells, kept per reading, and the cells that fail.

Platform scales, silos and bunkers sum 2–8 load cells into one weight. Each cell carries
a roughly constant share of the load (a silo's legs by geometry, a platform by where the
goods stand), so a cell can be checked against its siblings: the weight they carry, times
its usual share over theirs, is what it should read. Per lot the detector keeps:

- each cell's latest value, filtered by the median of its last three readings (a
  forklift on one corner for one reading does not move the lot);
- the sum of the cells in use, updated by difference on each reading (O(1), however
  many cells);
- each cell's usual share of the lot, learned slowly while the cell agrees with the
  others and the lot is not near empty, and never more than half of ``offset_tolerance``
  from the share it was first seen with (so a cell drifting slowly away from its
  siblings ends up judged as offset, not followed for ever).

A cell reading more than ``offset_tolerance`` off its siblings is held out of the lot's
weight at once (so one cell's offset never moves the lot), and is an offset once each of
its siblings has reported again with the lot's weight unchanged; when the siblings follow
it (goods put on or taken off the platform), it agrees with them again and is back in use.

A cell is set aside when it repeats one exact value (`FROZEN_REPEATS` times: a working
cell's noise makes that all but impossible), when it reads more than ``tolerance`` off
what its siblings imply (a broken cable reading near zero, a crushed cell), when it reads
more than ``offset_tolerance`` off them while they stay put (an offset: a cell knocked, a
mount shifted; a real load change moves every cell of a platform or silo, an offset moves
one), when it reads what
no scale carries (beyond `PLAUSIBLE_PLEDGES` times the pledge, or below minus a tenth of
it: a hostile or garbled message), or when it has not reported for ``stale_intervals`` of
its interval while a sibling does (dead). The
lot is then weighed on the cells that work, scaled by their usual share, and once a
cell has been set aside for ``for`` it raises ``load_cell_fault`` on that cell: a
device-health alert, not an inventory one. A lot weighed by one cell is passed through
as it reads (the movement detector filters it, `lot_moves.LotState.take`).
"""

import math
from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from devices.reading import Reading
from riskstream.detectors.findings import device_finding
from riskstream.detectors.settle import settle
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
)

KIND = "load_cell_fault"
FROZEN_REPEATS = 3
SHARE_LEARNING = 0.02  # weight of a new reading in a cell's usual share
MIN_LEVEL_SHARE = 0.05  # below this share of the pledge, shares say nothing: not judged
# working cells carrying less of the lot than this cannot weigh it or judge a sibling
# (and once every cell is set aside, the sums are rounding residue)
MIN_WORKING_SHARE = 0.2
# a cell reading beyond this many times the lot's pledge, or below minus a tenth of it,
# reads nothing a scale can carry: set aside at once (and kept out of the sums, where a
# few such values would overflow them for good)
PLAUSIBLE_PLEDGES = 10.0

Fault = str  # "" (working), "stuck", "off", "offset", "silent", or "held" (suspected offset)
HELD = "held"  # out of the lot's weight, not (yet) a fault
NOTHING: tuple[Alert, ...] = ()


class LoadCellFaultRule(RuleTable):
    """A load cell of a multi-cell lot set aside: stuck, off its siblings, offset, or silent."""

    matrix_component: ClassVar[AlertComponent] = "conduct"

    enabled: Enabled = True
    tolerance: float = Field(
        0.3,
        gt=0,
        le=1,
        description="how far off what its siblings imply a cell may read, as a share of that",
    )
    offset_tolerance: float = Field(
        0.05,
        gt=0,
        le=1,
        description=(
            "a cell off what its siblings imply by more than this share, once each sibling "
            "has reported again and the lot stayed put, is offset (knocked, mount shifted); "
            "it is held out of the lot's weight from its first such reading"
        ),
    )
    stale_intervals: float = Field(
        5.0, ge=2, description="intervals without a report, while its siblings report, to be silent"
    )
    for_: HoldFor = Field(900.0, alias="for")
    clear_after: ClearAfter = 1800.0
    severity: AlertSeverity = "warning"


class Cells:
    """The cells of one lot: what each reads, its usual share, whether it is in use."""

    __slots__ = (
        "base_shares",
        "conditions",
        "faults",
        "healthy_share",
        "healthy_sum",
        "ids",
        "index",
        "intervals",
        "last_ts",
        "lot_ref",
        "n_faulty",
        "n_in_use",
        "next_silence",
        "pledge_kg",
        "r1",
        "r2",
        "repeats",
        "seen",
        "shares",
        "suspect_since",
        "total",
        "values",
        "watch",
    )

    def __init__(self, cells: tuple[str, ...], intervals: list[float], pledge_kg: float) -> None:
        n = len(cells)
        self.ids = cells
        self.index = {cell: i for i, cell in enumerate(cells)}
        self.intervals = intervals
        self.pledge_kg = pledge_kg
        self.values = [math.nan] * n
        self.r1 = [math.nan] * n
        self.r2 = [math.nan] * n
        self.repeats = [0] * n
        self.last_ts = [-math.inf] * n
        self.shares = [math.nan] * n
        self.base_shares = [math.nan] * n  # the shares first learned: drift is bounded by them
        self.suspect_since = [math.nan] * n  # a held cell's first reading off its siblings
        self.lot_ref = [math.nan] * n  # the lot's weight then
        self.faults: list[Fault] = [""] * n
        self.conditions = [Condition() for _ in range(n)]
        self.n_faulty = 0
        self.n_in_use = 0  # cells in the healthy sums
        self.next_silence = -math.inf
        self.watch: set[int] = set()  # cells whose condition is not at rest
        self.seen = 0
        self.healthy_sum = 0.0
        self.healthy_share = 0.0
        self.total: float | None = None

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        """Restore a checkpoint; one written before offsets were followed has no offset
        state (start it empty) nor count of cells in use (count them)."""
        slots = state[1]
        n = len(slots["values"])  # type: ignore[arg-type]
        for name in ("base_shares", "suspect_since", "lot_ref"):
            setattr(self, name, [math.nan] * n)
        for name, value in slots.items():
            setattr(self, name, value)
        if "n_in_use" not in slots:
            self.n_in_use = sum(1 for i in range(n) if self.in_use(i))

    def filtered(self, i: int, value: float) -> float:
        """The median of the cell's last three readings (fewer at first); counts repeats."""
        a, b = self.r1[i], self.r2[i]
        self.repeats[i] = self.repeats[i] + 1 if value == a else 0
        self.r2[i], self.r1[i] = a, value
        if b != b:
            return value
        low, high = (value, a) if value < a else (a, value)
        return low if b < low else high if b > high else b

    def others(self, i: int) -> tuple[float, float]:
        """(sum, usual share) of the working cells other than ``i``."""
        if self.faults[i] or self.values[i] != self.values[i]:
            return self.healthy_sum, self.healthy_share
        own_share = self.shares[i] if self.shares[i] == self.shares[i] else 0.0
        return self.healthy_sum - self.values[i], self.healthy_share - own_share

    def expected(self, i: int) -> float:
        """What cell ``i`` should read, from the working cells other than it (NaN: unknown)."""
        share = self.shares[i]
        others_sum, others_share = self.others(i)
        if others_share < MIN_WORKING_SHARE or share != share:
            return math.nan
        return others_sum * share / others_share

    def set_fault(self, i: int, fault: Fault) -> None:
        """Mark cell ``i`` working ("") or set aside, keeping the count of those set aside."""
        self.n_faulty += bool(fault) - bool(self.faults[i])
        self.faults[i] = fault

    def in_use(self, i: int) -> bool:
        """Whether cell ``i`` counts in the healthy sums."""
        return not self.faults[i] and self.values[i] == self.values[i]

    def remove(self, i: int) -> None:
        """Take cell ``i`` out of the healthy sums (it must be in them)."""
        self.healthy_sum -= self.values[i]
        if self.shares[i] == self.shares[i]:
            self.healthy_share -= self.shares[i]
        self.n_in_use -= 1
        if not self.n_in_use:
            self.healthy_sum = self.healthy_share = 0.0  # no rounding residue left

    def add(self, i: int) -> None:
        """Put cell ``i`` into the healthy sums."""
        self.healthy_sum += self.values[i]
        if self.shares[i] == self.shares[i]:
            self.healthy_share += self.shares[i]
        self.n_in_use += 1


class LotWeightDetector:
    """Every multi-cell lot's weight, and ``load_cell_fault`` on the cells set aside."""

    in_band_fast_path: ClassVar[bool] = True
    """Whether `_in_band` takes the commonest readings (the tests turn it off to compare
    with `_judge` alone)."""

    def __init__(self, index: FleetIndex, rule: LoadCellFaultRule) -> None:
        self.index = index
        self.rule = rule
        self._lots: dict[str, Cells | None] = {}

    def total(self, collateral_id: str, reading: Reading) -> float | None:
        """The lot's weight after ``reading`` (the one just observed); None until known."""
        cells = self._lots.get(collateral_id)
        return reading.value if cells is None else cells.total

    def cells_of(self, collateral_id: str) -> Cells | None:
        """The cells of a lot, built on its first reading; None for a lot of one cell (or
        none: weighed as its reading reads)."""
        try:
            return self._lots[collateral_id]
        except KeyError:
            return self._cells(collateral_id)

    def _cells(self, collateral_id: str) -> Cells | None:
        lot = self.index.collateral.get(collateral_id)
        cells = None
        if lot is not None and lot.kg_per_unit is not None and len(lot.load_cells) > 1:
            devices = self.index.devices
            intervals = [devices[c].interval_s if c in devices else 60.0 for c in lot.load_cells]
            pledge = lot.collateral.quantity * lot.kg_per_unit
            cells = Cells(lot.load_cells, intervals, pledge)
        self._lots[collateral_id] = cells
        return cells

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Sequence[Alert]:
        """Feed a ``weight_kg`` reading of a load cell bound to a lot; return the alerts
        it changed."""
        changed: dict[str, Alert] = {}
        self.weigh(reading, device, book, wall, changed)
        return list(changed.values())

    def weigh(
        self,
        reading: Reading,
        device: DeviceContext,
        book: AlertBook,
        wall: float,
        changed: dict[str, Alert],
    ) -> float | None:
        """`observe`, noting the alerts it changed in ``changed`` by id; return the lot's
        weight after ``reading`` (`total`), None until known.

        The hot path of every lot's reading: `Cells.filtered` and the usual case of
        `_update_total` written out, with the same arithmetic in the same order.
        """
        cid = device.collateral_id
        assert cid is not None
        try:
            cells = self._lots[cid]
        except KeyError:
            cells = self._cells(cid)
        if cells is None:
            return reading.value  # one cell: the lot's weight as it reads
        return self.weigh_cell(
            cells, cells.index.get(reading.device_id), reading, book, wall, changed
        )

    def weigh_cell(
        self,
        cells: Cells,
        i: int | None,
        reading: Reading,
        book: AlertBook,
        wall: float,
        changed: dict[str, Alert],
    ) -> float | None:
        """`weigh` of a reading of cell ``i`` of ``cells`` (None: a cell the lot does not
        know), both already looked up (`riskstream.detectors.lot_chain` keeps them per cell).

        The commonest reading, a cell in use whose new value stays within
        ``offset_tolerance`` of what its siblings imply on a lot whose level is known,
        is judged here (the in-band path): what `_judge` does with it, with the same
        arithmetic in the same order (the old value out of the healthy sums, the new one
        in, the share learned; no fault, no count changed). Any other goes to `_judge`.
        """
        ts = reading.ts
        last_ts = cells.last_ts
        if i is None or ts < last_ts[i]:
            return cells.total  # a cell the lot does not know, or a late reading
        last_ts[i] = ts
        # the median of the cell's last three readings (fewer at first); counts repeats
        value = reading.value
        r1, r2 = cells.r1, cells.r2
        a, b = r1[i], r2[i]
        repeats = cells.repeats
        repeated = repeats[i] = repeats[i] + 1 if value == a else 0
        r2[i], r1[i] = a, value
        if b == b:
            low, high = (value, a) if value < a else (a, value)
            value = low if b < low else high if b > high else b
        old = cells.values[i]
        share = cells.shares[i]
        total = cells.total
        pledge_kg = cells.pledge_kg
        rule = self.rule
        in_band = False
        if (
            old == old
            and not cells.faults[i]
            and cells.n_in_use > 1
            and share == share
            and total is not None
            and total >= MIN_LEVEL_SHARE * pledge_kg
            and -0.1 * pledge_kg <= value <= PLAUSIBLE_PLEDGES * pledge_kg
            and repeated < FROZEN_REPEATS
            and self.in_band_fast_path
        ):
            others_sum = cells.healthy_sum - old
            others_share = cells.healthy_share - share
            if others_share >= MIN_WORKING_SHARE:
                expected = others_sum * share / others_share
                off_by = abs(value - expected)
                scale = expected if expected > 1.0 else 1.0
                # NaN (an overflowed expectation) fails both: `_judge` takes it
                in_band = off_by <= rule.tolerance * scale and off_by <= (
                    rule.offset_tolerance * scale
                )
        if in_band:
            cells.values[i] = value
            if cells.suspect_since[i] == cells.suspect_since[i]:
                cells.suspect_since[i] = math.nan
            share = share + SHARE_LEARNING * (value / total - share)  # type: ignore[operator]
            base = cells.base_shares[i]
            if base == base:
                bound = 0.5 * rule.offset_tolerance * base
                low, high = base - bound, base + bound
                share = share if share > low else low
                share = share if share < high else high
            cells.shares[i] = share
            cells.healthy_sum = others_sum + value
            cells.healthy_share = others_share + share if share == share else others_share
        else:
            if old != old:
                cells.seen += 1
            self._judge(cells, i, old, value, ts)
        if ts >= cells.next_silence:
            self._find_silent(cells, ts)
        if cells.n_faulty or cells.seen < len(last_ts):
            self._update_total(cells)
        else:
            # every cell in use: the sum of their values (shares may not be learned yet)
            cells.total = cells.healthy_sum
            if cells.healthy_share <= 0.0:
                self._learn_first_shares(cells)
        if not (cells.faults[i] or cells.watch) or not rule.enabled:
            return cells.total
        for j in sorted({i, *cells.watch}):
            alert = self._settle(cells, j, ts, book, wall)
            if alert is not None:
                changed[alert.id] = alert
        return cells.total

    def _find_silent(self, cells: Cells, ts: float) -> None:
        """Set aside the cells silent for ``stale_intervals`` of their interval at ``ts``;
        note when the next one could be."""
        soonest = math.inf
        for j, last in enumerate(cells.last_ts):
            if last == -math.inf:
                continue
            limit = last + self.rule.stale_intervals * cells.intervals[j]
            if ts > limit:
                if not cells.faults[j]:
                    self._set_aside(cells, j, "silent")
            else:
                soonest = min(soonest, limit)
        cells.next_silence = soonest

    def _judge(self, cells: Cells, i: int, old: float, value: float, ts: float) -> None:
        """Put cell ``i``'s new value in use (its previous one: ``old``), or set the cell
        aside; learn its share.

        The hot path of a multi-cell lot: `Cells.expected`, `remove`, `add` and the
        ``max``/``min`` bounds written out, with the same arithmetic in the same order.
        """
        share = cells.shares[i]
        in_use = old == old and not cells.faults[i]
        if in_use:
            others_sum = cells.healthy_sum - old
            others_share = cells.healthy_share - (share if share == share else 0.0)
            # `Cells.remove`: the healthy sums without cell i are the others' sums
            cells.healthy_sum = others_sum
            if share == share:
                cells.healthy_share = others_share
            cells.n_in_use -= 1
            if not cells.n_in_use:
                cells.healthy_sum = cells.healthy_share = 0.0  # no rounding residue left
        else:
            others_sum, others_share = cells.healthy_sum, cells.healthy_share
        if others_share < MIN_WORKING_SHARE or share != share:
            expected = math.nan
        else:
            expected = others_sum * share / others_share
        cells.values[i] = value
        total = cells.total
        pledge_kg = cells.pledge_kg
        level_known = total is not None and total >= MIN_LEVEL_SHARE * pledge_kg
        fault: Fault = ""
        if not -0.1 * pledge_kg <= value <= PLAUSIBLE_PLEDGES * pledge_kg:
            fault = "off"
        elif level_known and cells.repeats[i] >= FROZEN_REPEATS:
            fault = "stuck"
        elif level_known and expected == expected:
            off_by = abs(value - expected)
            scale = expected if expected > 1.0 else 1.0
            rule = self.rule
            if off_by > rule.tolerance * scale:
                fault = "off"
            elif off_by > rule.offset_tolerance * scale:
                fault = self._offset(cells, i, ts)
        if fault or cells.faults[i]:
            cells.set_fault(i, fault)
        if fault:
            return
        if cells.suspect_since[i] == cells.suspect_since[i]:
            cells.suspect_since[i] = math.nan
        if level_known and total is not None and share == share:
            share = share + SHARE_LEARNING * (value / total - share)
            # a slow drift is followed only so far from the cell's first share: beyond
            # half the offset tolerance the cell reads off its siblings, and is judged
            base = cells.base_shares[i]
            if base == base:
                bound = 0.5 * self.rule.offset_tolerance * base
                low, high = base - bound, base + bound
                share = share if share > low else low
                share = share if share < high else high
            cells.shares[i] = share
        cells.healthy_sum += value
        if share == share:
            cells.healthy_share += share
        cells.n_in_use += 1

    def _offset(self, cells: Cells, i: int, ts: float) -> Fault:
        """Cell ``i`` reads more than ``offset_tolerance`` off its siblings at ``ts``: held
        out of the lot's weight, and an offset once every sibling has reported since with
        the lot's weight unchanged (siblings following it, a real load change, bring it
        back in line instead). A move of the lot's weight meanwhile starts the wait again."""
        total = cells.total
        since, ref = cells.suspect_since[i], cells.lot_ref[i]
        moved = total is None or abs(total - ref) > 0.5 * self.rule.offset_tolerance * ref
        if since != since or moved:
            cells.suspect_since[i], cells.lot_ref[i] = ts, math.nan if total is None else total
            return HELD
        if cells.faults[i] == "offset":
            return "offset"
        faults, last_ts = cells.faults, cells.last_ts
        for j in range(len(last_ts)):
            if j != i and faults[j] != "silent" and last_ts[j] <= since:
                return HELD
        return "offset"

    def _set_aside(self, cells: Cells, j: int, fault: Fault) -> None:
        if cells.in_use(j):
            cells.remove(j)
        cells.set_fault(j, fault)
        cells.watch.add(j)

    def _update_total(self, cells: Cells) -> None:
        """The lot's weight: the cells' sum, or the working cells scaled by their share."""
        if cells.seen < len(cells.values):
            cells.total = None
            return
        if not cells.n_faulty:
            # every cell in use: the sum of their values (shares may not be learned yet)
            cells.total = cells.healthy_sum
            if cells.healthy_share <= 0.0:
                self._learn_first_shares(cells)
            return
        if cells.healthy_share >= MIN_WORKING_SHARE:
            cells.total = cells.healthy_sum / cells.healthy_share
        # else too few working cells to weigh the lot: keep the last weight known

    def _learn_first_shares(self, cells: Cells) -> None:
        total = cells.healthy_sum
        if total < MIN_LEVEL_SHARE * cells.pledge_kg:
            return
        cells.shares = [v / total for v in cells.values]
        cells.base_shares = list(cells.shares)
        cells.healthy_share = sum(cells.shares)

    def _settle(
        self, cells: Cells, j: int, ts: float, book: AlertBook, wall: float
    ) -> Alert | None:
        cell_id = cells.ids[j]
        device = self.index.devices.get(cell_id)
        if device is None:
            return None
        rule = self.rule
        condition = cells.conditions[j]
        fault = cells.faults[j]
        breached = bool(fault) and fault != HELD
        transition = condition.observe(ts, breached, rule.for_, rule.clear_after)
        if condition.raised or condition.breach_since is not None:
            cells.watch.add(j)
        else:
            cells.watch.discard(j)
        return settle(
            book,
            (device.tenant, device.borrower_id, KIND, cell_id),
            transition,
            condition,
            ts,
            wall,
            lambda since: self._finding(cells, j, device, since),
            lambda: (
                f"cleared: agrees with its siblings again for {format_duration(rule.clear_after)}"
            ),
        )

    def _finding(self, cells: Cells, j: int, device: DeviceContext, since: float) -> Finding:
        fault = cells.faults[j] or "off"
        value, share = cells.values[j], cells.shares[j]
        expected = cells.expected(j)
        n = len(cells.values)
        working = n - sum(1 for f in cells.faults if f)
        what = {
            "stuck": f"repeats {value:,.1f} kg exactly",
            "silent": f"has not reported since {clock(cells.last_ts[j])}",
            "off": f"reads {value:,.1f} kg where its siblings imply {expected:,.1f} kg",
            "offset": (
                f"reads {value:,.1f} kg where its siblings imply {expected:,.1f} kg "
                f"(beyond {self.rule.offset_tolerance:.0%}) while they stayed put: an offset "
                "(knocked, or its mount shifted)"
            ),
        }.get(fault, f"reads {value:,.1f} kg")
        reasons = [
            f"load cell {device.device_id} {what} (usual share {share:.0%} of the lot) "
            f"since {clock(since)}",
            f"the lot is weighed on its {working} working cells of {n}, scaled by their "
            "usual share: its inventory alerts stay meaningful",
        ]
        off = abs(value - expected) / expected if expected and expected == expected else 0.0
        return device_finding(
            device,
            kind=KIND,
            severity=self.rule.severity,
            score=min(100.0, 40.0 + 60.0 * min(1.0, off)),
            reasons=reasons,
            evidence={
                "fault": fault,
                "value_kg": round(value, 1),
                "expected_kg": None if expected != expected else round(expected, 1),
                "usual_share": None if share != share else round(share, 4),
                "tolerance": self.rule.tolerance,
                "offset_tolerance": self.rule.offset_tolerance,
                "working_cells": working,
                "cells": n,
                "collateral_id": device.collateral_id,
                "for_s": self.rule.for_,
            },
        )
