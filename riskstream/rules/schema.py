"""The rules file (TOML): which conditions raise alerts, with thresholds and timings.

Validated strictly: an unknown table or key, a wrong type or an out-of-range value
fails with `RulesFileError` naming the file, the line and the field.
See ``config/rules.toml`` for the documented sample.
"""

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from riskstream.durations import parse_duration
from riskstream.errors import RulesFileError
from riskstream.rules.calendar import CalendarSettings
from riskstream.rules.custom import CustomRule, FieldError, StrictSection
from riskstream.rules.matrix import ScoringSettings
from riskstream.rules.overrides import Override, OverrideError, apply_override
from riskstream.rules.series_anomaly import SeriesAnomalyRule
from riskstream.rules.toml_guard import TomlLimitError, load_toml

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Severity = Literal["info", "warning", "critical"]

# The keys most [rules.*] tables share, described once (the reference is generated from it).
Enabled = Annotated[bool, Field(description="false turns the rule off")]
HoldFor = Annotated[
    Seconds, Field(description="how long the condition holds before the alert opens")
]
ClearAfter = Annotated[
    Seconds, Field(description="how long the condition stays clear before the alert resolves")
]
AlertSeverity = Annotated[Severity, Field(description="severity of the alerts it raises")]


class _Section(StrictSection):
    """A table of this part of the rules file."""


class InventoryRule(_Section):
    """Inventory on hand below the pledged quantity."""

    enabled: Enabled = True
    coverage_below: float = Field(0.9, gt=0, le=2, description="on hand / pledged quantity")
    clear_above: float = Field(0.95, gt=0, le=2, description="coverage that clears the alert")
    for_: HoldFor = Field(1800.0, alias="for")
    clear_after: ClearAfter = 3600.0
    severity: AlertSeverity = "critical"

    @field_validator("clear_above")
    @classmethod
    def _clears_above_the_threshold(cls, value: float, info: ValidationInfo) -> float:
        below = info.data.get("coverage_below")
        if isinstance(below, float) and value <= below:
            raise ValueError(
                f"must be above coverage_below ({below:g}): an alert that clears where it "
                "opens would flap"
            )
        return value


class GeofenceRule(_Section):
    """A vehicle (or yard stock) outside its geofence."""

    enabled: Enabled = True
    for_: HoldFor = Field(300.0, alias="for")
    clear_after: ClearAfter = 1800.0
    severity: AlertSeverity = "warning"


class DeadmanRule(_Section):
    """A device silent for longer than its expected reporting allows."""

    enabled: Enabled = True
    missed_intervals: float = Field(5.0, ge=1, description="silent for this many intervals")
    min_silence: Seconds = Field(
        600.0, description="silent at least this long, however short the interval"
    )
    severity: AlertSeverity = "warning"


class ColdChainRule(_Section):
    """Perishable collateral outside its storage temperature band."""

    enabled: Enabled = True
    tolerance_c: float = Field(0.5, ge=0, description="allowed overshoot of the band, °C")
    for_: HoldFor = Field(900.0, alias="for")
    clear_after: ClearAfter = 1800.0
    severity: AlertSeverity = "critical"


class ParkedMovingRule(_Section):
    """A vehicle moving during the hours it should be parked (local time of its site)."""

    enabled: Enabled = True
    night_start_hour: int = Field(22, ge=0, le=23, description="parked from this local hour")
    night_end_hour: int = Field(5, ge=0, le=23, description="parked until this local hour")
    speed_above_kmh: float = Field(
        3.0, ge=0, description="faster than this is moving (a parked GPS drifts below ~2 km/h)"
    )
    for_: HoldFor = Field(600.0, alias="for")
    clear_after: ClearAfter = 1800.0
    severity: AlertSeverity = "warning"


