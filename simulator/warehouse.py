"""The stock of a pledged lot, and the load cell and RFID gate that watch it.

A `Ledger` is the one truth about a lot's stock, in handling units (pallets, bundles,
coils). It is a list of moves per local day, each a truck being loaded or unloaded
over some minutes: normal business (goods out to customers and in from suppliers, in
business hours on working days, each day's deliveries steering the stock towards a
target that follows the season, never below `STOCK_FLOOR` nor above `STOCK_CAP` times
the pledge) plus the moves a scenario adds. Normal business does not see scenario
moves, so a drained lot is not refilled. Moves carry whether they pass the RFID gate.

The load cells and the gate each read the ledger through their own `Cursor`, so their
values agree: the weight is units × unit mass (with noise and slow drift), the gate
counts the units that crossed it since its previous report.

A lot weighed by several cells (a platform scale on four, a silo on its legs) gives
each cell a fixed share of the load (`cell_shares`), and each cell its own noise and
drift (`CellSpec`), in the ranges load-cell data sheets give: noise from 0.02 % of the
load (an OIML R60 class C3 cell's combined error) to 0.5 % (a silo leg in wind and
sun), drift up to 0.2 % in 30 days (creep and zero drift with temperature). A cell can
fail on its own (`LoadCellModel.offsets`): reading a share of its load off while its
siblings keep reporting.
"""

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from math import floor

from simulator.business import STOCK_CAP, STOCK_FLOOR, BusinessProfile
from simulator.clock import LocalDay
from simulator.signals import MONTH_S, DeviceModel

# start (epoch s), duration (s), signed units (+ in, - out), counted by the gate
Move = tuple[float, float, int, bool]

SLOT_S = 30 * 60.0  # one truck per slot at the dock
LOAD_MIN_S, LOAD_MAX_S = 15 * 60.0, 25 * 60.0
LOAD_CELL_NOISE = 0.001  # relative, a lot's one cell
LOAD_CELL_DRIFT = 0.002  # at most, relative per 30 days
CELL_NOISE_RANGE = (0.0002, 0.005)  # relative, each cell of a multi-cell lot
CELL_SPIKE_RANGE = (1.05, 1.25)  # a forklift wheel on one corner, one reading
KEEP_DAYS = 3


@dataclass(frozen=True, slots=True)
class CellSpec:
    """One load cell of a lot: its share of the load and its own noise (relative)."""

    share: float = 1.0
    noise: float = LOAD_CELL_NOISE


def cell_shares(lot_id: str, cells: int, seed: int) -> list[CellSpec]:
    """Shares and noise of a lot's ``cells`` load cells (one cell: the whole load)."""
    if cells <= 1:
        return [CellSpec()]
    rng = random.Random(f"{seed}:{lot_id}:cells")
    weights = [rng.uniform(0.7, 1.3) for _ in range(cells)]
    total = sum(weights)
    return [CellSpec(w / total, rng.uniform(*CELL_NOISE_RANGE)) for w in weights]


