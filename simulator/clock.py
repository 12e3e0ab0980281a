"""Local calendar time for signal models, cheap enough to ask on every reading."""

import calendar
import datetime as dt
import math
from zoneinfo import ZoneInfo


class LocalDay:
    """The local calendar day containing the last timestamp seen, in one timezone.

    `roll` only consults the timezone database when a timestamp falls outside the
    cached day, so asking for the local hour costs a subtraction.

    Attributes:
        start: epoch seconds of local midnight starting the day.
        end: epoch seconds of the next local midnight.
        weekday: Monday is 0, Sunday 6.
        month: 1–12.
        mday: day of the month, from 1.
        yday: day of the year, from 1.
        month_days: number of days in the month.
    """

    __slots__ = ("end", "mday", "month", "month_days", "start", "tz", "weekday", "yday")

    def __init__(self, timezone: str) -> None:
        """Create the calendar for an IANA ``timezone`` name."""
        self.tz = ZoneInfo(timezone)
        self.start = math.inf
        self.end = -math.inf
        self.weekday = 0
        self.month = 1
        self.mday = 1
        self.yday = 1
        self.month_days = 31

    def roll(self, ts: float) -> bool:
        """Move to the day containing ``ts``; return True if the day changed."""
        if self.start <= ts < self.end:
            return False
        local = dt.datetime.fromtimestamp(ts, self.tz)
        midnight = dt.datetime(local.year, local.month, local.day, tzinfo=self.tz)
        following = midnight.date() + dt.timedelta(days=1)
        self.start = midnight.timestamp()
        self.end = dt.datetime(
            following.year, following.month, following.day, tzinfo=self.tz
        ).timestamp()
        self.weekday = local.weekday()
        self.month = local.month
        self.mday = local.day
        self.yday = local.timetuple().tm_yday
        self.month_days = calendar.monthrange(local.year, local.month)[1]
        return True

    def hour(self, ts: float) -> float:
        """Hours since local midnight (call `roll` first)."""
        return (ts - self.start) / 3600.0


def local_hour(ts: float, timezone: str) -> float:
    """Hours since local midnight at ``ts`` in ``timezone`` (slow path, for planning)."""
    day = LocalDay(timezone)
    day.roll(ts)
    return day.hour(ts)