class PositionImplausibleRule(_Section):
    """A GPS tracker's fixes that no vehicle can drive between (spoofed or relayed signals)."""

    enabled: Enabled = True
    max_speed_kmh: float = Field(
        250.0,
        gt=0,
        description="a jump between two fixes faster than this, in km/h, is implausible: "
        "above what any road vehicle reaches, let alone pledged trucks, vans and loaders",
    )
    max_accel_ms2: float = Field(
        8.0,
        gt=0,
        description="a change of speed, in m/s², from the leg before to this jump (over "
        "the time between the two legs' midpoints) above this is implausible: tyres grip "
        "to about 1 g (9.8 m/s²) at best, and a sports car doing 0-100 km/h in 3.5 s "
        "averages 8 m/s² for those seconds only; a loaded truck manages about 1",
    )
    min_jump_m: float = Field(
        1000.0,
        ge=0,
        description="jumps shorter than this, in metres, never count: a working receiver's "
        "fixes scatter by metres and a signal reflected off buildings puts one a few "
        "hundred metres off, so a short jump over a short time means nothing",
    )
    repeat_count: int = Field(
        3, ge=2, description="implausible jumps within `repeat_window` that make it critical"
    )
    repeat_window: Seconds = Field(
        3600.0, gt=0, description="the time within which `repeat_count` jumps make it critical"
    )
    clear_after: ClearAfter = Field(
        6 * 3600.0, description="resolves after this long without an implausible jump"
    )
    severity: AlertSeverity = "warning"
    repeat_severity: Severity = Field(
        "critical", description="severity once `repeat_count` jumps came within `repeat_window`"
    )


class StuckValuesRule(_Section):
    """A sensor repeating exactly the same value (frozen, or replaced by a fake)."""

    enabled: Enabled = True
    metrics: list[str] = Field(
        default_factory=lambda: [
            "weight_kg",
            "temperature_c",
            "humidity_pct",
            "power_kw",
            "lat_deg",
            "lon_deg",
            "current_a",
            "vibration_mms",
        ],
        description="metrics that always carry noise when the sensor is alive",
    )
    min_repeats: int = Field(
        10, ge=2, description="exact repeats of one value, over `for`, that make it stuck"
    )
    for_: HoldFor = Field(3600.0, alias="for")
    severity: AlertSeverity = "warning"


class LoadCellFaultRule(_Section):
    """A load cell of a multi-cell lot set aside: stuck, off its siblings, or silent."""

    enabled: Enabled = True
    tolerance: float = Field(
        0.3,
        gt=0,
        le=1,
        description="how far off what its siblings imply a cell may read, as a share of that",
    )
    stale_intervals: float = Field(
        5.0, ge=2, description="intervals without a report, while its siblings report, to be silent"
    )
    for_: HoldFor = Field(900.0, alias="for")
    clear_after: ClearAfter = 1800.0
    severity: AlertSeverity = "warning"


class ProductionSlowdownRule(_Section):
    """A production line's output (else power) below its usual level for the hour of week."""

    enabled: Enabled = True
    index_below: float = Field(0.7, gt=0, lt=1, description="actual / usual of the hour")
    clear_above: float = Field(0.85, gt=0, le=2, description="index that clears the alert")
    for_: HoldFor = Field(6 * 3600.0, alias="for")
    clear_after: ClearAfter = 12 * 3600.0
    severity: AlertSeverity = "warning"

    @field_validator("clear_above")
    @classmethod
    def _clears_above_the_threshold(cls, value: float, info: ValidationInfo) -> float:
        below = info.data.get("index_below")
        if isinstance(below, float) and value <= below:
            raise ValueError(
                f"must be above index_below ({below:g}): an alert that clears where it "
                "opens would flap"
            )
        return value


class MachineIdleRule(_Section):
    """A production line standing still in hours it usually runs."""

    enabled: Enabled = True
    idle_below: float = Field(
        0.1, gt=0, lt=1, description="level / usual under which the line stands still"
    )
    for_: HoldFor = Field(25 * 3600.0, alias="for")
    clear_after: ClearAfter = 3600.0
    severity: AlertSeverity = "warning"


