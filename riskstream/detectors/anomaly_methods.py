"""Online anomaly scorers for one sensor series each, at any cadence.

Every scorer answers ``score(ts, value) -> Verdict | None`` (None while it warms up),
then ``learn(ts, value)``: score first, learn after, as river's anomaly checks do. Call
``score`` once per reading, in time order: it also keeps the scorer's view of the
present (the previous reading, the spread of the last hour). Timestamps are Unix
seconds and need not be evenly spaced: decays go by elapsed time, and seasonal buckets
by local hour of day, weekdays apart from weekends, never by sample count.

- `SeasonalResidualScorer`: usual value of the hour + a recent level, residual against
  k × its EW standard deviation, and the level against its own usual spread (drift).
- `RobustSeasonalScorer`: robust z against the median and MAD of the hour's recent values.
- `DispersionScorer`: the spread of reading-to-reading steps (variance change, stuck).
- `HalfSpaceTreesScorer`: river's HalfSpaceTrees on the reading's features.
- `AnyOfScorer`: several of these on one series, anomalous when any of them is.

``riskstream bench anomaly`` measures them on labelled series.

Protected learning: ``learn`` skips a reading that its own ``score`` just judged
anomalous, so an anomalous stretch does not become the baseline. A change that lasts is
accepted: once a stretch of anomalous verdicts has gone on for ``accept_after_s`` (a
stretch ends after ``calm_s`` without one), every reading is learned again, and the
seasonal scorers move their baseline to it quickly. A set time rather than a slow
re-baselining, so that how long a new level is reported before it becomes normal is a
setting one can read. Values that are not finite numbers are neither judged nor learned;
readings older than the last one learned are judged but not learned.

State is plain attributes (floats, ``array`` buckets, river's trees): a scorer pickles
with the engine's checkpoints, and ``clone()`` (river's ``Base``) gives a fresh scorer
with the same settings for the next series.
"""

import abc
import math
import statistics
from array import array
from dataclasses import dataclass
from typing import Any, Protocol, Self

from river import base

__all__ = [
    "BUCKETS",
    "AnyOfScorer",
    "DispersionScorer",
    "HalfSpaceTreesScorer",
    "ProtectedScorer",
    "RobustSeasonalScorer",
    "SeasonalResidualScorer",
    "SeriesScorer",
    "Verdict",
    "season_bucket",
    "season_bucket_name",
]