class Ledger:
    """The stock of one lot: normal business moves per day, plus scenario moves.

    Attributes:
        pledge_units: the pledged quantity in handling units.
        unit_kg: mass of one handling unit.
        floor_units: normal business keeps the stock at or above this.
        cap_units: ...and at or below this.
        initial: the stock at the start of the first day.
    """

    __slots__ = (
        "_bounds",
        "_cal",
        "_days",
        "_extra",
        "_key",
        "_stock",
        "cap_units",
        "floor_units",
        "initial",
        "pledge_units",
        "profile",
        "unit_kg",
    )

    def __init__(
        self,
        lot_id: str,
        pledge_kg: float,
        unit_kg: float,
        profile: BusinessProfile,
        timezone: str,
        seed: int,
    ) -> None:
        """Set up the ledger of lot ``lot_id`` pledged at ``pledge_kg``."""
        self.unit_kg = unit_kg
        self.pledge_units = pledge_kg / unit_kg
        self.floor_units = math.ceil(STOCK_FLOOR * self.pledge_units)
        self.cap_units = max(self.floor_units, math.floor(STOCK_CAP * self.pledge_units))
        self.profile = profile
        self._key = f"{seed}:{lot_id}:ledger"
        self._cal = LocalDay(timezone)
        self._days: dict[int, tuple[float, float, list[Move]]] = {}
        self._bounds: tuple[float, float] | None = None
        self._extra: list[Move] = []
        self._stock = 0
        self.initial = 0

    def begin(self, start_ts: float) -> None:
        """Fix the first day (the local day of ``start_ts``) and the opening stock."""
        if self._bounds is not None:
            return
        self._cal.roll(start_ts)
        self._bounds = (self._cal.start, self._cal.end)
        rng = random.Random(f"{self._key}:open")
        share = rng.uniform(self.profile.stock_low, self.profile.stock_high)
        opening = round(share * self.pledge_units)
        self.initial = self._stock = min(self.cap_units, max(self.floor_units, opening))

    def add(self, moves: Iterable[Move]) -> None:
        """Add scenario moves (before the simulation reaches them)."""
        self._extra.extend(moves)
        self._extra.sort()

    def day(self, index: int) -> tuple[float, float, list[Move]]:
        """Day ``index`` (0 is the first): (start, end, moves sorted by start)."""
        while len(self._days) == 0 or index > max(self._days):
            self._compute(max(self._days) + 1 if self._days else 0)
        return self._days[index]

    def _compute(self, index: int) -> None:
        if self._bounds is None:
            raise RuntimeError("Ledger.begin must be called before reading the ledger")
        start, end = self._bounds
        cal = self._cal
        cal.roll(start)
        moves = self._business(start)
        moves.extend(m for m in self._extra if start <= m[0] < end)
        moves.sort()
        self._days[index] = (start, end, moves)
        self._days.pop(index - KEEP_DAYS, None)
        cal.roll(end)
        self._bounds = (cal.start, cal.end)

    def _business(self, start: float) -> list[Move]:
        """Normal moves of the day starting at ``start`` (the calendar is on that day)."""
        p, cal = self.profile, self._cal
        if not p.is_workday(cal):
            return []
        rng = random.Random(f"{self._key}:{start:.0f}")
        stock = self._stock
        share = rng.uniform(p.stock_low, p.stock_high) * (1.0 + 0.5 * (p.season(cal) - 1.0))
        share = min(STOCK_CAP - 0.03, max(STOCK_FLOOR + 0.03, share))
        truck = max(1, round(p.truck_kg / self.unit_kg))
        boost = 1.0 + (p.payday_boost if p.after_payday(cal) else 0.0)
        shipped = p.turnover * stock * boost * rng.uniform(0.6, 1.4)
        n_out = round(shipped / truck)
        n_in = max(0, round((share * self.pledge_units - stock) / truck) + n_out)
        loads = [-truck] * n_out + [truck] * n_in
        rng.shuffle(loads)
        slots = int((p.close_h - p.open_h) * 3600.0 / SLOT_S)
        loads = loads[:slots]
        chosen = sorted(rng.sample(range(slots), len(loads)))
        opens = start + p.open_h * 3600.0
        moves: list[Move] = []
        for slot, units in zip(chosen, loads, strict=True):
            at = opens + slot * SLOT_S + rng.uniform(0.0, 300.0)
            duration = rng.uniform(LOAD_MIN_S, LOAD_MAX_S)
            if self.floor_units <= stock + units <= self.cap_units:
                stock += units
                moves.append((at, duration, units, True))
        self._stock = stock
        return moves


class Cursor:
    """One reader's position in a ledger: stock and gate totals up to a time.

    Attributes:
        stock: units in the lot, moves finished so far.
        gate_in: units counted in by the gate, moves finished so far.
        gate_out: units counted out by the gate, moves finished so far.
    """

    __slots__ = (
        "_active",
        "_end",
        "_index",
        "_moves",
        "_pos",
        "gate_in",
        "gate_out",
        "ledger",
        "stock",
    )

    def __init__(self, ledger: Ledger) -> None:
        """Read ``ledger`` from its first day."""
        self.ledger = ledger
        self._index = -1
        self._end = -math.inf
        self._moves: list[Move] = []
        self._pos = 0
        self._active: list[Move] = []
        self.stock = 0
        self.gate_in = 0
        self.gate_out = 0

    def begin(self) -> None:
        """Start from the ledger's opening stock (after `Ledger.begin`)."""
        self.stock = self.ledger.initial

    def advance(self, ts: float) -> tuple[int, int, int]:
        """(stock, gate in total, gate out total) at ``ts``, moves in progress included."""
        while ts >= self._end:
            self._active.extend(self._moves[self._pos :])
            self._index += 1
            _, self._end, self._moves = self.ledger.day(self._index)
            self._pos = 0
        moves, pos = self._moves, self._pos
        while pos < len(moves) and moves[pos][0] <= ts:
            self._active.append(moves[pos])
            pos += 1
        self._pos = pos
        if not self._active:
            return self.stock, self.gate_in, self.gate_out
        keep: list[Move] = []
        part_in = part_out = gate_in = gate_out = 0
        for move in self._active:
            start, duration, units, gate = move
            share = (ts - start) / duration
            if share >= 1.0:
                self.stock += units
                if gate and units > 0:
                    self.gate_in += units
                elif gate:
                    self.gate_out -= units
                continue
            keep.append(move)
            moved = int(abs(units) * share)
            if units > 0:
                part_in += moved
                gate_in += moved if gate else 0
            else:
                part_out += moved
                gate_out += moved if gate else 0
        self._active = keep
        return (
            self.stock + part_in - part_out,
            self.gate_in + gate_in,
            self.gate_out + gate_out,
        )


