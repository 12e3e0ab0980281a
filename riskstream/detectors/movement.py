"""Stock leaving a collateral lot out of hours: when this lot's stock does not normally move.

Per lot, once a minute of event time (`EVAL_S`), the level (median of the last three
weights of the lot, `lot_weight`) is judged against the lot's movement
schedule (`lot_schedule.MovementSchedule`, by local hour of week of its site). When a
quiet stretch begins, the level is the reference; stock falling ``drop_share`` of the
pledge below it, for ``for``, raises ``collateral_moved_out_of_hours`` on the lot.
Goods that a double pledge brought in (`expect_return`) may leave again unflagged.

A public holiday of the site (the rules' ``[calendar]``, by local date) is quiet in
every hour, whatever the schedule says of that weekday: the business is closed, so
stock leaving then is as out of hours as at night. Each closed hour is learned as moved
or still, unless the lot was falling in quiet hours then (flagged hours are not learned,
so a night drain never becomes usual) or it was a holiday (a closed day would make its
weekday look quieter than it is).
The lot's RFID gate (units counted out) and the door of its site are kept as
corroborating evidence. Moves that happen partly in quiet hours are handed to the
double-pledge detector (`take_moves`).
"""

import math
from datetime import datetime
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator

from devices.reading import Reading
from riskstream.detectors import movement_findings
from riskstream.detectors.lot_moves import LotState, Move
from riskstream.detectors.settle import settle
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.fleet_index import CollateralContext, DeviceContext, FleetIndex
from riskstream.rules.calendar import CalendarSettings
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
)

KIND = "collateral_moved_out_of_hours"
EVAL_S = 60.0
MIN_HOUR_EVALS = 20  # evaluations an hour needs before it is learned
RETURN_TOLERANCE = 0.05  # double-pledged goods leaving again: their weight within ± this
NOTHING: tuple[Alert, ...] = ()


class OutOfHoursRule(RuleTable):
    """Stock leaving a lot in hours when this lot's stock does not normally move."""

    matrix_component: ClassVar[AlertComponent] = "conduct"

    enabled: Enabled = True
    drop_share: float = Field(
        0.03, gt=0, le=1, description="fall since the quiet hours began, share of the pledge"
    )
    for_: HoldFor = Field(300.0, alias="for")
    clear_after: ClearAfter = 3600.0
    moved_share: float = Field(
        0.005, gt=0, le=1, description="an hour whose stock ranged this much (of the pledge) moved"
    )
    learn_weeks: int = Field(
        4, ge=1, le=8, description="weeks of an hour of week remembered to learn its movement"
    )
    min_weeks: int = Field(
        2, ge=1, le=8, description="weeks seen before an hour of week is judged on what it learned"
    )
    night_start_hour: int = Field(22, ge=0, le=23, description="cold start: quiet from")
    night_end_hour: int = Field(5, ge=0, le=23, description="cold start: quiet until")
    severity: AlertSeverity = "critical"

    @field_validator("min_weeks")
    @classmethod
    def _within_memory(cls, value: int, info: ValidationInfo) -> int:
        weeks = info.data.get("learn_weeks")
        if isinstance(weeks, int) and value > weeks:
            raise ValueError(f"must be at most learn_weeks ({weeks})")
        return value