class ProductionDriftRule(_Section):
    """A downward change of a line's production index (Page-Hinkley test): early warning."""

    enabled: Enabled = True
    threshold: float = Field(4.0, gt=0, description="Page-Hinkley lambda, in index-hours")
    delta: float = Field(0.05, ge=0, description="fall of the index per hour tolerated")
    min_hours: int = Field(24, ge=1, description="running hours seen before it may alert")
    recover_above: float = Field(0.9, gt=0, le=2, description="recent index that ends it")
    net_of_cohort: bool = Field(
        True,
        description="judge the recent index against the median recent index of the lender's "
        "other lines of the same industry and hemisphere (their shared season)",
    )
    clear_after: ClearAfter = 12 * 3600.0
    severity: AlertSeverity = "info"


class ProductionDeclineRule(_Section):
    """A line's daily level falling steadily below its own level before the fall."""

    enabled: Enabled = True
    drop_share: float = Field(
        0.07, gt=0, lt=1, description="fall of the recent days' level, share of the reference"
    )
    slope_per_week: float = Field(
        0.05, ge=0, lt=1, description="fall per week of the recent days, share of the reference"
    )
    clear_below: float = Field(
        0.035, ge=0, lt=1, description="an open alert clears once the fall is under this"
    )
    window: Seconds = Field(
        7 * 86400.0, ge=3 * 86400.0, le=14 * 86400.0, description="the recent days judged"
    )
    reference: Seconds = Field(
        21 * 86400.0,
        ge=7 * 86400.0,
        le=42 * 86400.0,
        description="the days before the window whose mean level is the reference",
    )
    min_days: int = Field(
        3, ge=2, le=14, description="days with production needed in the window and reference"
    )
    cusum_allowance: float = Field(
        1.0,
        ge=0,
        le=5,
        description="daily fall below the reference (net of the peers) that adds no "
        "evidence, in the line's own day-to-day spreads: each day adds its fall less this "
        "to the CUSUM",
    )
    cusum_threshold: float = Field(
        4.0,
        gt=0,
        le=50,
        description="CUSUM of the daily falls (in day-to-day spreads) from which the line "
        "may be in decline",
    )
    net_of_cohort: bool = Field(
        True,
        description="judge the line net of the concurrent movement of the lender's other "
        "lines of the same industry and hemisphere (their shared season)",
    )
    for_: HoldFor = Field(0.0, alias="for")
    clear_after: ClearAfter = 3 * 86400.0
    severity: AlertSeverity = "warning"

    @field_validator("clear_below")
    @classmethod
    def _clears_below_the_threshold(cls, value: float, info: ValidationInfo) -> float:
        drop = info.data.get("drop_share")
        if isinstance(drop, float) and value >= drop:
            raise ValueError(
                f"must be below drop_share ({drop:g}): an alert that clears where it opens "
                "would flap"
            )
        return value


class AnomalyRule(_Section):
    """Unusual hours of production devices (river HalfSpaceTrees shared per device kind)."""

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
        description="anomaly detection on any series (`riskstream.rules.series_anomaly`)",
    )


class DataIntegrityRule(_Section):
    """Messages a device did not send: replayed, a taken seq, a failed signature."""

    enabled: Enabled = True
    min_messages: int = Field(3, ge=1, description="doubtful messages within `within`")
    within: Seconds = Field(3600.0, description="the window `min_messages` are counted in")
    clear_after: ClearAfter = 7200.0
    severity: AlertSeverity = "critical"


class MessagesLostRule(_Section):
    """Messages missing from a device's seq sequence (lost by the network or a broker)."""

    enabled: Enabled = True
    min_lost: int = Field(10, ge=1, description="missing messages within `within`")
    within: Seconds = Field(3600.0, description="the window `min_lost` are counted in")
    clear_after: ClearAfter = 7200.0
    severity: AlertSeverity = "warning"


