"""Operations: a production line against its own seasonal baseline (hour of week).

Readings of the watched production devices (`production_line.WATCHED`) are summed per
local clock hour; nothing else happens per reading. When a device's hour closes it is
judged against the device's usual level for that hour of week (`HourOfWeekBaseline`)
and then, unless the line is flagged, learned, so a slow decline never becomes the new
normal. The ``[rules.*]`` tables in force are the device's loan's (`RuleScope`: the
file's, or an ``[[overrides]]`` entry's for its tenant or loan), looked up when its hour
closes; ``[baseline]`` and ``[calendar]`` apply to every line. Hours on a public holiday
of the site (the rules' ``[calendar]``, by local date) are neither judged, learned nor
fed to the models: like the hours a line usually stands still, they neither start nor
end a ``for`` count. Per line (site):

- ``production_slowdown``: the slowdown lead's index (output, else power) below
  ``index_below`` in running hours for ``for``;
- ``machine_idle``: the idle lead (machine monitor, else output counter) standing
  still in hours the line usually runs, for ``for`` (hours it usually stands still do
  not end the count);
- ``production_drift``: a downward change of the slowdown lead's index by a river
  Page-Hinkley test: an early warning;
- ``anomaly``: hours a river HalfSpaceTrees of the device's cohort finds unusual
  (`cohort_anomaly`; off by default).

A fall over weeks that stays above the slowdown's threshold is ``production_decline``'s,
judged on whole days of the hours closed here (`production_decline`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from statistics import median
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from devices.reading import Reading
from riskstream.detectors import operations_findings as findings
from riskstream.detectors.cohort_anomaly import AnomalyRule, CohortAnomaly
from riskstream.detectors.line_cohorts import peers_of
from riskstream.detectors.production_line import (
    METRICS,
    RECENT_FADING,
    ClosedHour,
    HourStats,
    Line,
    build_lines,
)
from riskstream.detectors.settle import settle
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition, Transition
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
)
from riskstream.rules.scope import RuleScope

if TYPE_CHECKING:
    from riskstream.rules.schema import Rules, RuleSet

NOTHING: tuple[Alert, ...] = ()

__all__ = ["METRICS", "OperationsDetector"]


class ProductionSlowdownRule(RuleTable):
    """A production line's output (else power) below its usual level for the hour of week."""

    matrix_component: ClassVar[AlertComponent] = "operations"

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


class MachineIdleRule(RuleTable):
    """A production line standing still in hours it usually runs."""

    matrix_component: ClassVar[AlertComponent] = "operations"

    enabled: Enabled = True
    idle_below: float = Field(
        0.1, gt=0, lt=1, description="level / usual under which the line stands still"
    )
    for_: HoldFor = Field(25 * 3600.0, alias="for")
    clear_after: ClearAfter = 3600.0
    severity: AlertSeverity = "warning"


class ProductionDriftRule(RuleTable):
    """A downward change of a line's production index (Page-Hinkley test): early warning."""

    matrix_component: ClassVar[AlertComponent] = "operations"

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
    for_: HoldFor = Field(
        24 * 3600.0,
        alias="for",
        description="how long the change holds (the recent index below recover_above) "
        "before the alert opens: longer than one day's ups and downs",
    )
    clear_after: ClearAfter = 12 * 3600.0
    severity: AlertSeverity = "info"


@dataclass(frozen=True, slots=True)
class _Closing:
    """A device's hour that just closed, with what judging it takes."""

    hour: ClosedHour
    line: Line
    device: DeviceContext
    book: AlertBook
    wall: float
    rules: "Rules"  # the device's loan's

    def settle(
        self,
        kind: str,
        transition: Transition,
        condition: Condition,
        finding: Callable[[float], Finding],
        cleared: Callable[[], str],
    ) -> Alert | None:
        """`settle` the device's ``kind`` alert at the hour's end."""
        device = self.device
        key = (device.tenant, device.borrower_id, kind, device.device_id)
        return settle(
            self.book, key, transition, condition, self.hour.end, self.wall, finding, cleared
        )


