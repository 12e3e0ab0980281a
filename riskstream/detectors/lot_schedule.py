"""When a collateral lot's stock normally moves: per local hour of week, the last weeks.

For each of the 168 hours of the week two bytes are kept, each a bit per week (newest
in bit 0): whether the hour was seen, and whether the lot's stock moved in it. Trucks
come at random times within a borrower's business hours, so one hour of week that
happened to see no truck says little; the lot's hours are pooled instead:

- its working days: weekdays on which its stock moved in the last ``learn_weeks``;
- its working hours: from an hour before the earliest to an hour after the latest
  hour of day in which it moved, on any day.

An hour of week seen in at least ``min_weeks`` weeks is quiet when its stock did not
move in it and it lies outside the working hours, or on a day the lot does not work.
Before that (cold start) only the rule's night hours are quiet, and only outside the
working hours learned so far; days off (weekends) become quiet once learned. 336 bytes
per lot, in the spirit of `hour_of_week.HourOfWeekBaseline`.
"""

from array import array
from functools import cache
from typing import TYPE_CHECKING

from riskstream.detectors.hour_of_week import HOURS_PER_WEEK

if TYPE_CHECKING:
    from riskstream.detectors.movement import OutOfHoursRule


class MovementSchedule:
    """Which hours of the week a lot's stock moved in, over the last eight weeks."""

    __slots__ = ("_moved", "_seen")

    def __init__(self) -> None:
        self._seen = array("B", bytes(HOURS_PER_WEEK))
        self._moved = array("B", bytes(HOURS_PER_WEEK))

    def learn(self, slot: int, moved: bool) -> None:
        """Record one more week of hour-of-week ``slot``."""
        self._seen[slot] = ((self._seen[slot] << 1) | 1) & 0xFF
        self._moved[slot] = ((self._moved[slot] << 1) | int(moved)) & 0xFF

    def weeks(self, slot: int, rule: "OutOfHoursRule") -> tuple[int, int]:
        """(weeks seen, weeks moved) of ``slot`` within the rule's memory."""
        mask = (1 << rule.learn_weeks) - 1
        return (self._seen[slot] & mask).bit_count(), (self._moved[slot] & mask).bit_count()

    def working_hours(self, rule: "OutOfHoursRule") -> tuple[frozenset[int], int, int] | None:
        """(working days, first hour, last hour) learned; None before any movement."""
        # each hour of week 1 if it moved within the rule's memory, 0 if not, found
        # day by day in C rather than slot by slot (the lot's hour changes once an hour)
        moved = self._moved.tobytes().translate(_moved_within(rule.learn_weeks))
        days: set[int] = set()
        first, last = 24, -1
        for day in range(7):
            hours = moved[day * 24 : day * 24 + 24]
            earliest = hours.find(1)
            if earliest < 0:
                continue
            days.add(day)
            latest = hours.rfind(1)
            if earliest < first:
                first = earliest
            if latest > last:
                last = latest
        if not days:
            return None
        return frozenset(days), max(0, first - 1), min(23, last + 1)

    def quiet(self, slot: int, rule: "OutOfHoursRule") -> bool:
        """Whether stock leaving in ``slot`` is out of this lot's usual hours."""
        seen, moved = self.weeks(slot, rule)
        if moved:
            return False
        day, hour = divmod(slot, 24)
        hours = self.working_hours(rule)
        in_hours = hours is not None and hours[1] <= hour <= hours[2]
        if seen >= rule.min_weeks:
            return hours is None or day not in hours[0] or not in_hours
        return default_quiet(slot, rule) and not in_hours


@cache
def _moved_within(learn_weeks: int) -> bytes:
    """A `bytes.translate` table: 1 for a byte with a bit of the last ``learn_weeks``
    weeks set, else 0."""
    mask = (1 << learn_weeks) - 1
    return bytes(1 if bits & mask else 0 for bits in range(256))


def default_quiet(slot: int, rule: "OutOfHoursRule") -> bool:
    """Cold start: the rule's night hours."""
    hour = slot % 24
    start, end = rule.night_start_hour, rule.night_end_hour
    return hour >= start or hour < end if start > end else start <= hour < end