class LoadCellModel(DeviceModel):
    """The weight on one load cell of a lot: ``weight_kg`` (its share of the lot's).

    Attributes:
        offsets: (start, end, factor) windows in which the cell reads ``factor`` times
            its load (a failing cell; `simulator.effects.cell_fault`).
    """

    __slots__ = ("cell", "cursor", "drift", "offsets", "t0")

    def __init__(
        self,
        device_id: str,
        interval: float,
        timezone: str,
        seed: int,
        ledger: Ledger,
        cell: CellSpec | None = None,
    ) -> None:
        """Set up a cell weighing its share of the lot of ``ledger`` (all of it by default)."""
        super().__init__(device_id, interval, timezone, seed)
        self.cursor = Cursor(ledger)
        self.drift = self.rng.uniform(-1.0, 1.0) * LOAD_CELL_DRIFT / MONTH_S
        self.t0 = 0.0
        self.cell = CellSpec() if cell is None else cell
        self.offsets: list[tuple[float, float, float]] = []

    def begin(self, start_ts: float) -> None:
        """Open the ledger at the start of the simulation."""
        self.cursor.ledger.begin(start_ts)
        self.cursor.begin()
        self.t0 = start_ts

    def values(self, ts: float) -> dict[str, float]:
        """Weight on the scale, kg."""
        units = self.cursor.advance(ts)[0]
        cell = self.cell
        kg = units * self.cursor.ledger.unit_kg * (1.0 + self.drift * (ts - self.t0))
        if cell.share != 1.0:
            kg *= cell.share
        noise = 1.0 + (self.rng.random() - 0.5) * 2.0 * cell.noise
        for start, end, factor in self.offsets:
            if start <= ts < end:
                kg *= factor
        return {"weight_kg": floor(kg * noise * 10.0 + 0.5) / 10.0}

    def spike(self, values: dict[str, float]) -> dict[str, float]:
        """A forklift driving over the scale (or, of several cells, one corner) for one reading."""
        low, high = (1.02, 1.08) if self.cell.share == 1.0 else CELL_SPIKE_RANGE
        kg = values["weight_kg"] * self.rng.uniform(low, high)
        return {"weight_kg": floor(kg * 10.0 + 0.5) / 10.0}


class RfidGateModel(DeviceModel):
    """Tagged units through the warehouse gate since the previous report."""

    __slots__ = ("cursor", "last_in", "last_out")

    def __init__(
        self, device_id: str, interval: float, timezone: str, seed: int, ledger: Ledger
    ) -> None:
        """Set up a gate counting the units of the lot of ``ledger``."""
        super().__init__(device_id, interval, timezone, seed)
        self.cursor = Cursor(ledger)
        self.last_in = 0
        self.last_out = 0

    def begin(self, start_ts: float) -> None:
        """Count from the start of the simulation."""
        self.cursor.ledger.begin(start_ts)
        self.cursor.begin()
        _, self.last_in, self.last_out = self.cursor.advance(start_ts)

    def values(self, ts: float) -> dict[str, float]:
        """``units_in_count`` and ``units_out_count`` since the previous report."""
        _, total_in, total_out = self.cursor.advance(ts)
        counted_in, counted_out = total_in - self.last_in, total_out - self.last_out
        self.last_in, self.last_out = total_in, total_out
        return {"units_in_count": float(counted_in), "units_out_count": float(counted_out)}