class OperationsDetector:
    """Slowdown, idle, drift and anomaly alerts of production lines."""

    def __init__(self, index: FleetIndex, rules: "RuleSet") -> None:
        self.index = index
        self.rules = rules
        self.scope = RuleScope(rules, index)
        self.hours, self.lines = build_lines(index)
        leads = {line.slowdown_lead: site for site, line in self.lines.items()}
        self.peer_lines: dict[str, tuple[str, ...]] = {
            leads[lead]: tuple(leads[p] for p in peers)
            for lead, peers in peers_of(index, (d for d in leads if d is not None)).items()
            if lead is not None
        }
        self.latest: dict[str, ClosedHour] = {}
        self.anomaly = CohortAnomaly()

    def set_rules(self, rules: "RuleSet", scope: RuleScope | None = None) -> None:
        """Apply a new rule set; baselines, conditions and models are kept.

        Args:
            rules: the rule set.
            scope: its effective rules per loan, if already built (the engine's).
        """
        self.rules = rules
        self.scope = RuleScope(rules, self.index) if scope is None else scope

    def set_scope(self, scope: RuleScope) -> None:
        """Share ``scope`` (the effective rules per loan of the current rule set)."""
        self.scope = scope

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Sequence[Alert]:
        """Feed a reading of a watched metric; alerts come when a device's hour closes."""
        hour = self.hours.get(reading.device_id)
        if hour is None or reading.metric != hour.metric:
            return NOTHING
        value = reading.value
        if hour.start <= reading.ts < hour.end:
            hour.total += value
            hour.count += 1
            if value < hour.low:
                hour.low = value
            elif value > hour.high:
                hour.high = value
            return NOTHING
        if reading.ts < hour.start:
            return NOTHING  # late for an hour already closed
        line = self.lines[device.site_id]
        alerts: Sequence[Alert] = NOTHING
        if hour.count:
            alerts = self._close(hour, line, device, book, wall)
        hour.begin(reading.ts, line.zone, value)
        return alerts

    def _judge(self, device_id: str, hour: HourStats, rules: "Rules") -> ClosedHour:
        base = self.rules.baseline
        rate = hour.total / hour.count * hour.per_hour
        usual = hour.baseline.usual(hour.slot)
        busiest = hour.baseline.busiest()
        index = rate / usual if usual is not None and usual > 0 else None
        running = usual is not None and busiest > 0 and usual >= base.running_above * busiest
        idle_below = rules.table(MachineIdleRule).idle_below
        still = running and index is not None and index < idle_below
        scale = hour.per_hour
        return ClosedHour(
            device_id,
            hour.metric,
            hour.slot,
            hour.start,
            hour.end,
            rate,
            usual,
            busiest,
            index,
            running,
            still,
            hour.low * scale,
            hour.high * scale,
        )

    def _close(
        self, stats_: HourStats, line: Line, device: DeviceContext, book: AlertBook, wall: float
    ) -> Sequence[Alert]:
        if stats_.count < self.rules.baseline.min_coverage * stats_.expected:
            return NOTHING  # too few readings (a gap, or the first hour) to judge or learn
        if self._holiday(stats_, line):
            return NOTHING  # a closed plant on a public holiday is neither news nor usual
        scope = self.scope
        rules = scope.by_device.get(device.device_id, scope.base)  # its loan's rules
        hour = self._judge(device.device_id, stats_, rules)
        self.latest[device.device_id] = hour
        alerts: list[Alert] = []
        closing = _Closing(hour, line, device, book, wall, rules)
        if device.device_id == line.idle_lead:
            _keep(alerts, self._idle(closing))
        if device.device_id == line.slowdown_lead:
            _keep(alerts, self._slowdown(closing))
            _keep(alerts, self._drift(closing))
        if (
            rules.table(AnomalyRule).enabled
            and hour.running
            and not (hour.still or self.line_still(line))
        ):
            # only hours the line usually runs: in a cohort of mostly round-the-clock lines
            # a shift line's every night would look unusual; a line standing still is
            # machine_idle's to say, not an unnamed anomaly
            _keep(alerts, self._anomaly(closing))
        self._learn(stats_, hour, line)
        return alerts

    def _holiday(self, stats_: HourStats, line: Line) -> bool:
        day = datetime.fromtimestamp(stats_.start, line.zone).date()
        return self.rules.calendar.is_holiday(line.zone.key, day)

    def _learn(self, stats_: HourStats, hour: ClosedHour, line: Line) -> None:
        base = self.rules.baseline
        if line.flagged:
            return
        if hour.running and hour.index is not None and hour.index < base.learn_above:
            return
        stats_.baseline.learn(hour.slot, hour.rate, base.learn_rate)

    def _idle(self, closing: _Closing) -> Alert | None:
        hour, line, device, rules = closing.hour, closing.line, closing.device, closing.rules
        rule = rules.table(MachineIdleRule)
        if not rule.enabled or not hour.running:
            return None  # hours the line usually stands still neither count nor clear
        transition = line.idle.observe(hour.end, hour.still, rule.for_, rule.clear_after)
        return closing.settle(
            "machine_idle",
            transition,
            line.idle,
            partial(
                findings.idle,
                device,
                hour,
                threshold=rule.idle_below,
                for_s=rule.for_,
                severity=rule.severity,
            ),
            lambda: f"cleared: the line runs again since {format_duration(rule.clear_after)}",
        )

    def line_still(self, line: Line) -> bool:
        """Whether ``line`` stands still now (its idle lead's condition or latest hour)."""
        lead = line.idle_lead
        latest = self.latest.get(lead) if lead is not None else None
        return line.idle.breach_since is not None or (latest is not None and latest.still)

    def _slowdown(self, closing: _Closing) -> Alert | None:
        hour, line, device, rules = closing.hour, closing.line, closing.device, closing.rules
        rule = rules.table(ProductionSlowdownRule)
        if not rule.enabled or not hour.running or hour.index is None:
            return None
        if hour.still or self.line_still(line):
            return None  # standing still is machine_idle's to say
        low = hour.index < rule.index_below or (
            line.slowdown.raised and hour.index < rule.clear_above
        )
        transition = line.slowdown.observe(hour.end, low, rule.for_, rule.clear_after)
        latest = self.latest
        support = [latest[d] for d in line.devices if d != device.device_id and d in latest]
        return closing.settle(
            "production_slowdown",
            transition,
            line.slowdown,
            partial(
                findings.slowdown,
                device,
                hour,
                threshold=rule.index_below,
                for_s=rule.for_,
                severity=rule.severity,
                support=support,
            ),
            lambda: (
                f"cleared: production back to {hour.index:.0%} of usual "
                f"(≥ {rule.clear_above:.0%}) for {format_duration(rule.clear_after)}"
            ),
        )

    def _drift(self, closing: _Closing) -> Alert | None:
        hour, line, device, rules = closing.hour, closing.line, closing.device, closing.rules
        rule = rules.table(ProductionDriftRule)
        if not rule.enabled or not hour.running or hour.index is None or hour.still:
            return None
        if line.page_hinkley is None or line.recent is None:
            # imported here: river's drift module (scipy with it) takes about a second,
            # which every `riskstream` command paid at start, using it or not
            from river import drift, stats

            line.page_hinkley = drift.PageHinkley(
                min_instances=rule.min_hours,
                delta=rule.delta,
                threshold=rule.threshold,
                mode="down",
            )
            line.recent = stats.EWMean(fading_factor=RECENT_FADING)
        else:  # the test keeps what it saw; the line's rule (reloaded, overridden) holds
            ph = line.page_hinkley
            ph.min_instances, ph.delta, ph.threshold = rule.min_hours, rule.delta, rule.threshold
        index = min(hour.index, 2.0)
        line.page_hinkley.update(index)  # type: ignore[no-untyped-call]
        line.recent.update(index)
        recent = float(line.recent.get())
        cohort = self._cohort_index(line) if rule.net_of_cohort else None
        net = recent / cohort if cohort else recent
        if line.page_hinkley.drift_detected and net < rule.recover_above:
            line.drifting = True
        elif line.drifting and net >= rule.recover_above:
            line.drifting = False
        transition = line.trend.observe(hour.end, line.drifting, rule.for_, rule.clear_after)
        return closing.settle(
            "production_drift",
            transition,
            line.trend,
            partial(
                findings.drift,
                device,
                hour,
                recent=recent,
                cohort=cohort,
                threshold=rule.threshold,
                severity=rule.severity,
            ),
            lambda: (
                f"cleared: production index back to {recent:.0%} of usual "
                f"for {format_duration(rule.clear_after)}"
            ),
        )

    def _cohort_index(self, line: Line) -> float | None:
        """The median recent index of the line's peers (`line_cohorts`), None without any:
        a season shared by the cohort moves it too, a borrower's own trouble does not."""
        recents = [
            float(peer.recent.get())
            for site in self.peer_lines.get(line.site_id, ())
            if (peer := self.lines[site]).recent is not None
        ]
        return median(recents) if recents else None

    def _anomaly(self, closing: _Closing) -> Alert | None:
        hour, line, device, rules = closing.hour, closing.line, closing.device, closing.rules
        rule = rules.table(AnomalyRule)
        score = self.anomaly.score(hour, rule, learn=not line.flagged)
        if score is None:
            return None
        condition = self.anomaly.condition(device.device_id)
        high = score >= rule.score_above
        transition = condition.observe(hour.end, high, rule.for_, rule.clear_after)
        return closing.settle(
            "anomaly",
            transition,
            condition,
            partial(
                findings.anomaly,
                device,
                hour,
                score=score,
                threshold=rule.score_above,
                severity=rule.severity,
            ),
            lambda: f"cleared: usual hours again for {format_duration(rule.clear_after)}",
        )


def _keep(alerts: list[Alert], alert: Alert | None) -> None:
    if alert is not None:
        alerts.append(alert)
