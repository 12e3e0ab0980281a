"""A device's usual level by local hour of week: its own seasonal baseline.

One exponentially weighted mean per hour of the week (168 of them), learned from the
device's hourly means, plus one per hour of a weekday (Monday to Friday pooled) that
answers while an hour of week has not been seen yet (the first week of a new line).

Storage is two compact float arrays and two count arrays (about 1.6 KiB), not 192
`river.stats.EWMean` objects: those take about 160 bytes each, 30 KiB per device,
far over the engine's 4 KiB per device. The update is the same as ``EWMean``'s
(``mean += rate * (x - mean)``, the first value taken as it is).
"""

from array import array

HOURS_PER_WEEK = 168
WEEKDAY_HOURS = 5 * 24


class HourOfWeekBaseline:
    """Usual level per local hour of week (slot 0: Monday 00:00-01:00)."""

    __slots__ = ("_day", "_day_seen", "_week", "_week_seen")

    def __init__(self) -> None:
        self._week = array("f", bytes(4 * HOURS_PER_WEEK))
        self._week_seen = array("B", bytes(HOURS_PER_WEEK))
        self._day = array("f", bytes(4 * 24))
        self._day_seen = array("B", bytes(24))

    def usual(self, slot: int) -> float | None:
        """Usual level of hour-of-week ``slot``; a weekday's pooled hour while the slot is
        unseen; None when neither has been learned."""
        if self._week_seen[slot]:
            return float(self._week[slot])
        if slot < WEEKDAY_HOURS and self._day_seen[slot % 24]:
            return float(self._day[slot % 24])
        return None

    def weeks_seen(self, slot: int) -> int:
        """How many times ``slot`` was learned (saturates at 255)."""
        return int(self._week_seen[slot])

    def busiest(self) -> float:
        """The highest usual level of any hour learned so far (0 before any)."""
        best = 0.0
        for table, seen in ((self._week, self._week_seen), (self._day, self._day_seen)):
            for value, n in zip(table, seen, strict=True):
                if n and value > best:
                    best = value
        return best

    def learn(self, slot: int, value: float, rate: float) -> None:
        """Move the usual level of ``slot`` (and of its weekday hour) towards ``value``."""
        _update(self._week, self._week_seen, slot, value, rate)
        if slot < WEEKDAY_HOURS:
            _update(self._day, self._day_seen, slot % 24, value, rate)


def _update(table: "array[float]", seen: "array[int]", i: int, value: float, rate: float) -> None:
    n = seen[i]
    table[i] = value if n == 0 else table[i] + rate * (value - table[i])
    if n < 255:
        seen[i] = n + 1