class OutOfHoursRule(_Section):
    """Stock leaving a lot in hours when this lot's stock does not normally move."""

    enabled: Enabled = True
    drop_share: float = Field(
        0.03, gt=0, le=1, description="fall since the quiet hours began, share of the pledge"
    )
    for_: HoldFor = Field(300.0, alias="for")
    clear_after: ClearAfter = 3600.0
    moved_share: float = Field(
        0.005, gt=0, le=1, description="an hour whose stock ranged this much (of the pledge) moved"
    )
    learn_weeks: int = Field(
        4, ge=1, le=8, description="weeks of an hour of week remembered to learn its movement"
    )
    min_weeks: int = Field(
        2, ge=1, le=8, description="weeks seen before an hour of week is judged on what it learned"
    )
    night_start_hour: int = Field(22, ge=0, le=23, description="cold start: quiet from")
    night_end_hour: int = Field(5, ge=0, le=23, description="cold start: quiet until")
    severity: AlertSeverity = "critical"

    @field_validator("min_weeks")
    @classmethod
    def _within_memory(cls, value: int, info: ValidationInfo) -> int:
        weeks = info.data.get("learn_weeks")
        if isinstance(weeks, int) and value > weeks:
            raise ValueError(f"must be at most learn_weeks ({weeks})")
        return value


class SlowLossRule(_Section):
    """Stock lost a little in every quiet stretch (a CUSUM over the lot's quiet stretches)."""

    enabled: Enabled = True
    allowance: float = Field(
        0.004,
        gt=0,
        le=0.5,
        description="loss a quiet stretch may have without counting, share of the pledge",
    )
    threshold: float = Field(
        0.015, gt=0, le=1, description="sum of losses beyond the allowance that alerts"
    )
    for_: HoldFor = Field(600.0, alias="for")
    clear_after: ClearAfter = 3600.0
    severity: AlertSeverity = "critical"


class DoublePledgeRule(_Section):
    """The same goods at two sites: one lot loses what a lot of another borrower gains."""

    enabled: Enabled = True
    min_share: float = Field(
        0.05, gt=0, le=1, description="smallest block that counts, share of the origin's pledge"
    )
    tolerance: float = Field(0.03, gt=0, lt=1, description="gain within ± this of the loss")
    max_transit: Seconds = Field(14 * 3600.0, gt=0, description="loss to gain, at most")
    severity: AlertSeverity = "critical"


class PledgedElsewhereRule(_Section):
    """The same goods pledged to another lender of the platform too.

    The platform compares keyed hashes of every lender's lot facts; a lender is told only
    which of its own facts matched. ``enabled``, ``severity`` and ``score`` may differ in a
    lender's own rules; the matching thresholds are the platform's: only the service's
    rules file sets them (a lender cannot weaken them to probe for others' goods).
    """

    enabled: Enabled = True
    severity: AlertSeverity = "critical"
    score: float = Field(80.0, ge=0, le=100, description="the alert's score, 0–100 points")
    min_facts: int = Field(
        2,
        ge=2,
        le=4,
        description="facts two lots must share, at least one of them strong (device "
        "serial, RFID tags, weight changes); the site location alone is weak",
    )
    min_shared_tags: int = Field(3, ge=1, description="RFID tags in common, at least")
    min_tag_share: float = Field(
        0.5, gt=0, le=1, description="RFID tags in common, at least this share of the smaller set"
    )
    min_comoving_changes: int = Field(
        3, ge=2, description="weight changes at the same times and of the same size, at least"
    )
    min_comoving_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="and at least this share of the changes of the lot with fewer of them "
        "(warehouses on the same shift pattern move at the same times by chance)",
    )
    change_bucket: Seconds = Field(
        600.0, ge=60, le=86_400, description="weight changes are compared per bucket of event time"
    )
    min_change_kg: float = Field(
        500.0, gt=0, description="smallest change of a lot's weight over one bucket that counts, kg"
    )
    change_tolerance: float = Field(
        0.02,
        gt=0,
        le=0.5,
        description="weight changes are compared on a scale of steps of this share of their "
        "size; two changes match up to one step apart (2 % to 4 % at the default)",
    )
    window: Seconds = Field(
        14 * 86_400.0, gt=0, description="weight changes older than this are forgotten"
    )


