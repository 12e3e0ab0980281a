"""One anomaly model per cohort of series (``[rules.anomaly.series] model = "cohort"``).

A cohort is the series of one metric of one device kind within one lender (and, with
``cohort_by = ["site"]``, at one site). Each series keeps only its own running level,
scales and daily profile (`CohortMember`), so tanks of any size share the cohort's
model: a reading is judged by its distance from its own level plus its own usual offset
at that hour, in units of its own scale, against how far the cohort's series usually
stray (`CohortModel`, learned from every series of the cohort); and so is the mean of
that distance over its last hours, which finds a shift too small for one reading. A new
device is judged from the cohort's model once its own level and scale have had
``cohort_warmup`` of readings, instead of a full ``warmup`` of its own.

The daily profile is an offset from the level per local hour of a weekday and of a
weekend day (48 floats: the per-series models' hours, in the site's UTC offset at the
series' first reading), an EW mean read between the two nearest hours. An hour the
series has not seen borrows the nearest hour seen (a weekend hour, the same hour of a
weekday), judged in units of the series' scale with its daily swing rather than of its
residual's; a reading with no hour near it seen (after a gap in the series' first day)
is not judged.

Learning is protected as in the per-series models: a reading judged anomalous is learned
neither by its series nor by the cohort, until the series has been anomalous for
``warmup`` (then it is the new normal), so a slow leak does not become normal.
"""

import math
from array import array
from dataclasses import dataclass, field

from riskstream.detectors.anomaly_methods import (
    BUCKETS,
    HOUR,
    MINUTE,
    Verdict,
    season_bucket,
    season_bucket_name,
)

__all__ = ["LIMIT", "CohortMember", "CohortModel"]

LIMIT = 5.5  # a distance this many times what the cohort's series usually stray: anomalous
LEVEL_TAU_S = 86_400.0  # the series' level follows a day's readings
SCALE_TAU_S = 7 * 86_400.0  # its scales a week's, so a drift does not widen them fast
RECENT_TAU_S = 2 * HOUR  # its recent distance is the mean over about two hours
PROFILE_DAYS = 7.0  # an hour's usual offset remembers about a week of that hour
MAX_STEP_S = 15 * MINUTE  # a reading weighs at most this much time (offsets, recent)
MIN_COHORT_READINGS = 50  # learned readings before the cohort judges anyone
MIN_SERIES_READINGS = 5
MIN_PROFILED_READINGS = 12  # readings learned net of its profile before a series is judged
SPREAD_FLOOR = 0.05  # the cohort's usual distance is at least this (in units of scale)
RELATIVE_FLOOR = 1e-3  # a series' scale is at least this share of its level
SEEN_CAP = 65_535  # an hour's count of readings stops here (it only says "seen")
AVERAGED = 5_000  # the cohort's spreads average about this many last readings


def _restore(self: object, state: tuple[None, dict[str, object]], fresh: object) -> None:
    """Set a pickled slots object from ``state``, a field it lacks (a checkpoint written
    before the field existed) from ``fresh``."""
    for name in type(self).__slots__:  # type: ignore[attr-defined]
        if name not in state[1] and hasattr(fresh, name):
            setattr(self, name, getattr(fresh, name))
    for name, value in state[1].items():
        setattr(self, name, value)


@dataclass(slots=True)
class CohortModel:
    """How far, in units of their own scale, a cohort's series usually stray from their
    own level and hour's offset: an average of ``|z|`` over every reading its members
    learned, and of ``|recent z|``, the mean of a member's last hours."""

    spread: float = 0.0
    learned: int = 0
    members: int = 0
    recent_spread: float = 0.0
    recent_learned: int = 0  # apart from learned: a checkpoint before it has learned none

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        """Restore a pickled cohort; one pickled before recent distances has none."""
        _restore(self, state, CohortModel())

    def learn(self, distance: float, recent: float) -> None:
        """Take one member's normal reading (its ``|z|`` and ``|recent z|``)."""
        self.learned += 1
        self.recent_learned += 1
        # running means, then averages over the last few thousand readings
        self.spread += (distance - self.spread) / min(self.learned, AVERAGED)
        self.recent_spread += (recent - self.recent_spread) / min(self.recent_learned, AVERAGED)

    def usual(self) -> float | None:
        """The usual ``|z|``; None until the cohort has learned enough."""
        if self.learned < MIN_COHORT_READINGS:
            return None
        return max(self.spread, SPREAD_FLOOR)

    def usual_recent(self) -> float | None:
        """The usual ``|recent z|``; None until the cohort has learned enough."""
        if self.recent_learned < MIN_COHORT_READINGS:
            return None
        return max(self.recent_spread, SPREAD_FLOOR)


