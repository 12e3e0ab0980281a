"""One anomaly model per cohort of series (``[rules.anomaly.series] model = "cohort"``).

A cohort is the series of one metric of one device kind within one lender (and, with
``cohort_by = ["site"]``, at one site). Each series keeps only its own running level and
scale (`CohortMember`), so tanks of any size share the cohort's model: a reading is
judged by its distance from its own level in units of its own scale, against how far
the cohort's series usually stray (`CohortModel`, learned from every series of the
cohort). A new device is judged from the cohort's model once its own level and scale
have had ``cohort_warmup`` of readings, instead of a full ``warmup`` of its own.

Learning is protected as in the per-series models: a reading judged anomalous is learned
neither by its series' level nor by the cohort, until the series has been anomalous for
``warmup`` (then it is the new normal), so a slow leak does not become normal.
"""

import math
from dataclasses import dataclass, field

from riskstream.detectors.anomaly_methods import Verdict

__all__ = ["LIMIT", "CohortMember", "CohortModel"]

LIMIT = 4.0  # a reading strays this many times the cohort's usual distance: anomalous
LEVEL_TAU_S = 86_400.0  # the series' level follows a day's readings
SCALE_TAU_S = 7 * 86_400.0  # its scale a week's, so a drift does not widen it fast
MIN_COHORT_READINGS = 50  # learned readings before the cohort judges anyone
MIN_SERIES_READINGS = 5
SPREAD_FLOOR = 0.05  # the cohort's usual distance is at least this (in units of scale)
RELATIVE_FLOOR = 1e-3  # a series' scale is at least this share of its level


@dataclass(slots=True)
class CohortModel:
    """How far, in units of their own scale, a cohort's series usually stray from their
    own level: an average of ``|z|`` over every reading its members learned."""

    spread: float = 0.0
    learned: int = 0
    members: int = 0

    def learn(self, distance: float) -> None:
        """Take one member's normal reading (its ``|z|``)."""
        self.learned += 1
        # a running mean, then an average over the last few thousand readings
        self.spread += (distance - self.spread) / min(self.learned, 5_000)

    def usual(self) -> float | None:
        """The usual ``|z|``; None until the cohort has learned enough."""
        if self.learned < MIN_COHORT_READINGS:
            return None
        return max(self.spread, SPREAD_FLOOR)


@dataclass(slots=True)
class CohortMember:
    """One series of a cohort: its running level and scale, judged by the cohort's model.

    Implements the per-series scorer protocol (`score` before `learn`).
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

    def _z(self, value: float) -> float:
        scale = max(self.scale, RELATIVE_FLOOR * abs(self.level), 1e-9)
        return (value - self.level) / scale

    def _warm(self, ts: float) -> bool:
        return (
            self.first_ts is not None
            and ts - self.first_ts >= self.warmup_s
            and self.readings >= MIN_SERIES_READINGS
        )

    def score(self, ts: float, value: float) -> Verdict | None:
        """Judge a reading against the cohort; None while it or the cohort warms up."""
        usual = self.cohort.usual()
        if not self._warm(ts) or usual is None:
            self._last = None
            return None
        z = self._z(value)
        score = abs(z) / usual
        anomalous = score >= LIMIT
        self._last = (ts, anomalous)
        scale = max(self.scale, RELATIVE_FLOOR * abs(self.level), 1e-9)
        return Verdict(
            value=value,
            score=score,
            threshold=LIMIT,
            anomalous=anomalous,
            expected=self.level,
            band=LIMIT * usual * scale,
            z=z,
            basis=(
                f"{abs(z):.1f} of its own scale from its level, {score:.1f}× what the "
                f"cohort's {self.cohort.members} series usually stray (limit {LIMIT:g}×)"
            ),
        )

    def learn(self, ts: float, value: float) -> None:
        """Take a reading into the series' level and scale and the cohort's model, unless
        it was judged anomalous (and has not been so for ``relearn_s``)."""
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
            return
        dt = max(0.0, ts - self.last_ts)
        self.readings += 1
        if self._warm(ts):
            self.cohort.learn(abs(self._z(value)))
        # a running mean at first, so a new series settles within its warm-up
        w_level = max(1.0 / self.readings, 1.0 - math.exp(-dt / LEVEL_TAU_S))
        w_scale = max(1.0 / self.readings, 1.0 - math.exp(-dt / SCALE_TAU_S))
        self.scale += (abs(value - self.level) - self.scale) * w_scale
        self.level += (value - self.level) * w_level
        self.last_ts = ts