class Rules(_Section):
    """The ``[rules.*]`` tables."""

    inventory_below_pledge: InventoryRule = InventoryRule()
    geofence_exit: GeofenceRule = GeofenceRule()
    device_silent: DeadmanRule = DeadmanRule()
    cold_chain_excursion: ColdChainRule = ColdChainRule()
    vehicle_moving_when_parked: ParkedMovingRule = ParkedMovingRule()
    position_implausible: PositionImplausibleRule = PositionImplausibleRule()
    values_stuck: StuckValuesRule = StuckValuesRule()
    load_cell_fault: LoadCellFaultRule = LoadCellFaultRule()
    production_slowdown: ProductionSlowdownRule = ProductionSlowdownRule()
    machine_idle: MachineIdleRule = MachineIdleRule()
    production_drift: ProductionDriftRule = ProductionDriftRule()
    production_decline: ProductionDeclineRule = ProductionDeclineRule()
    anomaly: AnomalyRule = AnomalyRule()
    data_integrity: DataIntegrityRule = DataIntegrityRule()
    messages_lost: MessagesLostRule = MessagesLostRule()
    collateral_moved_out_of_hours: OutOfHoursRule = OutOfHoursRule()
    inventory_slow_loss: SlowLossRule = SlowLossRule()
    double_pledge: DoublePledgeRule = DoublePledgeRule()
    pledged_elsewhere: PledgedElsewhereRule = PledgedElsewhereRule()
    custom: list[CustomRule] = Field(
        default_factory=list, description="user-defined rules (`riskstream.rules.custom`)"
    )

    @field_validator("custom")
    @classmethod
    def _custom_names_free(cls, rules: list[CustomRule]) -> list[CustomRule]:
        seen: set[str] = set()
        for i, rule in enumerate(rules):
            if rule.name in cls.model_fields:
                raise FieldError(f"{i}.name", f"{rule.name!r} is a built-in rule's; choose another")
            if rule.name in seen:
                raise FieldError(f"{i}.name", f"{rule.name!r} is used by two custom rules")
            seen.add(rule.name)
        return rules


EXTRA_ALERT_KINDS: frozenset[str] = frozenset()
"""Alert kinds not named after a ``[rules.*]`` table that ``[alerts]`` tables may name."""


def _per_kind(value: object) -> object:
    """One duration for every kind, or a table of kind → duration (``default``: the rest)."""
    return {"default": value} if isinstance(value, str | int | float) else value


PerKind = Annotated[dict[str, Seconds], BeforeValidator(_per_kind)]


class AlertSettings(_Section):
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
        custom = (info.context or {}).get("custom_kinds", ())
        known = (set(Rules.model_fields) - {"custom"}) | EXTRA_ALERT_KINDS | set(custom)
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


class SeverityPoints(_Section):
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


class ScorecardSettings(_Section):
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


class BaselineSettings(_Section):
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


class ModelSettings(_Section):
    """The ``[models]`` table: the online default model learning from loan outcomes."""

    horizon: Seconds = Field(
        30 * 86400.0, gt=0, description="snapshots this long before a bad outcome are labelled 1"
    )
    outcome_grace: Seconds = Field(86400.0, ge=0, description="how late an outcome may arrive")
    snapshot_every: Seconds = Field(86400.0, gt=0, description="feature snapshot period")
    max_snapshots: int = Field(1000, ge=1, description="pending snapshots kept per borrower")
    learning_rate: float = Field(0.05, gt=0, le=1, description="step size of the online regression")
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


class RuleSet(_Section):
    """A whole rules file."""

    version: int = Field(1, description="version of the file format")
    rules: Rules = Rules()
    alerts: AlertSettings = AlertSettings()
    scorecard: ScorecardSettings = ScorecardSettings()
    models: ModelSettings = ModelSettings()
    scoring: ScoringSettings = ScoringSettings()
    baseline: BaselineSettings = BaselineSettings()
    calendar: CalendarSettings = CalendarSettings()
    overrides: list[Override] = Field(
        default_factory=list, description="per-tenant and per-loan [rules.*] overrides"
    )

    @field_validator("overrides")
    @classmethod
    def _overrides_fit(cls, overrides: list[Override], info: ValidationInfo) -> list[Override]:
        base = info.data.get("rules")
        if isinstance(base, Rules):
            for i, override in enumerate(overrides):
                apply_override(base, override.rules, i)
        return overrides


