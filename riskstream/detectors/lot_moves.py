"""A lot's stock level, judged once a minute: the state `movement` keeps per lot.

The level is the median of the lot's last three weights (a forklift on the scale for
one reading does not move it). Each lot also splits its level into moves: a move
starts when the level leaves its resting value by `MOVE_SHARE` of the pledge and ends
once it has stayed within `STILL_SHARE` for `SETTLE_S`.
"""

import math
from dataclasses import dataclass

from riskstream.detectors.lot_schedule import MovementSchedule
from riskstream.engine.conditions import Condition

MOVE_SHARE = 0.01
STILL_SHARE = 0.005
SETTLE_S = 600.0
FROZEN_REPEATS = 3  # the same weight this often in a row: the scale is stuck
HOUR_SMOOTHING = 0.2  # weight of a new level (once a minute) in a multi-cell lot's hour level


@dataclass(frozen=True, slots=True)
class Move:
    """Stock that came into (``delta_kg`` > 0) or left a lot in one go.

    Attributes:
        collateral_id: the lot.
        delta_kg: the change of its weight.
        start: event time the level left its resting value.
        end: event time it last changed.
        seen_at: event time the move was known to be over.
        quiet: whether part of it happened in the lot's quiet hours.
    """

    collateral_id: str
    delta_kg: float
    start: float
    end: float
    seen_at: float
    quiet: bool


class LotState:
    """What one lot's movement detector remembers (a few hundred bytes)."""

    __slots__ = (
        "calm_ts",
        "condition",
        "door_open_s",
        "door_since",
        "foreign_kg",
        "foreign_until",
        "gate_out",
        "hour_end",
        "hour_flagged",
        "hour_high",
        "hour_low",
        "hour_n",
        "last_ts",
        "level",
        "level_ts",
        "move_from",
        "move_last",
        "move_quiet",
        "move_start",
        "next_eval",
        "pivot",
        "quiet",
        "r1",
        "r2",
        "ref",
        "ref_ts",
        "repeats",
        "schedule",
        "single",
        "slot",
        "smooth",
    )

    def __init__(self, single: bool = True) -> None:
        # a lot's one scale: its exact repeats are a stuck sensor. Several cells' sum is
        # filtered per cell by `lot_weight`, which sets a stuck cell aside itself, and
        # may rightly repeat (a cell's median unchanged)
        self.single = single
        self.smooth = math.nan
        self.r1 = math.nan
        self.r2 = math.nan
        self.repeats = 0
        self.last_ts = -math.inf
        self.next_eval = -math.inf
        self.level = math.nan
        self.level_ts = 0.0
        self.schedule = MovementSchedule()
        self.condition = Condition()
        self.slot = 0
        self.hour_end = -math.inf
        self.hour_low = math.inf
        self.hour_high = -math.inf
        self.hour_n = 0
        self.hour_flagged = False
        self.quiet = False
        self.ref: float | None = None
        self.ref_ts = 0.0
        self.calm_ts = 0.0
        self.gate_out = 0.0
        self.door_open_s = 0.0
        self.door_since: float | None = None
        self.foreign_kg = 0.0
        self.foreign_until = 0.0
        self.move_from: float | None = None
        self.move_start = 0.0
        self.move_last = 0.0
        self.move_quiet = False
        self.pivot = math.nan

    def hour_level(self, level: float) -> float:
        """The level an hour's range is judged on (`movement`, is this an hour stock moves
        in?): as it is for a lot's one scale; smoothed over about ten minutes for several
        cells, whose summed noise alone could otherwise range over ``moved_share``."""
        if self.single:
            return level
        s = self.smooth
        self.smooth = level if s != s else s + HOUR_SMOOTHING * (level - s)
        return self.smooth

    def take(self, total: float) -> float:
        """Take a new total weight; return the median of the last three, the level to judge.

        NaN before three weights, and while the scale repeats itself: a load cell's noise
        makes an exact repeat all but impossible, so a run of them is a stuck sensor. Once
        it recovers, the level starts afresh from its values, so the step back to the true
        weight is no movement.
        """
        if total == self.r1 and self.single:
            self.repeats += 1
            if self.repeats >= FROZEN_REPEATS:
                return math.nan
        else:
            if self.repeats >= FROZEN_REPEATS:
                self.r1 = self.r2 = self.level = self.pivot = math.nan
                self.ref, self.move_from = None, None
            self.repeats = 0
        a, b = self.r1, self.r2
        self.r2, self.r1 = a, total
        if b != b:  # NaN: fewer than three weights yet
            return math.nan
        low, high = (total, a) if total < a else (a, total)
        return low if b < low else high if b > high else b

    def track_move(
        self, level: float, ts: float, pledge_kg: float, collateral_id: str
    ) -> Move | None:
        """Follow moves of the level; return one that just ended."""
        if self.move_from is None:
            # at rest, `pivot` is the resting level
            if math.isnan(self.pivot):
                self.pivot = level
            elif abs(level - self.pivot) > MOVE_SHARE * pledge_kg:
                self.move_from, self.move_start = self.pivot, self.level_ts
                self.pivot, self.move_last, self.move_quiet = level, ts, self.quiet
            return None
        self.move_quiet = self.move_quiet or self.quiet
        if abs(level - self.pivot) > STILL_SHARE * pledge_kg:
            self.pivot, self.move_last = level, ts
            return None
        if ts - self.move_last < SETTLE_S:
            return None
        delta = level - self.move_from
        move = Move(collateral_id, delta, self.move_start, self.move_last, ts, self.move_quiet)
        self.move_from, self.move_quiet, self.pivot = None, False, level
        return move
