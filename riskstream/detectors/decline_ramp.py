"""The fall of a line's daily level as a ramp: a test for a change of slope.

A business winding down does not step down, it slides: 15–25 % over two or three weeks,
about 1 % a day. A CUSUM on the level (`decline_judgement`) waits until the fall's sum
outweighs the noise; a test of the slope uses the fall's shape, and every day before it.
This module fits, to the line's log daily levels net of its cohort, the model

    y(d) = base                          for the days before the change day tau
    y(d) = base - rate × (d - tau + ½)   from tau on (½: the change day is half lost)

for every candidate change day, by least squares, and keeps the candidate whose fall is
the most certain: ``z = rate / (its standard error)``, the signed root of the generalized
likelihood ratio of a change of slope against no change, in the line's day-to-day spread.
``base`` is fitted on the days before the change, however few, so a line whose fall
began a few days after it was first seen is judged too (the fit's error includes the
base's own).

The spread is the standard deviation of the day-to-day changes over the whole span, over
√2: a level shift or a slow fall hardly moves it, so the fall does not hide itself by
widening the noise it is judged in. A few days say little of a line's noise, so the
spread is drawn towards `PRIOR_SPREAD` as if `PRIOR_CHANGES` changes of that size had
been seen too: a line first seen last week is not judged steadier than it has shown.
Days further than `CLIP` spreads from the span's median are pulled in to it, so one odd
day (a strike, a meter reset) weighs no more than a bad day.

What the noise allows: with days varying by 4.6 % (one standard deviation) and at most
one false alarm in 100 line-months, even knowing the fall's first day and the level
before it a fall of 15 % over two weeks is caught after 9 days at the median (25 % of
them within 7 days); this test, knowing neither, after 10 (``scripts/decline_floor.py``,
``tests/riskstream/test_decline_ramp.py``).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import median

__all__ = ["CLIP", "PRIOR_SPREAD", "Ramp", "day_spread", "fit_ramp"]

DAY = 86_400.0
CLIP = 3.0  # spreads from the median beyond which a day is pulled in
MIN_SPREAD = 0.01  # a line steadier than 1 % a day is not judged on hundredths of a percent
PRIOR_SPREAD = 0.05  # a plant's day-to-day spread before its own days say otherwise
PRIOR_CHANGES = 6  # how many day-to-day changes that prior weighs


@dataclass(frozen=True, slots=True)
class Ramp:
    """The most certain fall found in a line's days.

    Attributes:
        z: the fall's rate over its standard error, in the line's day-to-day spread.
        since: start of the change day (tau).
        base: the fitted log level before it (net of the cohort).
        rate: the fitted fall per day, in log level.
        fall: the fitted fall on the last day, share of the level before it.
        days_before: days the level before it was fitted on.
        days_after: days from the change day to the last day, both counted.
        spread: the day-to-day spread it was judged in (share of the level).
    """

    z: float
    since: float
    base: float
    rate: float
    fall: float
    days_before: int
    days_after: int
    spread: float

    @property
    def per_week(self) -> float:
        """The fitted fall per week, share of the level before it."""
        return 1.0 - math.exp(-7.0 * self.rate)


def day_spread(logs: Sequence[float]) -> float:
    """The day-to-day spread of log levels: the standard deviation of one day's change
    over √2, drawn towards `PRIOR_SPREAD` by `PRIOR_CHANGES`, at least `MIN_SPREAD`."""
    changes = [b - a for a, b in pairwise(logs)]
    mean = sum(changes) / len(changes) if changes else 0.0
    squares = sum((c - mean) ** 2 for c in changes) / 2.0
    free = max(len(changes) - 1, 0)
    variance = (squares + PRIOR_CHANGES * PRIOR_SPREAD**2) / (free + PRIOR_CHANGES)
    return max(MIN_SPREAD, math.sqrt(variance))


def fit_ramp(
    days: Sequence[float], logs: Sequence[float], min_before: int, min_after: int
) -> Ramp | None:
    """The most certain fall in ``logs`` (log levels of the days starting at ``days``,
    oldest first) whose change day has at least ``min_before`` days before it and
    ``min_after`` from it; None when no candidate has, or none falls."""
    n = len(days)
    if n < min_before + min_after or min_after < 1:
        return None
    noise = day_spread(logs)
    centre = median(logs)
    y = [min(max(v, centre - CLIP * noise), centre + CLIP * noise) for v in logs]
    mean_y = sum(y) / n
    best: Ramp | None = None
    for i in range(max(min_before, 1), n - min_after + 1):
        tau = days[i]
        h = [(d - tau) / DAY + 0.5 if d >= tau else 0.0 for d in days]
        mean_h = sum(h) / n
        sxx = sum((v - mean_h) ** 2 for v in h)
        if sxx <= 0:
            continue
        rate = -sum((hv - mean_h) * (yv - mean_y) for hv, yv in zip(h, y, strict=True)) / sxx
        z = rate * math.sqrt(sxx) / noise
        if rate > 0 and (best is None or z > best.z):
            base = mean_y + rate * mean_h
            best = Ramp(
                z=z,
                since=tau,
                base=base,
                rate=rate,
                fall=1.0 - math.exp(-rate * h[-1]),
                days_before=i,
                days_after=n - i,
                spread=noise,
            )
    return best
