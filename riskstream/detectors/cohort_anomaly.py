"""Unusual hours of production devices, by a river HalfSpaceTrees model per cohort.

A cohort is the devices of one metric (output counters, power meters, machine
monitors). Its one model sees each device's closed hours through features normalised
by that device's own baseline (`features`), so devices of any size share it; the
per-device state is only the alert condition. Each hour is scored before it is
learned, and an hour scoring at or above the rule's threshold is not learned, so what
is flagged does not become normal.
"""

from collections.abc import Hashable
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from riskstream.detectors.production_line import ClosedHour
from riskstream.detectors.series_anomaly import SeriesAnomalyRule
from riskstream.engine.conditions import Condition
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
)

if TYPE_CHECKING:
    from river.anomaly import HalfSpaceTrees

CAP = 1.5  # levels above 1.5 × the busiest hour are all "very high"
LIMITS: dict[Hashable, tuple[float, float]] = {
    "level": (0.0, 1.0),
    "usual": (0.0, 1.0),
    "spread": (0.0, 1.0),
}


class AnomalyRule(RuleTable):
    """Unusual hours of production devices (river HalfSpaceTrees shared per device kind)."""

    matrix_component: ClassVar[AlertComponent] = "behaviour"

    # the settings of the anomaly model, which a cohort of devices shares across loans
    service_wide: ClassVar[frozenset[str]] = frozenset(
        {"n_trees", "height", "window_size", "seed", "series"}
    )

    enabled: Enabled = False
    score_above: float = Field(0.9, gt=0, lt=1, description="anomaly score that counts")
    for_: HoldFor = Field(3 * 3600.0, alias="for")
    clear_after: ClearAfter = 3 * 3600.0
    n_trees: int = Field(10, ge=1, le=50, description="trees of each cohort's HalfSpaceTrees model")
    height: int = Field(8, ge=2, le=12, description="height of each tree")
    window_size: int = Field(
        250,
        ge=10,
        le=10_000,
        description="device-hours a cohort model learns before it refreshes its trees",
    )
    seed: int = Field(42, description="random seed of the trees")
    severity: AlertSeverity = "info"
    series: SeriesAnomalyRule = Field(
        default_factory=SeriesAnomalyRule,
        description="anomaly detection on any series (`riskstream.detectors.series_anomaly`)",
    )


def features(hour: ClosedHour) -> dict[str, float] | None:
    """The hour as shares of the device's busiest hour (capped, scaled to 0..1)."""
    if hour.usual is None or hour.busiest <= 0:
        return None
    scale = 1.0 / (hour.busiest * CAP)
    return {
        "level": min(1.0, hour.rate * scale),
        "usual": min(1.0, hour.usual * scale),
        "spread": min(1.0, max(0.0, hour.high - hour.low) * scale),
    }


class CohortAnomaly:
    """HalfSpaceTrees per cohort; an anomaly condition per device."""

    def __init__(self) -> None:
        self.models: dict[str, HalfSpaceTrees] = {}
        self.conditions: dict[str, Condition] = {}

    def model(self, cohort: str, rule: AnomalyRule) -> "HalfSpaceTrees":
        """The cohort's model, built on first use from the rule's settings."""
        found = self.models.get(cohort)
        if found is None:
            from river.anomaly import HalfSpaceTrees  # imported when used: see operations

            found = HalfSpaceTrees(
                n_trees=rule.n_trees,
                height=rule.height,
                window_size=rule.window_size,
                limits=dict(LIMITS),
                seed=rule.seed,
            )
            self.models[cohort] = found
        return found

    def score(self, hour: ClosedHour, rule: AnomalyRule, learn: bool = True) -> float | None:
        """Score ``hour`` (0 normal .. 1 anomalous), then learn it unless it is flagged
        (or ``learn`` is False: its line is flagged by another detector)."""
        x = features(hour)
        if x is None:
            return None
        model = self.model(hour.metric, rule)
        score = float(model.score_one(x))  # type: ignore[no-untyped-call]
        if learn and score < rule.score_above:
            model.learn_one(x)  # type: ignore[no-untyped-call]
        return score

    def condition(self, device_id: str) -> Condition:
        """The device's anomaly condition."""
        found = self.conditions.get(device_id)
        if found is None:
            found = self.conditions[device_id] = Condition()
        return found
