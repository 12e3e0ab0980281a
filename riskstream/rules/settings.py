"""The rules file's tables that no detector owns: ``[alerts]``, ``[scorecard]``,
``[baseline]`` and ``[models]``.

Apart from the detectors' ``[rules.*]`` tables so that the engine's alert book and the
scores can use them without importing the detectors (`riskstream.rules.schema` builds
the whole file's model from the detector registry).
"""

from typing import Annotated

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from riskstream.rules.fields import Seconds, StrictSection


def _per_kind(value: object) -> object:
    """One duration for every kind, or a table of kind → duration (``default``: the rest)."""
    return {"default": value} if isinstance(value, str | int | float) else value


PerKind = Annotated[dict[str, Seconds], BeforeValidator(_per_kind)]


class AlertSettings(StrictSection):
    """The ``[alerts]`` table: updates, cooldowns and escalation of alerts."""

    update_every: Seconds = Field(300.0, description="event time between updates of an open alert")
    cooldown: PerKind = Field(
        default_factory=lambda: {"default": 0.0},
        description="after an alert resolved itself, a recurrence of its kind and subject "
        "within this time opens no new alert (0: off)",
    )
    escalate_after: PerKind = Field(
        default_factory=lambda: {"default": 0.0},
        description="an open alert nobody acknowledged for this long goes up one severity "
        "(0: never)",
    )

    @field_validator("cooldown", "escalate_after")
    @classmethod
    def _kinds_known(cls, table: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        context = info.context or {}
        if "alert_kinds" not in context:
            return table  # built in code, not read from a file (`parse_rules` passes them)
        known = set(context["alert_kinds"]) | set(context.get("custom_kinds", ()))
        unknown = sorted(set(table) - known - {"default"})
        if unknown:
            raise ValueError(
                f"unknown alert kind {unknown[0]!r}; use `default` or one of "
                f"{', '.join(sorted(known))}"
            )
        return table

    def cooldown_of(self, kind: str) -> float:
        """Cooldown of ``kind`` in seconds (0: none)."""
        return self.cooldown.get(kind, self.cooldown.get("default", 0.0))

    def escalate_after_of(self, kind: str) -> float:
        """Unacknowledged time after which an alert of ``kind`` escalates (0: never)."""
        return self.escalate_after.get(kind, self.escalate_after.get("default", 0.0))


class SeverityPoints(StrictSection):
    """Scorecard points of one open alert, by its severity."""

    info: float = Field(5.0, ge=0, le=100, description="points of an open info alert")
    warning: float = Field(15.0, ge=0, le=100, description="points of an open warning")
    critical: float = Field(30.0, ge=0, le=100, description="points of an open critical alert")


def _default_alert_points() -> dict[str, SeverityPoints]:
    # as the packaged rules file says (a test holds the two equal)
    return {
        "default": SeverityPoints(),
        "inventory_below_pledge": SeverityPoints(info=10.0, warning=20.0, critical=30.0),
        "geofence_exit": SeverityPoints(info=5.0, warning=20.0, critical=35.0),
    }


class ScorecardSettings(StrictSection):
    """The ``[scorecard]`` table: points per feature band, summed and capped to 0–100."""

    alert_points: dict[str, SeverityPoints] = Field(
        default_factory=_default_alert_points,
        description="points per open alert by kind (``default`` for kinds not named)",
    )
    alert_points_max: float = Field(
        60.0, ge=0, le=100, description="cap on the points of open alerts (silent devices aside)"
    )
    coverage: list[tuple[float, float]] = Field(
        default_factory=lambda: [(1.1, 0.0), (1.0, 10.0), (0.9, 30.0), (0.0, 60.0)],
        description="[threshold, points]: worst lot coverage ≥ threshold gives points",
    )
    silent_device_points: float = Field(5.0, ge=0, le=100, description="points per silent device")
    data_quality_max: float = Field(
        20.0, ge=0, le=100, description="cap on the silent devices' points"
    )

    @field_validator("coverage")
    @classmethod
    def _bands_descend(cls, bands: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not bands:
            raise ValueError("needs at least one [threshold, points] band")
        thresholds = [t for t, _ in bands]
        if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(bands):
            raise ValueError("band thresholds must strictly decrease")
        if any(t < 0 or not 0 <= p <= 100 for t, p in bands):
            raise ValueError("thresholds must be ≥ 0 and points within 0..100")
        return bands


class BaselineSettings(StrictSection):
    """The ``[baseline]`` table: how production devices learn their usual hour-of-week level."""

    learn_rate: float = Field(
        0.3, gt=0, le=1, description="weight of a new hour in the usual level of its hour of week"
    )
    learn_above: float = Field(
        0.85, ge=0, le=1, description="running hours below this share of usual are not learned"
    )
    running_above: float = Field(
        0.5, gt=0, lt=1, description="usual level of a running hour / that of the busiest hour"
    )
    min_coverage: float = Field(
        0.5, gt=0, le=1, description="share of an hour's expected readings needed to use it"
    )


class ModelSettings(StrictSection):
    """The ``[models]`` table: the online default model learning from loan outcomes."""

    horizon: Seconds = Field(
        30 * 86400.0, gt=0, description="snapshots this long before a bad outcome are labelled 1"
    )
    outcome_grace: Seconds = Field(86400.0, ge=0, description="how late an outcome may arrive")
    snapshot_every: Seconds = Field(86400.0, gt=0, description="feature snapshot period")
    max_snapshots: int = Field(1000, ge=1, description="pending snapshots kept per borrower")
    learning_rate: float = Field(0.01, gt=0, le=1, description="step size of the online regression")
    prior_bad_rate: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="share of snapshots expected to go bad within the horizon: where the "
        "model starts before it has learned",
    )
    max_weight: float = Field(
        0.6,
        ge=0,
        le=1,
        description="the model's largest weight in the score (the scorecard keeps the rest)",
    )
    outcomes_for_full_weight: int = Field(
        30,
        ge=1,
        description="bad outcomes learned for `max_weight`: min(max_weight, learned / this)",
    )