@dataclass(slots=True)
class CohortMember:
    """One series of a cohort: its running level, scales and daily profile, judged by the
    cohort's model.

    Implements the per-series scorer protocol (`score` before `learn`). ``scale`` is the
    EW mean distance of its readings from its level (its daily swing included),
    ``residual_scale`` that from its level plus its hour's offset (``profile``, in the
    series' own units; ``seen``: readings of each hour, ``profiled``: readings learned net
    of the profile), ``recent`` the EW mean of its last hours' ``z``.
    """

    cohort: CohortModel
    warmup_s: float
    relearn_s: float
    level: float = math.nan
    scale: float = 0.0
    first_ts: float | None = None
    last_ts: float | None = None
    readings: int = 0
    anomalous_since: float | None = None
    _last: tuple[float, bool] | None = field(default=None, repr=False)
    utc_offset_s: float = 0.0
    residual_scale: float = 0.0
    profiled: int = 0
    recent: float = 0.0
    profile: "array[float]" = field(default_factory=lambda: array("d", bytes(8 * BUCKETS)))
    seen: "array[int]" = field(default_factory=lambda: array("H", bytes(2 * BUCKETS)))

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        """Restore a pickled member; one pickled before the daily profile has none yet
        (not judged until it has learned readings net of one again)."""
        _restore(self, state, CohortMember(CohortModel(), 0.0, 0.0))

    def _where(self, ts: float) -> tuple[int, bool]:
        """The bucket of ts's local hour, and whether it is borrowed: a weekend hour not yet
        seen is read from the same hour of a weekday."""
        bucket = season_bucket(math.floor((ts + self.utc_offset_s) / HOUR))
        if not self.seen[bucket] and bucket >= 24:
            return bucket - 24, True
        return bucket, False

    def _offset(self, ts: float) -> tuple[float, int, bool] | None:
        """The usual offset from the level at ts, its nearest bucket and whether that hour
        is borrowed (not itself seen yet); read between the centres of the two nearest
        hours (the one seen, if only one is); None while neither is seen."""
        position = (ts + self.utc_offset_s) / HOUR - 0.5
        share = position - math.floor(position)  # of the later hour
        early, early_borrowed = self._where(ts - share * HOUR)
        late, late_borrowed = self._where(ts + (1 - share) * HOUR)
        nearest, borrowed = (late, late_borrowed) if share >= 0.5 else (early, early_borrowed)
        borrowed = borrowed or not self.seen[nearest]
        if self.seen[early] and self.seen[late]:
            offset = (1 - share) * self.profile[early] + share * self.profile[late]
            return offset, nearest, borrowed
        for bucket in (nearest, early, late):
            if self.seen[bucket]:
                return self.profile[bucket], bucket, borrowed
        return None

    def _distance(self, ts: float, value: float) -> tuple[float, float, float, int] | None:
        """``(z, expected, scale, bucket)``, net of the profile; None while it cannot say:
        too few readings learned net of the profile, or no hour near ts seen yet. A
        borrowed hour is judged in units of the scale with the daily swing (its own
        offset may differ from the one borrowed)."""
        found = self._offset(ts) if self.profiled >= MIN_PROFILED_READINGS else None
        if found is None:
            return None
        offset, bucket, borrowed = found
        floor = max(RELATIVE_FLOOR * abs(self.level), 1e-9)
        scale = max(self.scale if borrowed else self.residual_scale, floor)
        expected = self.level + offset
        return (value - expected) / scale, expected, scale, bucket

    def _warm(self, ts: float) -> bool:
        return (
            self.first_ts is not None
            and ts - self.first_ts >= self.warmup_s
            and self.readings >= MIN_SERIES_READINGS
        )

    def score(self, ts: float, value: float) -> Verdict | None:
        """Judge a reading against the cohort; None while it or the cohort warms up."""
        usual, usual_recent = self.cohort.usual(), self.cohort.usual_recent()
        distance = self._distance(ts, value) if self._warm(ts) and usual is not None else None
        if distance is None or usual is None:
            self._last = None
            return None
        z, expected, scale, bucket = distance
        recent = self.recent
        score = abs(z) / usual
        if usual_recent is not None:
            score = max(score, abs(recent) / usual_recent)
        anomalous = score >= LIMIT
        self._last = (ts, anomalous)
        return Verdict(
            value=value,
            score=score,
            threshold=LIMIT,
            anomalous=anomalous,
            expected=expected,
            band=LIMIT * usual * scale,
            z=z,
            basis=(
                f"{abs(z):.1f} of its own scale from its level and usual offset at "
                f"{season_bucket_name(bucket)} (its last hours: {recent:+.1f} on average), "
                f"{score:.1f}× what the cohort's {self.cohort.members} series usually "
                f"stray (limit {LIMIT:g}×)"
            ),
        )

    def learn(self, ts: float, value: float) -> None:
        """Take a reading into the series' level, scales, profile and recent distance and
        the cohort's model, unless it was judged anomalous (and has not been so for
        ``relearn_s``)."""
        judged = self._last is not None and self._last[0] == ts
        if judged and self._last is not None and self._last[1]:
            if self.anomalous_since is None:
                self.anomalous_since = ts
            if ts - self.anomalous_since < self.relearn_s:
                return
        else:
            self.anomalous_since = None
        if self.first_ts is None or self.last_ts is None:
            self.first_ts = self.last_ts = ts
            self.level, self.readings = value, 1
            self.cohort.members += 1
            self._learn_offset(ts, value, 0.0)
            return
        dt = max(0.0, ts - self.last_ts)
        self.readings += 1
        distance = self._distance(ts, value) if self._warm(ts) else None
        if distance is not None:
            w_recent = _weight(min(dt, MAX_STEP_S), RECENT_TAU_S)
            self.recent += (distance[0] - self.recent) * w_recent
            self.cohort.learn(abs(distance[0]), abs(self.recent))
        found = self._offset(ts)
        offset = found[0] if found is not None else 0.0
        # running means at first, so a new series settles within its warm-up
        w_level = max(1.0 / self.readings, _weight(dt, LEVEL_TAU_S))
        w_scale = _weight(dt, SCALE_TAU_S)
        self.scale += (abs(value - self.level) - self.scale) * max(1.0 / self.readings, w_scale)
        if found is not None and not found[2]:  # a borrowed hour's would widen it
            self.profiled += 1
            residual = abs(value - self.level - offset)
            w_residual = max(1.0 / self.profiled, w_scale)
            self.residual_scale += (residual - self.residual_scale) * w_residual
        self.level += (value - offset - self.level) * w_level
        self._learn_offset(ts, value, dt)
        self.last_ts = ts

    def _learn_offset(self, ts: float, value: float, dt: float) -> None:
        """Take the reading's distance from the level into its hour's usual offset."""
        bucket = season_bucket(math.floor((ts + self.utc_offset_s) / HOUR))
        seen = self.seen[bucket]
        if not seen:
            self.profile[bucket] = value - self.level
        else:
            # a day holds one hour of each bucket; a plain mean until the EW weight is less
            w = max(_weight(min(dt, MAX_STEP_S), PROFILE_DAYS * HOUR), 1.0 / (seen + 1))
            self.profile[bucket] += w * (value - self.level - self.profile[bucket])
        self.seen[bucket] = min(seen + 1, SEEN_CAP)


def _weight(dt: float, tau: float) -> float:
    """Weight of a reading dt seconds after the last in an EW mean of time constant tau."""
    return 1.0 - math.exp(-dt / tau)
