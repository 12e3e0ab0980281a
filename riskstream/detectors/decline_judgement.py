"""Judging a line's daily levels against its level before a fall, net of its cohort.

Pure arithmetic on the daily levels `production_decline` keeps (no state, no I/O):

- **Reference**: the line's mean daily level over the ``reference`` days that end where
  the recent ``window`` begins (or a reference frozen earlier).
- **Cohort movement**: the median, over the line's peers (`line_cohorts`), of each
  peer's least-squares slope of its log daily level since the reference began. Seasons
  are shared by the peers; a peer's own decline is outvoted by the median.
- **Net daily fall**: ``x = ln(level / reference) - cohort slope × (day - mid-reference)``
  for each day since the reference ended: how far the line is below where its cohort
  would have taken it.
- **CUSUM**: ``S = max(0, S + (-x / spread) - allowance)`` over those days, the
  sequential test of a fall: it adds up evidence day by day, so a fall that grows a
  little every day is seen after a few days of it, and a day of noise is forgotten by
  the next good one. ``spread`` is the line's own day-to-day variation (the standard
  deviation of its log level over the reference days), so a steady plant is judged on
  a smaller fall than an erratic one.
- **Size and slope** for the reason: the window's mean net fall, and the Theil–Sen slope
  (the median slope between every two days, which an odd day does not tilt) of the
  level since the reference ended, less the cohort's slope; and the window's mean
  fall on its own, not net of the cohort (`production_decline` opens only on a line
  whose own level fell: peers that rose do not make a steady line's fall).
- **Ramp** (`judge_ramp`): the same days net of the cohort, from the reference's start
  (or the line's first day while it has no reference yet), fitted as a level followed by
  a fall of constant slope (`decline_ramp`): the test of a slide that a CUSUM on the
  level sees only later. Its figures (the level before the change day, the fall now, the
  fall per week) stand in for the reference, size and slope when it is the ramp that
  says the line is in decline.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median, stdev

from riskstream.detectors.decline_ramp import fit_ramp

__all__ = [
    "DAY",
    "Judgement",
    "Reference",
    "Settings",
    "cohort_slope",
    "judge",
    "judge_ramp",
    "theil_sen",
]

DAY = 86_400.0
MIN_PEER_DAYS = 6  # days with a level a peer needs since the reference began to count
MIN_SPREAD = 0.01  # a line steadier than 1 % a day is not judged on hundredths of a percent
DEFAULT_SPREAD = 0.05

Levels = tuple[Sequence[float], Sequence[float]]  # day starts (oldest first), their levels


@dataclass(frozen=True, slots=True)
class Reference:
    """A line's level before a fall: the mean daily level over ``[start, end)``."""

    level: float
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Settings:
    """What a judgement needs of the rule (`ProductionDeclineRule`)."""

    window: float
    reference: float
    min_days: int
    allowance: float  # in day-to-day spreads
    net_of_cohort: bool


@dataclass(frozen=True, slots=True)
class Judgement:
    """A line's state at the close of a day.

    Attributes:
        reference: the level before the fall it is judged against.
        drop: the window's mean fall below the reference, net of the cohort (share).
        own_drop: the same fall, not net of the cohort.
        falling: fall per week since the reference ended, net of the cohort (share of the
            reference; negative when rising).
        cusum: the CUSUM of the net daily falls since the reference ended.
        cohort_week: the cohort's movement per week (share; 0 without peers).
        peers: peers the cohort's movement was taken from.
        slope_from: first day of the slope (and of the CUSUM).
        ramp_z: the ramp test's evidence of a fall (0 for a CUSUM judgement).
        own_falling: the ramp's fall per week of the line's own level, not net of the
            cohort (None for a CUSUM judgement).
    """

    reference: Reference
    drop: float
    own_drop: float
    falling: float
    cusum: float
    cohort_week: float
    peers: int
    slope_from: float
    ramp_z: float = 0.0
    own_falling: float | None = None


def levels_in(line: Levels, start: float, end: float = math.inf) -> list[float]:
    """Levels of the days that start in ``[start, end)``."""
    days, levels = line
    return [v for d, v in zip(days, levels, strict=True) if start <= d < end]


def reference_of(line: Levels, settings: Settings, window_start: float) -> Reference | None:
    """The mean level of the ``reference`` days before ``window_start`` (None with fewer
    than twice ``min_days`` of them)."""
    start = window_start - settings.reference
    before = levels_in(line, start, window_start)
    if len(before) < 2 * settings.min_days:
        return None
    return Reference(sum(before) / len(before), max(start, line[0][0]), window_start)


def theil_sen(points: Sequence[tuple[float, float]]) -> float:
    """Median of the slopes between every two points (0 for fewer than two)."""
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    return median(slopes) if slopes else 0.0