MINUTE = 60.0
HOUR = 3600.0
DAY = 86_400.0
BUCKETS = 48  # hours 0-23 of a weekday, then hours 0-23 of a Saturday or Sunday
MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per unit of MAD
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
LEVEL_FLOOR = 0.5  # the level's usual spread is taken as at least this share of the residual's
_MAY_BE_ZERO = frozenset({"min_spread", "seed"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """One reading judged by one scorer.

    ``score`` is the method's own statistic (higher = more anomalous) and ``anomalous``
    means it reached ``threshold``. ``expected`` ± ``band`` is the range of values the
    method took as normal, ``z`` the signed distance from ``expected`` in units of the
    usual spread (None where the method has no such range); ``basis`` says what was
    compared with what.
    """

    value: float
    score: float
    threshold: float
    anomalous: bool
    expected: float | None = None
    band: float | None = None
    z: float | None = None
    basis: str = ""

    def explain(self) -> str:
        """E.g. ``value 81.2 expected 40.3 ± 6.1: residual z +6.6 (limit 4.5), …``."""
        text = f"value {_num(self.value)}"
        if self.expected is not None and self.band is not None:
            text += f" expected {_num(self.expected)} ± {_num(self.band, 2)}"
        return f"{text}: {self.basis}" if self.basis else text


class SeriesScorer(Protocol):
    """What the engine needs of a scorer of one series."""

    def score(self, ts: float, value: float) -> Verdict | None:
        """Judge a reading without learning it; None while warming up."""

    def learn(self, ts: float, value: float) -> None:
        """Take a reading into the baseline, unless protected learning refuses it."""


def _num(x: float, digits: int = 4) -> str:
    return f"{x:,.0f}" if abs(x) >= 10**digits else f"{x:.{digits}g}"


def _weight(dt: float, tau: float) -> float:
    """Weight of a new observation dt seconds after the last in an EW mean of time
    constant tau: the same for one 10-minute step as for ten 1-minute steps."""
    return 1.0 - math.exp(-max(0.0, dt) / tau)


def _faded(level: float, ts: float, last_ts: float | None, step_s: float, tau: float) -> float:
    """A recent level seen from ts: it fades back to 0 over the part of a gap in the data
    beyond ``step_s`` (an old offset says less the longer nothing was heard)."""
    if last_ts is None or ts - last_ts <= step_s:
        return level
    return level * math.exp(-(ts - last_ts - step_s) / tau)


def season_bucket(hour_index: int) -> int:
    """Bucket of a local hour counted from the epoch: its hour of day, +24 at weekends."""
    day, hour = divmod(hour_index, 24)
    return hour + 24 if (day + EPOCH_WEEKDAY) % 7 >= 5 else hour


def season_bucket_name(bucket: int) -> str:
    return f"{'weekend' if bucket >= 24 else 'weekday'} {bucket % 24:02d}:00"


class ProtectedScorer(base.Base, abc.ABC):
    """What every scorer shares: the warm-up clock, protected learning, bad input.

    A scorer keeps its settings as attributes named after its ``__init__`` arguments (so
    river's ``clone`` works), calls `_start` to check them, and implements `_judge` (the
    verdict, None while warming up) and `_update` (learning a reading it may learn).
    """

    warmup_s: float
    accept_after_s: float
    calm_s: float

    def _start(self) -> None:
        """Check the settings, then set up the shared state."""
        for name, setting in self._get_params().items():
            if isinstance(setting, bool) or not isinstance(setting, int | float):
                continue
            if name == "utc_offset_s":
                good, rule = math.isfinite(setting), "a finite number"
            elif name in _MAY_BE_ZERO:
                good, rule = 0 <= setting < math.inf, "0 or more"
            else:
                good, rule = 0 < setting < math.inf, "above 0"
            if not good:
                raise ValueError(f"{type(self).__name__}: {name}={setting!r} must be {rule}")
        self._first_ts: float | None = None
        self._last_ts: float | None = None
        self._judged: tuple[float, float, bool] | None = None
        self._stretch_since: float | None = None
        self._last_flag_ts = -math.inf

    def score(self, ts: float, value: float) -> Verdict | None:
        """Judge a reading; None while warming up or when ts or value is no number."""
        if not (math.isfinite(ts) and math.isfinite(value)):
            return None
        verdict = self._judge(ts, value)
        flagged = verdict is not None and verdict.anomalous
        self._judged = (ts, value, flagged)
        if flagged:
            if self._stretch_since is None:
                self._stretch_since = ts
            self._last_flag_ts = ts
        elif self._stretch_since is not None and ts - self._last_flag_ts >= self.calm_s:
            self._stretch_since = None
        return verdict

    def learn(self, ts: float, value: float) -> None:
        """Learn a reading unless it was just judged anomalous and not yet accepted."""
        if not (math.isfinite(ts) and math.isfinite(value)):
            return
        if self._last_ts is not None and ts < self._last_ts:
            return
        if self._judged == (ts, value, True) and not self.accepting(ts):
            return
        self._update(ts, value)
        if self._first_ts is None:
            self._first_ts = ts
        self._last_ts = ts

    def accepting(self, ts: float) -> bool:
        """Whether the anomalous stretch has lasted long enough to become the new normal."""
        since = self._stretch_since
        return since is not None and ts - since >= self.accept_after_s

    def _relearning(self, ts: float, value: float) -> bool:
        """Whether the reading being learned is part of an accepted anomalous stretch."""
        return self._judged == (ts, value, True)

    def _warm(self, ts: float) -> bool:
        return self._first_ts is not None and ts - self._first_ts >= self.warmup_s

    @abc.abstractmethod
    def _judge(self, ts: float, value: float) -> Verdict | None:
        """The scorer's own verdict on a reading (None while it cannot judge yet)."""

    @abc.abstractmethod
    def _update(self, ts: float, value: float) -> None:
        """Take a reading into the scorer's own baseline."""


class RobustSeasonalScorer(ProtectedScorer):
    """Robust z against the recent values of the same hour: ``(value - expected) /
    (1.4826 MAD)``, where expected is the median of the last ``recent`` values learned
    in that local hour of a weekday or of a weekend day, plus the recent level: an EW
    mean (time constant ``level_tau_s``) of how far readings sat from their medians,
    each clipped to the band unless it belongs to an accepted change.

    Weekday/weekend rather than hour of week: 168 buckets need weeks of history each,
    two day types learn the main weekly effect within the first week. Each bucket is a
    bounded ring of values, not a P² sketch, because MAD needs the values themselves
    and a ring forgets old days. A bucket gives no verdict before it holds
    ``min_bucket_values`` values. The rings hold values less a common base; while an
    accepted change is learned the recent level moves into the base, so every hour takes
    the new level at once rather than each ring's median flipping on its own day.
    """

    def __init__(
        self,
        threshold: float = 5.0,
        recent: int = 48,
        min_bucket_values: int = 12,
        level_tau_s: float = 6 * HOUR,
        max_step_s: float = 15 * MINUTE,
        min_spread: float = 0.0,
        warmup_s: float = DAY,
        accept_after_s: float = 6 * HOUR,
        calm_s: float = HOUR,
        utc_offset_s: float = 0.0,
    ) -> None:
        self.threshold = threshold
        self.recent = recent
        self.min_bucket_values = min_bucket_values
        self.level_tau_s = level_tau_s
        self.max_step_s = max_step_s
        self.min_spread = min_spread
        self.warmup_s = warmup_s
        self.accept_after_s = accept_after_s
        self.calm_s = calm_s
        self.utc_offset_s = utc_offset_s
        self._start()
        if min_bucket_values > recent:
            raise ValueError(
                f"RobustSeasonalScorer: min_bucket_values={min_bucket_values} "
                f"must be at most recent={recent}"
            )
        self._rings = [array("d") for _ in range(BUCKETS)]
        self._next = [0] * BUCKETS
        self._base = 0.0
        self._level = 0.0
        self._centres: list[tuple[float, list[float]] | None] = [None] * BUCKETS

    def __getstate__(self) -> dict[str, Any]:
        """The state without the cache of medians (rebuilt on demand, as big as the rings)."""
        state = self.__dict__.copy()
        state["_centres"] = [None] * BUCKETS
        return state

    def _where(self, ts: float) -> int:
        return season_bucket(math.floor((ts + self.utc_offset_s) / HOUR))

    def _centre(self, bucket: int) -> tuple[float, list[float]]:
        """Median of a bucket and the sorted distances of its values from it (cached)."""
        found = self._centres[bucket]
        if found is None:
            ring = self._rings[bucket]
            median = statistics.median(ring) if ring else 0.0
            found = self._centres[bucket] = (median, sorted(abs(v - median) for v in ring))
        return found

    def _median_spread(self, bucket: int) -> tuple[float, float]:
        """A bucket's median, and the spread (1.4826 MAD) of it and its neighbour hours of
        the same day type: three hours of distances make a steadier MAD than one."""
        median, distances = self._centre(bucket)
        day_type = bucket - bucket % 24
        for hour in (bucket % 24 - 1, bucket % 24 + 1):
            distances = distances + self._centre(day_type + hour % 24)[1]
        mad = statistics.median(distances)
        spread = max(MAD_TO_SIGMA * mad, self.min_spread, 1e-9 * (1.0 + abs(median)))
        return median, spread

    def _level_at(self, ts: float) -> float:
        return _faded(self._level, ts, self._last_ts, self.max_step_s, self.level_tau_s)

    def _judge(self, ts: float, value: float) -> Verdict | None:
        bucket = self._where(ts)
        ring = self._rings[bucket]
        if not self._warm(ts) or len(ring) < self.min_bucket_values:
            return None
        median, spread = self._median_spread(bucket)
        usual = self._base + median
        level = self._level_at(ts)
        z = (value - usual - level) / spread
        return Verdict(
            value,
            abs(z),
            self.threshold,
            abs(z) >= self.threshold,
            usual + level,
            self.threshold * spread,
            z,
            f"robust z {z:+.1f} (limit {self.threshold:.1f}): median {_num(usual)} of the "
            f"last {len(ring)} values at {season_bucket_name(bucket)}, recent level {level:+.3g}",
        )

    def _update(self, ts: float, value: float) -> None:
        bucket = self._where(ts)
        ring = self._rings[bucket]
        if len(ring) >= self.min_bucket_values:
            median, spread = self._median_spread(bucket)
            level = self._level_at(ts)
            off = value - self._base - median - level
            relearning = self._relearning(ts, value)
            if not relearning:  # a reading near the limit must not drag the level far
                off = min(self.threshold * spread, max(-self.threshold * spread, off))
            step = min(ts - self._last_ts, self.max_step_s) if self._last_ts is not None else 0.0
            self._level = level + _weight(step, self.level_tau_s) * off
            if relearning:
                self._base += self._level
                self._level = 0.0
        self._centres[bucket] = None
        kept = value - self._base
        if len(ring) < self.recent:
            ring.append(kept)
        else:
            ring[self._next[bucket]] = kept
            self._next[bucket] = (self._next[bucket] + 1) % self.recent


class SeasonalResidualScorer(ProtectedScorer):
    """Forecast = usual value of this time of day + a fast level; anomalous when the
    residual passes ``threshold`` × its EW standard deviation, or when the level itself
    passes ``level_threshold`` × its own usual spread (a drift or a new level).

    The usual value is an EW mean per bucket (local hour, weekday or weekend), read
    between the centres of the two nearest hours, with a memory of ``season_days``
    days of that hour (``relearn_days`` while an accepted change is learned). The level
    is the EW mean of (value - usual) with time constant ``level_tau_s``: it follows
    wander within hours, and fades back to the profile over a gap in the data. No trend
    term: extrapolating a trend across gaps of hours costs more than it gives once the
    profile carries the daily slope. A reading weighs at most ``max_step_s`` of time, so
    one reading after a gap does not reset the baseline.
    """

    def __init__(
        self,
        threshold: float = 4.5,
        level_threshold: float = 4.0,
        level_tau_s: float = 2 * HOUR,
        season_days: float = 14.0,
        relearn_days: float = 0.5,
        variance_tau_s: float = DAY,
        level_variance_tau_s: float = 3 * DAY,
        max_step_s: float = 15 * MINUTE,
        min_bucket_values: int = 12,
        min_spread: float = 0.0,
        warmup_s: float = DAY,
        accept_after_s: float = 6 * HOUR,
        calm_s: float = HOUR,
        utc_offset_s: float = 0.0,
    ) -> None:
        self.threshold = threshold
        self.level_threshold = level_threshold
        self.level_tau_s = level_tau_s
        self.season_days = season_days
        self.relearn_days = relearn_days
        self.variance_tau_s = variance_tau_s
        self.level_variance_tau_s = level_variance_tau_s
        self.max_step_s = max_step_s
        self.min_bucket_values = min_bucket_values
        self.min_spread = min_spread
        self.warmup_s = warmup_s
        self.accept_after_s = accept_after_s
        self.calm_s = calm_s
        self.utc_offset_s = utc_offset_s
        self._start()
        self._usual = array("d", bytes(8 * BUCKETS))
        self._seen = array("L", bytes(array("L").itemsize * BUCKETS))
        self._level = 0.0
        self._residual_sq = [0.0, 0.0]  # EW mean of squared residuals, sum of weights
        self._level_sq = [0.0, 0.0]  # EW mean of the squared level

    def _profile(self, ts: float) -> tuple[float, int] | None:
        """Usual value at ts and the nearest bucket; None while that bucket is unseen."""
        position = (ts + self.utc_offset_s) / HOUR - 0.5
        first = math.floor(position)
        share = position - first  # of the later hour
        early, late = season_bucket(first), season_bucket(first + 1)
        nearest = late if share >= 0.5 else early
        if not self._seen[nearest]:
            return None
        if not (self._seen[early] and self._seen[late]):
            return self._usual[nearest], nearest
        return (1 - share) * self._usual[early] + share * self._usual[late], nearest

    def _level_at(self, ts: float) -> float:
        return _faded(self._level, ts, self._last_ts, self.max_step_s, self.level_tau_s)

    def _spreads(self, expected: float) -> tuple[float, float]:
        """Standard deviation of the residual, and usual spread of the level."""
        floor = max(self.min_spread, 1e-9 * (1.0 + abs(expected)))
        residual = max(math.sqrt(self._residual_sq[0] / self._residual_sq[1]), floor)
        level = math.sqrt(self._level_sq[0] / self._level_sq[1]) if self._level_sq[1] else 0.0
        return residual, max(level, LEVEL_FLOOR * residual)

    def _judge(self, ts: float, value: float) -> Verdict | None:
        found = self._profile(ts)
        if found is None or not self._warm(ts) or self._residual_sq[1] <= 0:
            return None
        usual, bucket = found
        if self._seen[bucket] < self.min_bucket_values:
            return None
        level = self._level_at(ts)
        expected = usual + level
        spread, level_spread = self._spreads(expected)
        z = (value - expected) / spread
        level_z = level / level_spread
        score = max(abs(z), abs(level_z) * self.threshold / self.level_threshold)
        return Verdict(
            value,
            score,
            self.threshold,
            score >= self.threshold,
            expected,
            self.threshold * spread,
            z,
            f"residual z {z:+.1f} (limit {self.threshold:.1f}), level {_num(level)} is "
            f"{level_z:+.1f} × its usual spread (limit {self.level_threshold:.1f}); usual "
            f"{_num(usual)} at {season_bucket_name(bucket)}",
        )

    def _update(self, ts: float, value: float) -> None:
        step = min(ts - self._last_ts, self.max_step_s) if self._last_ts is not None else 0.0
        found = self._profile(ts)
        if found is not None:
            level = self._level_at(ts)
            residual = value - found[0] - level
            residual_sq, level_sq = residual * residual, level * level
            if self._residual_sq[1] > 0:  # an accepted change must not blow the spreads up
                spread, level_spread = self._spreads(found[0] + level)
                residual_sq = min(residual_sq, (self.threshold * spread) ** 2)
                level_sq = min(level_sq, (self.level_threshold * level_spread) ** 2)
            _ew(self._residual_sq, residual_sq, _weight(step, self.variance_tau_s))
            _ew(self._level_sq, level_sq, _weight(step, self.level_variance_tau_s))
            self._level = level + _weight(step, self.level_tau_s) * residual
        nearest = season_bucket(math.floor((ts + self.utc_offset_s) / HOUR))
        if self._seen[nearest] == 0:
            self._usual[nearest] = value
        else:
            days = self.relearn_days if self._relearning(ts, value) else self.season_days
            # a day holds one hour of each bucket; a plain mean until the EW weight is less
            w = max(_weight(step, days * HOUR), 1.0 / (self._seen[nearest] + 1))
            self._usual[nearest] += w * (value - self._usual[nearest])
        self._seen[nearest] += 1


class DispersionScorer(ProtectedScorer):
    """Spread of the steps between readings against its usual spread: variance changes
    and values stuck on one number, whatever the level.

    Score ``log2(recent step spread / usual step spread)``, anomalous from ``threshold``
    (1.5: a spread ×2.8); a fall counts from ``drop_threshold`` (3: ÷8), since the end
    of an accepted noisy stretch looks like one. The recent spread, an EW mean of squared
    steps over ``recent_tau_s``, is kept by ``score`` (it measures the present, anomalous
    or not); the usual spread, over ``usual_tau_s``, is learned. Steps across more than
    ``max_step_s`` are not used, and a step counts at most ``clip_steps`` usual spreads
    in the recent one (a spike is the residual's to see). A value repeated
    ``stuck_readings`` times over ``stuck_after_s`` is also anomalous when so many
    repeats in a row would happen by chance less than once in 1,000 at the series' usual
    share of unchanged steps.
    """

    def __init__(
        self,
        threshold: float = 1.5,
        drop_threshold: float = 3.0,
        recent_tau_s: float = HOUR,
        usual_tau_s: float = 3 * DAY,
        max_step_s: float = HOUR,
        stuck_readings: int = 6,
        stuck_after_s: float = HOUR,
        warmup_s: float = DAY,
        accept_after_s: float = 6 * HOUR,
        calm_s: float = HOUR,
        clip_steps: float = 4.0,
    ) -> None:
        self.threshold = threshold
        self.drop_threshold = drop_threshold
        self.clip_steps = clip_steps
        self.recent_tau_s = recent_tau_s
        self.usual_tau_s = usual_tau_s
        self.max_step_s = max_step_s
        self.stuck_readings = stuck_readings
        self.stuck_after_s = stuck_after_s
        self.warmup_s = warmup_s
        self.accept_after_s = accept_after_s
        self.calm_s = calm_s
        self._start()
        self._prev: tuple[float, float] | None = None  # (ts, value) of the last reading seen
        self._step: tuple[float, float, float] | None = None  # (ts, squared step, dt)
        self._recent = [0.0, 0.0]  # EW sum of squared steps, sum of weights
        self._usual = [0.0, 0.0]
        self._usual_repeats = [0.0, 0.0]  # EW share of steps that change nothing
        self._same_since = 0.0
        self._same_count = 0

    def _observe(self, ts: float, value: float) -> None:
        prev = self._prev
        if prev is not None and ts <= prev[0]:
            return
        self._prev = (ts, value)
        if prev is None or value != prev[1]:
            self._same_since, self._same_count = ts, 1
        else:
            self._same_count += 1
        if prev is None or ts - prev[0] > self.max_step_s:
            self._step = None
            return
        dt = ts - prev[0]
        self._step = (ts, (value - prev[1]) ** 2, dt)
        recent = self._step[1]
        if self._usual[1] > 0:
            # one spike's two big steps must not hold the recent spread up for hours:
            # a step counts at most `clip_steps` usual spreads
            recent = min(recent, self.clip_steps**2 * self._usual[0] / self._usual[1])
        _ew(self._recent, recent, _weight(dt, self.recent_tau_s))

    def _judge(self, ts: float, value: float) -> Verdict | None:
        self._observe(ts, value)
        if not self._warm(ts) or self._usual[1] <= 0 or self._recent[1] <= 0:
            return None
        usual_sq = self._usual[0] / self._usual[1]
        recent_sq = self._recent[0] / self._recent[1]
        if usual_sq <= 0:
            return None  # a series that never moves has no spread to compare with
        ratio = math.sqrt(max(recent_sq, 1e-300) / usual_sq)
        rise = math.log2(ratio)
        score = rise if rise >= 0 else -rise * self.threshold / self.drop_threshold
        basis = (
            f"step spread ×{ratio:.2g} of the usual ±{_num(math.sqrt(usual_sq))} per reading "
            f"(limits ×{2**self.threshold:.2g} and ÷{2**self.drop_threshold:.2g})"
        )
        repeats = self._same_count - 1
        if repeats >= 1:
            basis += f"; unchanged for {repeats + 1} readings over {_hours(ts - self._same_since)}"
        share = self._usual_repeats[0] / self._usual_repeats[1]
        if (
            repeats + 1 >= self.stuck_readings
            and ts - self._same_since >= self.stuck_after_s
            and repeats * math.log10(max(share, 1e-300)) < -3
        ):
            score = max(score, self.threshold)
        return Verdict(value, score, self.threshold, score >= self.threshold, basis=basis)

    def _update(self, ts: float, value: float) -> None:
        if self._prev is None or self._prev[0] != ts:
            self._observe(ts, value)  # learned without having been scored
        step = self._step
        if step is None or step[0] != ts:
            return
        w = _weight(step[2], self.usual_tau_s)
        _ew(self._usual, step[1], w)
        _ew(self._usual_repeats, 1.0 if step[1] == 0 else 0.0, w)


def _ew(acc: list[float], x: float, w: float) -> None:
    """Fold x into an EW mean kept as [weighted sum, sum of weights] (no start-up bias)."""
    acc[0] += w * (x - acc[0])
    acc[1] += w * (1.0 - acc[1])


def _hours(seconds: float) -> str:
    return f"{seconds / HOUR:.1f} h" if seconds >= HOUR else f"{seconds / MINUTE:.0f} min"


class HalfSpaceTreesScorer(ProtectedScorer):
    """river's HalfSpaceTrees on three features in 0..1: the value within its running
    range (EW mean ± ``span`` EW standard deviations), the step from the previous reading
    within ± ``span`` usual steps, and the local hour of day.

    Three features, not more: scoring stops where a node's reference mass falls under a
    tenth of the window, so a path has only about three cuts, and with hour sin/cos and a
    weekend flag as well the trees spent them on time and missed values 200 × the noise
    away. ``span`` 8 leaves the usual readings in the middle of the range so that cuts
    isolate the far ones. Score: how much less mass the reading's leaves hold than a usual
    reading's, ``1 - mass / usual mass`` (0 usual, 1 an empty region). River's own score
    is a share of the largest possible mass, which sits near 1 for every reading.
    """

    def __init__(
        self,
        threshold: float = 0.85,
        span: float = 8.0,
        n_trees: int = 15,
        height: int = 8,
        window_size: int = 250,
        range_tau_s: float = 3 * DAY,
        max_step_s: float = HOUR,
        seed: int = 42,
        warmup_s: float = DAY,
        accept_after_s: float = 6 * HOUR,
        calm_s: float = HOUR,
        utc_offset_s: float = 0.0,
    ) -> None:
        self.threshold = threshold
        self.span = span
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.range_tau_s = range_tau_s
        self.max_step_s = max_step_s
        self.seed = seed
        self.warmup_s = warmup_s
        self.accept_after_s = accept_after_s
        self.calm_s = calm_s
        self.utc_offset_s = utc_offset_s
        self._start()
        from river.anomaly import HalfSpaceTrees  # imported when used: see operations

        self._model = HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )
        self._mean = [0.0, 0.0]
        self._square = [0.0, 0.0]  # EW mean of value², for the running spread
        self._step_square = [0.0, 0.0]
        self._prev: tuple[float, float] | None = None
        # the last reading scored: ts, features, squared step, mass (None: first window)
        self._features: tuple[float, dict[str, float], float | None, float | None] | None = None
        self._usual_mass = [0.0, 0.0]

    def _describe(self, ts: float, value: float) -> tuple[dict[str, float], float | None]:
        """The features of a reading, and its squared step (None across a gap)."""
        level = 0.5
        if self._mean[1] > 0:
            mean = self._mean[0] / self._mean[1]
            sd = math.sqrt(max(0.0, self._square[0] / self._square[1] - mean * mean))
            level = 0.5 + (value - mean) / (2 * self.span * sd) if sd > 0 else 0.5
        step_feature, step_sq = 0.5, None
        if self._prev is not None and 0 < ts - self._prev[0] <= self.max_step_s:
            step = value - self._prev[1]
            step_sq = step * step
            if self._step_square[1] > 0 and self._step_square[0] > 0:
                usual = math.sqrt(self._step_square[0] / self._step_square[1])
                step_feature = 0.5 + step / (2 * self.span * usual)
        x = {
            "level": min(1.0, max(0.0, level)),
            "step": min(1.0, max(0.0, step_feature)),
            "hour": ((ts + self.utc_offset_s) / HOUR % 24) / 24,
        }
        return x, step_sq

    def _mass(self, x: dict[str, float]) -> float:
        model = self._model
        share = float(model.score_one(x))  # type: ignore[no-untyped-call]
        return (1.0 - share) * float(model._max_score)

    def _judge(self, ts: float, value: float) -> Verdict | None:
        x, step_sq = self._describe(ts, value)
        if self._prev is None or ts > self._prev[0]:
            self._prev = (ts, value)
        mass = None if self._model._first_window else self._mass(x)
        self._features = (ts, x, step_sq, mass)
        if mass is None or not self._warm(ts) or self._usual_mass[1] <= 0:
            return None
        usual = self._usual_mass[0] / self._usual_mass[1]
        score = max(0.0, 1.0 - mass / usual) if usual > 0 else 0.0
        return Verdict(
            value,
            score,
            self.threshold,
            score >= self.threshold,
            basis=(
                f"half-space trees score {score:.2f} (limit {self.threshold:.2f}): value at "
                f"{x['level']:.2f} of its running range, step at {x['step']:.2f}"
            ),
        )

    def _update(self, ts: float, value: float) -> None:
        found = self._features
        if found is None or found[0] != ts:  # learned without having been scored
            x, step_sq = self._describe(ts, value)
            self._prev = (ts, value)
            mass = None if self._model._first_window else self._mass(x)
        else:
            _, x, step_sq, mass = found
        step = min(ts - self._last_ts, self.max_step_s) if self._last_ts is not None else 0.0
        w = _weight(step, self.range_tau_s) if self._mean[1] > 0 else 1.0
        _ew(self._mean, value, w)
        _ew(self._square, value * value, w)
        if step_sq is not None:
            _ew(self._step_square, step_sq, w)
        if mass is not None:
            _ew(self._usual_mass, mass, w)
        self._model.learn_one(x)  # type: ignore[no-untyped-call]


class AnyOfScorer(base.Base):
    """Several scorers on one series: anomalous when any of them is.

    The verdict is the anomalous one furthest past its limit (or, when none is, the one
    closest to its limit); each scorer learns with its own protection.
    """

    def __init__(self, scorers: tuple[ProtectedScorer, ...]) -> None:
        self.scorers = scorers

    def clone(
        self, new_params: dict[str, Any] | None = None, include_attributes: bool = False
    ) -> Self:
        """Fresh copies of every scorer: river's own clone would deep-copy their state.
        ``include_attributes`` is not supported (state is never carried over)."""
        params = {"scorers": tuple(s.clone() for s in self.scorers), **(new_params or {})}
        return type(self)(**params)

    def score(self, ts: float, value: float) -> Verdict | None:
        """The most anomalous verdict of the scorers; None while all warm up."""
        best: Verdict | None = None
        for scorer in self.scorers:
            verdict = scorer.score(ts, value)
            if verdict is not None and (
                best is None
                or (verdict.anomalous, verdict.score / verdict.threshold)
                > (best.anomalous, best.score / best.threshold)
            ):
                best = verdict
        return best

    def learn(self, ts: float, value: float) -> None:
        """Each scorer learns the reading unless its own verdict protects it."""
        for scorer in self.scorers:
            scorer.learn(ts, value)