def load_rules(path: Path | str) -> RuleSet:
    """Read and validate a rules file; `RulesFileError` names file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(path, f"cannot read: {exc.strerror or exc}", None, None) from exc
    return parse_rules(text, path)


def parse_rules(text: str, path: Path | str = "<rules>") -> RuleSet:
    """Validate rules given as TOML text (``path`` is only used in messages).

    Bounded (`riskstream.rules.toml_guard`): nesting, integers of 64 bits, finite numbers.
    """
    try:
        raw = load_toml(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise RulesFileError(path, f"not valid TOML: {exc}", line, None) from exc
    except TomlLimitError as exc:
        line = exc.line if exc.line is not None else locate(text, exc.keys)
        raise RulesFileError(path, exc.reason, line, ".".join(exc.keys) or None) from exc
    try:
        return RuleSet.model_validate(raw, context={"custom_kinds": _custom_names(raw)})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"] if p != "[key]"]  # a bad key: its own line
        reason = _reason(first)
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, OverrideError):
            loc, reason = cause.loc, cause.reason
        elif isinstance(cause, FieldError):
            loc, reason = [*loc, *cause.field.split(".")], cause.reason
        field = ".".join(loc)
        raise RulesFileError(path, reason, locate(text, loc), field) from exc


def _custom_names(raw: dict[str, Any]) -> list[str]:
    """Names of the ``[[rules.custom]]`` tables, for the tables that may name alert kinds."""
    rules = raw.get("rules")
    tables = rules.get("custom") if isinstance(rules, dict) else None
    if not isinstance(tables, list):
        return []
    return [t["name"] for t in tables if isinstance(t, dict) and isinstance(t.get("name"), str)]


def _reason(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling against config/rules.toml)"
    if error["type"] == "missing":
        return "required field is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    got = repr(error.get("input"))
    return f"{message} (got {got if len(got) <= 120 else got[:119] + '…'})"


def locate(text: str, loc: list[str]) -> int | None:
    """Best line for a field path: its ``key =`` line, else its table header.

    Inside inline tables and arrays (``coverage = [[1.1, 0], ...]``) the line of the
    nearest enclosing key is given.
    """
    if not loc:
        return None
    if len(loc) > 1 and _is_index(loc[1]):
        return _locate_in_array(text, loc)
    nested = next((i for i in range(2, len(loc)) if _is_index(loc[i])), None)
    if nested is not None:  # an array of tables under a table, e.g. [[rules.custom]]
        found = _locate_in_array(text, [".".join(loc[:nested]), *loc[nested:]])
        if found is not None:
            return found
    line = _locate_exact(text, loc)
    if line is None and len(loc) > 1:
        return locate(text, loc[:-1])
    return line


def _is_index(part: str) -> bool:
    """Whether a location part is an array index (not a key such as "²" or 5,000 digits)."""
    return part.isascii() and part.isdigit() and len(part) <= 9


def _locate_exact(text: str, loc: list[str]) -> int | None:
    *tables, key = loc
    wanted_table = ".".join(tables)
    current = ""
    header_line: int | None = None
    key_pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    header_pattern = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    for number, line in enumerate(text.splitlines(), start=1):
        header = header_pattern.match(line)
        if header:
            current = header.group(1).replace(" ", "")
            if current == ".".join(loc):
                return number
            if current == wanted_table:
                header_line = number
            continue
        if current == wanted_table and key_pattern.match(line):
            return number
    return header_line


def _locate_in_array(text: str, loc: list[str]) -> int | None:
    """Line of ``loc`` = [name, index, ...] inside the index-th ``[[name]]`` table."""
    name, index, *rest = loc
    lines = text.splitlines()
    table = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]")
    opens = [i for i, line in enumerate(lines) if table.match(line)]
    if int(index) >= len(opens):
        return None
    begin = opens[int(index)]
    end = len(lines)
    for i in range(begin + 1, len(lines)):
        header = re.match(r"^\s*\[\[?\s*([^\]]+?)\s*\]", lines[i])
        if header and (lines[i].lstrip().startswith("[[") or not header.group(1).startswith(name)):
            end = i
            break
    found = locate("\n".join([f"[{name}]", *lines[begin + 1 : end]]), [name, *rest]) if rest else 1
    return begin + (found or 1)