class MovementDetector:
    """Per collateral lot: stock falling in its quiet hours, and its moves.

    ``rule`` and ``calendar`` are the rules file's (the engine replaces both on a reload;
    a checkpoint keeps neither). Without a calendar, the built-in holidays apply.
    """

    def __init__(
        self, index: FleetIndex, rule: OutOfHoursRule, calendar: CalendarSettings | None = None
    ) -> None:
        self.index = index
        self.rule = rule
        self.calendar = CalendarSettings() if calendar is None else calendar
        self.lots: dict[str, LotState] = {}
        self.moves: list[Move] = []
        self._doors: dict[str, list[str]] = {}
        self._gates: dict[str, list[str]] = {}
        for device in index.devices.values():
            if device.kind.value == "door":
                self._doors.setdefault(device.site_id, []).append(device.device_id)
            elif device.kind.value == "rfid_gate" and device.collateral_id is not None:
                self._gates.setdefault(device.collateral_id, []).append(device.device_id)
        self._site_lots: dict[str, list[str]] = {}
        for cid, lot in index.collateral.items():
            if lot.load_cells:
                self._site_lots.setdefault(lot.collateral.site, []).append(cid)

    def observe(
        self, reading: Reading, collateral_id: str, total: float, book: AlertBook, wall: float
    ) -> tuple[Alert, ...]:
        """Judge the lot ``collateral_id`` at weight ``total`` (kg), after ``reading``."""
        state = self.lot_state(collateral_id)
        if state is None:
            return NOTHING
        return self.take(state, reading, collateral_id, total, book, wall)

    def lot_state(self, collateral_id: str) -> LotState | None:
        """A weighed lot's state, built on its first weight; None for a lot not weighed."""
        state = self.lots.get(collateral_id)
        if state is None:
            lot = self.index.collateral.get(collateral_id)
            if lot is None or lot.kg_per_unit is None or not lot.load_cells:
                return None
            state = self.lots[collateral_id] = LotState(len(lot.load_cells) == 1)
        return state

    def take(
        self,
        state: LotState,
        reading: Reading,
        collateral_id: str,
        total: float,
        book: AlertBook,
        wall: float,
    ) -> tuple[Alert, ...]:
        """`observe` with the lot's `lot_state` already looked up."""
        ts = reading.ts
        if ts < state.last_ts:
            return NOTHING  # late (a replayed message, say)
        state.last_ts = ts
        a = state.r1
        if (total != a or not state.single) and not state.repeats:
            # `LotState.take` where no repeat is counted: written out
            b = state.r2
            state.r2, state.r1 = a, total
            if b != b:
                return NOTHING  # fewer than three weights yet
            low, high = (total, a) if total < a else (a, total)
            level = low if b < low else high if b > high else b
        else:
            # NaN from a stuck scale (values_stuck's to say): it tells nothing of the stock
            level = state.take(total)
        if ts < state.next_eval or level != level or not self.rule.enabled:
            return NOTHING
        state.next_eval = ts + EVAL_S
        return self._evaluate(state, self.index.collateral[collateral_id], level, ts, book, wall)

    def door(self, reading: Reading, device: DeviceContext) -> None:
        """A ``door_open`` reading: counted for the lots of its site in their quiet stretch."""
        if reading.value < 0.5:
            return
        for cid in self._site_lots.get(device.site_id, ()):
            state = self.lots.get(cid)
            if state is not None and state.ref is not None and reading.ts >= state.ref_ts:
                state.door_open_s += device.interval_s
                if state.door_since is None:
                    state.door_since = reading.ts

    def gate(self, reading: Reading, collateral_id: str) -> None:
        """A ``units_out_count`` reading of the lot's gate: counted in its quiet stretch."""
        state = self.lots.get(collateral_id)
        if state is not None and state.ref is not None and reading.ts >= state.ref_ts:
            state.gate_out += reading.value

    def take_moves(self) -> list[Move]:
        """Moves that ended since the last call (for the double-pledge detector)."""
        moves, self.moves = self.moves, []
        return moves

    def expect_return(self, collateral_id: str, kg: float, until: float) -> None:
        """Goods of another lot are here (a double pledge): they may leave until ``until``."""
        state = self.lots.get(collateral_id)
        if state is not None:
            state.foreign_kg, state.foreign_until = kg, until

    def _evaluate(
        self,
        state: LotState,
        lot: CollateralContext,
        level: float,
        ts: float,
        book: AlertBook,
        wall: float,
    ) -> tuple[Alert, ...]:
        rule = self.rule
        assert lot.kg_per_unit is not None
        pledge_kg = lot.collateral.quantity * lot.kg_per_unit
        if ts >= state.hour_end:
            self._next_hour(state, lot, ts, pledge_kg)
        if state.level != state.level:  # NaN: the lot's first level
            state.level, state.level_ts, state.calm_ts = level, ts, ts
        state.hour_n += 1
        judged = level if state.single else state.hour_level(level)
        if judged < state.hour_low:
            state.hour_low = judged
        if judged > state.hour_high:
            state.hour_high = judged
        if state.quiet and state.ref is None:
            state.ref, state.ref_ts, state.calm_ts = state.level, ts, ts
            state.gate_out, state.door_open_s, state.door_since = 0.0, 0.0, None
        elif not state.quiet:
            state.ref = None
        if state.foreign_kg and ts > state.foreign_until:
            state.foreign_kg = 0.0
        drop = 0.0 if state.ref is None else state.ref - level - state.foreign_kg
        if drop < rule.moved_share * pledge_kg:
            state.calm_ts = ts
        else:
            state.hour_flagged = True  # falling in quiet hours: not learned as usual
        condition = state.condition
        breached = drop >= rule.drop_share * pledge_kg or (
            condition.raised and drop >= 0.5 * rule.drop_share * pledge_kg
        )
        transition = condition.observe(ts, breached, rule.for_, rule.clear_after)
        move = state.track_move(level, ts, pledge_kg, lot.collateral.id)
        if move is not None:
            self._moved(state, move)
        state.level, state.level_ts = level, ts
        if transition == "none":
            return NOTHING
        if condition.raised:
            state.hour_flagged = True
        alert = settle(
            book,
            (lot.tenant, lot.borrower_id, KIND, lot.collateral.id),
            transition,
            condition,
            ts,
            wall,
            lambda since: movement_findings.out_of_hours(
                self, lot, state, level, drop, since, ts, self.index.zone(lot.collateral.site)
            ),
            lambda: (
                f"cleared: no stock leaving out of hours for {format_duration(rule.clear_after)}"
            ),
        )
        return NOTHING if alert is None else (alert,)

    def _moved(self, state: LotState, move: Move) -> None:
        if state.foreign_kg and move.delta_kg < 0:
            tolerance = RETURN_TOLERANCE * state.foreign_kg
            if abs(-move.delta_kg - state.foreign_kg) <= tolerance:
                # the double-pledged goods went back: the quiet stretch starts without them
                if state.ref is not None:
                    state.ref -= state.foreign_kg
                state.foreign_kg = 0.0
        self.moves.append(move)

    def _next_hour(
        self, state: LotState, lot: CollateralContext, ts: float, pledge_kg: float
    ) -> None:
        """Learn the hour that ended (unless flagged) and start the local hour holding ``ts``.

        An hour of a public holiday is quiet, and flagged from its start: not learned.
        """
        if state.hour_n >= MIN_HOUR_EVALS and not state.hour_flagged:
            moved = state.hour_high - state.hour_low >= self.rule.moved_share * pledge_kg
            state.schedule.learn(state.slot, moved)
        zone = self.index.zone(lot.collateral.site)
        local = datetime.fromtimestamp(ts, zone)
        state.hour_end = ts - (local.minute * 60 + local.second + local.microsecond / 1e6) + 3600.0
        state.slot = local.weekday() * 24 + local.hour
        holiday = self.calendar.is_holiday(zone.key, local.date())
        state.quiet = holiday or state.schedule.quiet(state.slot, self.rule)
        state.hour_low, state.hour_high, state.hour_n = math.inf, -math.inf, 0
        state.hour_flagged = holiday or state.condition.raised

    def doors_of(self, site_id: str) -> list[str]:
        """Door contacts of a site."""
        return self._doors.get(site_id, [])

    def gates_of(self, collateral_id: str) -> list[str]:
        """RFID gates bound to a lot."""
        return self._gates.get(collateral_id, [])
