"""Anomalies on any series: one online model per series, or one per cohort of like series.

`SeriesAnomalyRule` is its ``[rules.anomaly.series]`` table.

Each reading of a watched series is judged by its model before the model learns it
(`riskstream.detectors.anomaly_methods`: a reading judged anomalous is not learned, so an
anomalous stretch does not become normal until it has lasted long enough to be the new
normal). A series anomalous for ``for`` opens an ``anomaly`` alert on the subject
``device/metric`` that says what was seen and what was expected; it clears after
``clear_after`` of normal readings, and the series then stays quiet for ``cooldown``.

::

    [rules.anomaly.series]
    enabled = true
    metrics = ["level_pct", "pressure_bar"]   # or ["*"]: every metric of the devices
    device_kinds = ["generic"]                 # optional, like devices, sites, tenants
    method = "residual+dispersion"
    for = "10m"
    clear_after = "30m"
    cooldown = "6h"

With ``model = "cohort"`` the series of one metric of one device kind within one lender
(``cohort_by = ["site"]``: and one site) share one model
(`riskstream.detectors.cohort_series`: each series keeps its own level, scale and
hourly profile), and a new device is judged after ``cohort_warmup`` rather than
``warmup``. Otherwise each selected series (a device's
metric) gets its own online model
(`riskstream.detectors.anomaly_methods`), which learns its daily and weekly profile on any
cadence, judges each reading before learning it, and does not learn what it judged
anomalous (until a change has lasted long enough to be the new normal). ``method``
was chosen by `riskstream bench anomaly` (README, "Anomaly detection on any series").
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Self

from pydantic import Field, model_validator

from devices.reading import Reading
from devices.units import unit_of
from riskstream.detectors.anomaly_methods import (
    AnyOfScorer,
    DispersionScorer,
    HalfSpaceTreesScorer,
    RobustSeasonalScorer,
    SeasonalResidualScorer,
    SeriesScorer,
    Verdict,
)
from riskstream.detectors.cohort_series import CohortMember, CohortModel
from riskstream.detectors.settle import settle
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.fields import FieldError, Seconds, Severity
from riskstream.rules.selection import DeviceSelection

KIND = "anomaly"

Model = Literal["series", "cohort"]
Method = Literal[
    "residual+dispersion", "seasonal_residual", "robust_seasonal", "dispersion", "half_space_trees"
]


class SeriesAnomalyRule(DeviceSelection):
    """The ``[rules.anomaly.series]`` table: an online anomaly model for each series (device
    metric) it selects, judged before learned."""

    enabled: bool = Field(False, description="true turns it on")
    metrics: list[str] = Field(
        default_factory=list, description='metric names, or ["*"] for every metric'
    )
    method: Method = Field(
        "residual+dispersion", description="the online model (chosen by `riskstream bench anomaly`)"
    )
    for_: Seconds = Field(0.0, alias="for", description="anomalous this long before alerting")
    clear_after: Seconds = Field(1800.0, description="normal this long before it clears")
    cooldown: Seconds = Field(
        6 * 3600.0, description="after an alert cleared, no new one on the series this long"
    )
    warmup: Seconds = Field(86400.0, description="event time a series is learned before judged")
    model: Model = Field(
        "series",
        description='"series": a model per series (its own profile, after warmup); '
        '"cohort": one model per cohort (a lender\'s devices of one kind and metric), each '
        "series judged net of its own level, scale and daily profile after cohort_warmup",
    )
    cohort_by: list[Literal["site"]] = Field(
        default_factory=list, description='["site"]: a cohort per site too (model = "cohort")'
    )
    cohort_warmup: Seconds = Field(
        3 * 3600.0,
        gt=0,
        description="event time a new series learns its level, scale and first hours before "
        'its cohort judges it (model = "cohort")',
    )
    severity: Severity = Field("info", description="severity of its alerts")

    @model_validator(mode="after")
    def _watches_something(self) -> Self:
        if self.enabled and not self.metrics:
            raise FieldError("metrics", 'name the metrics to watch, or ["*"] for all')
        return self

    def watches_metric(self, metric: str) -> bool:
        """Whether ``metric`` is one this table watches (of some device)."""
        return self.enabled and ("*" in self.metrics or metric in self.metrics)


def make_scorer(rule: SeriesAnomalyRule, utc_offset_s: float) -> SeriesScorer:
    """A fresh model of ``rule.method`` for one series in a site ``utc_offset_s`` from UTC."""
    warmup = rule.warmup
    match rule.method:
        case "seasonal_residual":
            return SeasonalResidualScorer(warmup_s=warmup, utc_offset_s=utc_offset_s)
        case "robust_seasonal":
            return RobustSeasonalScorer(warmup_s=warmup, utc_offset_s=utc_offset_s)
        case "dispersion":
            return DispersionScorer(warmup_s=warmup)
        case "half_space_trees":
            return HalfSpaceTreesScorer(warmup_s=warmup, utc_offset_s=utc_offset_s)
        case _:
            return AnyOfScorer(
                (
                    SeasonalResidualScorer(warmup_s=warmup, utc_offset_s=utc_offset_s),
                    DispersionScorer(warmup_s=warmup),
                )
            )


@dataclass(slots=True)
class Series:
    """One watched series: its model, its alert condition and its last verdict."""

    device: DeviceContext
    scorer: SeriesScorer
    condition: Condition = field(default_factory=Condition)
    quiet_until: float = float("-inf")
    last_ts: float = float("-inf")
    verdict: Verdict | None = None
    worst: Verdict | None = None


class SeriesAnomalyDetector:
    """Runs the ``[rules.anomaly.series]`` table over the series it selects."""

    def __init__(self, index: FleetIndex, rule: SeriesAnomalyRule) -> None:
        self.index = index
        self.rule = rule
        self.series: dict[tuple[str, str], Series] = {}
        self.cohorts: dict[tuple[str, ...], CohortModel] = {}
        self._selected: dict[str, bool] = {}

    def set_rule(self, rule: SeriesAnomalyRule) -> None:
        """A new table; models of series it still watches are kept (a new method,
        warm-up or choice of model starts them over)."""
        if _model_of(rule) != _model_of(self.rule):
            self.series = {}
            self.cohorts = {}
        self.rule = rule
        self._selected = {}
        self.series = {k: s for k, s in self.series.items() if self._watches(s.device, k[1])}

    def watches_metric(self, metric: str) -> bool:
        """Whether some device's ``metric`` may be watched (the engine routes by this)."""
        return self.rule.watches_metric(metric)

    def _watches(self, device: DeviceContext, metric: str) -> bool:
        if not self.rule.watches_metric(metric):
            return False
        selected = self._selected.get(device.device_id)
        if selected is None:
            selected = self._selected[device.device_id] = self.rule.selects_device(
                device.tenant, device.kind, device.device_id, device.site_id
            )
        return selected

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """Judge, then learn, one reading of a watched metric."""
        rule = self.rule
        if not self._watches(device, reading.metric):
            return None
        key = (device.device_id, reading.metric)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series(device, self._scorer(device, reading))
        ts = reading.ts
        if ts < series.last_ts:
            return None  # late: the model has moved on
        series.last_ts = ts
        verdict = series.scorer.score(ts, reading.value)
        series.scorer.learn(ts, reading.value)
        if verdict is None:
            return None
        series.verdict = verdict
        breached = verdict.anomalous and ts >= series.quiet_until
        if breached and (series.worst is None or _past(verdict) > _past(series.worst)):
            series.worst = verdict
        transition = series.condition.observe(ts, breached, rule.for_, rule.clear_after)
        if transition == "clear":
            series.quiet_until = ts + rule.cooldown
        alert = settle(
            book,
            (device.tenant, device.borrower_id, KIND, f"{device.device_id}/{reading.metric}"),
            transition,
            series.condition,
            ts,
            wall,
            lambda since: self._finding(series, reading.metric, since, ts),
            lambda: (
                f"cleared: {reading.metric} as expected for {format_duration(rule.clear_after)}"
            ),
        )
        if transition == "clear":
            series.worst = None
        return alert

    def _scorer(self, device: DeviceContext, reading: Reading) -> SeriesScorer:
        """A new series' model: its own, or a member of its cohort's."""
        rule = self.rule
        if rule.model == "series":
            return make_scorer(rule, self._offset(device, reading.ts))
        cohort_key: tuple[str, ...] = (device.tenant, device.kind.value, reading.metric)
        if "site" in rule.cohort_by:
            cohort_key += (device.site_id,)
        cohort = self.cohorts.get(cohort_key)
        if cohort is None:
            cohort = self.cohorts[cohort_key] = CohortModel()
        return CohortMember(
            cohort,
            rule.cohort_warmup,
            rule.warmup,
            utc_offset_s=self._offset(device, reading.ts),
        )

    def _offset(self, device: DeviceContext, ts: float) -> float:
        """The site's offset from UTC at the series' first reading (the models keep it:
        they know no daylight-saving change)."""
        offset = (
            datetime.fromtimestamp(ts, UTC).astimezone(self.index.zone(device.site_id)).utcoffset()
        )
        return offset.total_seconds() if offset is not None else 0.0

    def _finding(self, series: Series, metric: str, since: float, ts: float) -> Finding:
        device = series.device
        latest, worst = series.verdict, series.worst or series.verdict
        assert latest is not None
        assert worst is not None
        unit = unit_of(metric)
        reasons = [
            f"{metric} ({unit or 'no unit'}) unusual on {device.device_id}: {worst.explain()}"
        ]
        if latest is not worst:
            reasons.append(f"latest: {latest.explain()}")
        lines: list[dict[str, object]] = []
        if worst.expected is not None and worst.band is not None:
            lines = [
                {"value": worst.expected, "label": "expected"},
                {"value": worst.expected + worst.band, "label": "expected + band"},
                {"value": worst.expected - worst.band, "label": "expected − band"},
            ]
        return Finding(
            tenant=device.tenant,
            borrower_id=device.borrower_id,
            loan_id=device.loan_id,
            site_id=device.site_id,
            device_id=device.device_id,
            kind=KIND,
            subject=f"{device.device_id}/{metric}",
            severity=self.rule.severity,
            score=min(100.0, 10.0 * _past(worst)),
            reasons=reasons,
            evidence={
                "method": self.rule.method if self.rule.model == "series" else "cohort",
                "metric": metric,
                "unit": unit,
                "value": worst.value,
                "expected": worst.expected,
                "band": worst.band,
                "score": worst.score,
                "threshold": worst.threshold,
                "since": since,
                "ts": ts,
                "for_s": self.rule.for_,
                "lines": lines,
            },
            rule="rules.anomaly.series",
        )


def _model_of(rule: SeriesAnomalyRule) -> tuple[object, ...]:
    """What the models are built from: a change starts them over."""
    return (rule.method, rule.warmup, rule.model, tuple(rule.cohort_by), rule.cohort_warmup)


def _past(verdict: Verdict) -> float:
    """How far past its limit a verdict is (1: at the limit)."""
    return verdict.score / verdict.threshold if verdict.threshold else 0.0