def _log_slope(line: Levels, start: float, end: float) -> float | None:
    """Least-squares slope per day of ln(level) over the days in ``[start, end)``."""
    points = [
        (d / DAY, math.log(v))
        for d, v in zip(line[0], line[1], strict=True)
        if start <= d < end and v > 0
    ]
    n = len(points)
    if n < MIN_PEER_DAYS:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread <= 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def spread(line: Levels, ref: Reference) -> float:
    """The line's day-to-day spread: the standard deviation of its log daily level over
    the reference days, widened for the reference mean's own error, at least
    `MIN_SPREAD`; `DEFAULT_SPREAD` when fewer than three of those days are still kept."""
    logs = [math.log(v) for v in levels_in(line, ref.start, ref.end) if v > 0]
    if len(logs) < 3:
        return DEFAULT_SPREAD
    sd = stdev(logs) * math.sqrt(1.0 + 1.0 / len(logs))
    return max(MIN_SPREAD, sd)


def cohort_slope(peers: Sequence[Levels], start: float, end: float) -> tuple[float, int]:
    """The median of the peers' slopes per day of log level in ``[start, end)``, and how
    many peers had enough days (0 and 0 without any)."""
    slopes = [s for s in (_log_slope(p, start, end) for p in peers) if s is not None]
    return (median(slopes), len(slopes)) if slopes else (0.0, 0)


def judge(
    line: Levels,
    peers: Sequence[Levels],
    settings: Settings,
    day_end: float,
    frozen: Reference | None,
) -> Judgement | None:
    """Judge ``line`` at ``day_end`` (None until it has a reference and ``min_days`` in
    the window)."""
    window_start = day_end - settings.window
    ref = frozen if frozen is not None else reference_of(line, settings, window_start)
    recent = levels_in(line, window_start)
    if ref is None or len(recent) < settings.min_days or ref.level <= 0:
        return None
    slope, used = 0.0, 0
    if settings.net_of_cohort and peers:
        slope, used = cohort_slope(peers, ref.start, day_end)
    middle = (ref.start + ref.end) / 2.0
    days, levels = line
    noise = spread(line, ref)
    net = [
        (d, math.log(max(v, 1e-9) / ref.level) - slope * (d - middle) / DAY)
        for d, v in zip(days, levels, strict=True)
        if d >= ref.end
    ]
    statistic = 0.0
    for _, x in net:
        statistic = max(0.0, statistic - x / noise - settings.allowance)
    window = [(x, (d - middle) / DAY) for d, x in net if d >= window_start]
    drop = own_drop = 0.0
    if window:
        drop = 1.0 - math.exp(sum(x for x, _ in window) / len(window))
        own_drop = 1.0 - math.exp(sum(x + slope * t for x, t in window) / len(window))
    slope_from = max(ref.end, day_end - 2 * settings.window)
    points = [
        (d / DAY, v / ref.level) for d, v in zip(days, levels, strict=True) if d >= slope_from
    ]
    falling = -7.0 * (theil_sen(points) - slope)
    return Judgement(ref, drop, own_drop, falling, statistic, 7.0 * slope, used, slope_from)


def judge_ramp(
    line: Levels,
    peers: Sequence[Levels],
    settings: Settings,
    day_end: float,
    frozen: Reference | None,
) -> Judgement | None:
    """Judge ``line`` at ``day_end`` by the ramp test (`decline_ramp`) on its days since
    the reference began, or since its first day; None until a change day can have
    ``2 × min_days`` days before it and ``min_days`` from it, or when nothing falls.

    The judgement's reference is the fitted level before the change day (net of the
    cohort, at that day), its drop the fitted fall on the last day, ``falling`` the
    fitted fall per week and ``own_falling`` the same of the line's own level (peers
    that rose do not make a steady line fall); ``cusum`` is 0."""
    days, levels = line
    if not days:
        return None
    start = frozen.start if frozen is not None else day_end - settings.window - settings.reference
    start = max(start, days[0])
    kept = [(d, v) for d, v in zip(days, levels, strict=True) if start <= d < day_end and v > 0]
    slope, used = 0.0, 0
    if settings.net_of_cohort and peers:
        slope, used = cohort_slope(peers, start, day_end)
    logs = [math.log(v) for _, v in kept]
    stamps = [d for d, _ in kept]
    ramp = fit_ramp(
        stamps,
        [y - slope * (d - stamps[0]) / DAY for d, y in zip(stamps, logs, strict=True)]
        if kept
        else [],
        2 * settings.min_days,
        settings.min_days,
    )
    if ramp is None:
        return None
    # the fitted level before the fall, carried by the cohort to the change day
    level = math.exp(ramp.base + slope * (ramp.since - stamps[0]) / DAY)
    lasting = (stamps[-1] - ramp.since) / DAY + 0.5
    own_drop = 1.0 - math.exp(-ramp.rate * lasting + slope * lasting)
    return Judgement(
        reference=Reference(level, start, ramp.since),
        drop=ramp.fall,
        own_drop=own_drop,
        falling=7.0 * ramp.rate,
        cusum=0.0,
        cohort_week=7.0 * slope,
        peers=used,
        slope_from=ramp.since,
        ramp_z=ramp.z,
        own_falling=7.0 * (ramp.rate - slope),
    )
