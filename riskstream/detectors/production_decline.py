"""Production decline: a line's daily level falling steadily below its own earlier level.

A business winding down loses 15–25 % of its output over weeks. That never reaches
``production_slowdown``'s share of the usual hour, and the hour-of-week baseline learns
part of it as it goes, so the production index hardly moves. This detector judges the
slowdown lead of each line (`production_line.Line`) on whole local days instead, from
the hours the operations detector closed (`OperationsDetector.latest`):

- **Daily level**: the mean level of a running hour that day, in the metric's units.
  The hour-of-week profile says which hours the line runs (nights, days off and short
  shifts are not a fall); running hours without a level of their own (standing still,
  which is machine_idle's to say, or a gap) are filled in from their usual level at the
  day's ratio to usual; hours that closed before their usual level was known (a line's
  first day) are left out, and the hour repeated when the clocks go back is taken once.
  A day with fewer than `MIN_HOURS` or half its running hours seen is not judged, nor is
  a holiday (the operations detector closes no hour of it).
  The level does not depend on what the baseline learned, so the part of a fall it
  learned does not hide it.
- **Reference**: the mean daily level over the ``reference`` period that ends where the
  recent ``window`` begins, so the newest days are never part of it. As soon as the
  window's level is ``clear_below`` or more below it, or the CUSUM below is half way to
  its threshold, the reference is frozen with its dates: the decline never becomes its
  own reference. It moves on again once the line is back and its alert, if any, has
  cleared.
- **Judgement** (`decline_judgement`), at the close of each day with a level: net of
  the concurrent movement of the line's peers (`line_cohorts`: the lender's lines of the
  same industry and hemisphere, whose shared season it takes out), a CUSUM of the daily
  falls below the reference, in the line's own day-to-day spread, reaches
  ``cusum_threshold``; the window's mean level is ``drop_share`` or more below the
  reference, and its own level (not net of the peers) ``clear_below`` or more; and the
  daily levels since the reference ended (at most the last two windows) fall by
  ``slope_per_week`` or more of it per week by their Theil–Sen slope.
  An open alert holds while the fall is at least ``clear_below``.

A line without peers (alone in its cohort, or its borrower names no industry) is judged
on its own, where nothing tells its season or a run of weak days from a decline: it
needs its window ``alone_drop_share`` (9 %) below the reference, not ``drop_share``.

The rule is the device's loan's (`DetectorSpec.scoped`). A line's state is a few floats,
its condition and up to `KEEP_S` of daily levels in two float arrays (Theil–Sen needs
the days themselves; 56 days take under 1 KiB).
"""

from array import array
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator

from riskstream.detectors import operations_findings as findings
from riskstream.detectors.decline_judgement import (
    DAY,
    Judgement,
    Levels,
    Reference,
    Settings,
    judge,
    judge_ramp,
    levels_in,
)
from riskstream.detectors.hour_of_week import HourOfWeekBaseline
from riskstream.detectors.line_cohorts import peers_of
from riskstream.detectors.production_line import NAMES, ClosedHour, slowdown_leads
from riskstream.detectors.settle import settle
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
    Seconds,
)
from riskstream.rules.settings import BaselineSettings

if TYPE_CHECKING:
    from riskstream.detectors.operations import OperationsDetector
    from riskstream.rules.schema import RuleSet

MIN_HOURS = 4  # running hours of its own a day needs to be judged
KEEP_S = 56 * DAY  # daily levels kept: the longest reference and window


class ProductionDeclineRule(RuleTable):
    """A line's daily level falling steadily below its own level before the fall."""

    matrix_component: ClassVar[AlertComponent] = "operations"

    enabled: Enabled = True
    drop_share: float = Field(
        0.07, gt=0, lt=1, description="fall of the recent days' level, share of the reference"
    )
    slope_per_week: float = Field(
        0.05, ge=0, lt=1, description="fall per week of the recent days, share of the reference"
    )
    alone_drop_share: float = Field(
        0.09,
        gt=0,
        lt=1,
        description="drop_share for a line without peers (judged on its own, where a "
        "season cannot be told from a decline); the larger of the two applies",
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
        0.5,
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
    ramp_threshold: float = Field(
        4.5,
        gt=0,
        le=50,
        description="evidence of a fall of constant slope since a change day (the fitted "
        "fall per day over its standard error, in the line's day-to-day spreads) from "
        "which the line may be in decline; a slide is seen by it sooner than by the CUSUM",
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


@dataclass(slots=True)
class LineDecline:
    """One line's running day, its daily levels and its decline condition.

    Attributes:
        day_start: start of the local day being summed; ``day_end`` its end.
        weekday: the day's weekday (Monday 0).
        rate: summed level of its running hours so far; ``usual`` their usual level.
        counted: those hours, one bit per local hour.
        unknown: the day's hours that closed before their usual level was known (a line's
            first hours of each hour of week), one bit per local hour: whether they run
            is not known, so they are neither counted nor filled in.
        seen: end of the last closed hour taken.
        days: start of each judged day (oldest first); ``levels`` its level.
        frozen: the reference held while the line is below it.
    """

    day_start: float = 0.0
    day_end: float = 0.0
    weekday: int = 0
    rate: float = 0.0
    usual: float = 0.0
    counted: int = 0
    unknown: int = 0
    seen: float = 0.0
    days: "array[float]" = field(default_factory=lambda: array("d"))
    levels: "array[float]" = field(default_factory=lambda: array("d"))
    frozen: Reference | None = None
    condition: Condition = field(default_factory=Condition)

    def begin(self, ts: float, zone: ZoneInfo) -> None:
        """Start summing the local day holding ``ts``."""
        local = datetime.fromtimestamp(ts, zone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
        following = datetime.fromtimestamp(midnight.timestamp() + 1.5 * DAY, zone)
        self.day_start = midnight.timestamp()
        self.day_end = datetime(
            following.year, following.month, following.day, tzinfo=zone
        ).timestamp()
        self.weekday = local.weekday()
        self.rate, self.usual, self.counted, self.unknown = 0.0, 0.0, 0, 0

    def add(self, hour: ClosedHour, usual: float) -> None:
        """Count a running hour of the day, once per local hour: the hour that repeats when
        the clocks go back is taken the first time (counting its rate twice under one
        hour made that day's level 1/24 too high)."""
        bit = 1 << (hour.slot % 24)
        if self.counted & bit:
            return
        self.rate += hour.rate
        self.usual += usual
        self.counted |= bit

    def not_known(self, hour: ClosedHour) -> None:
        """Note an hour that closed before its usual level was known."""
        self.unknown |= 1 << (hour.slot % 24)

    def level(self, baseline: HourOfWeekBaseline, running_above: float) -> float | None:
        """The day's mean level of a running hour, its running hours without a level
        filled in from their usual level at the day's ratio; None if too few were seen
        (hours not known to run count against it as missing ones do)."""
        if self.usual <= 0:
            return None
        low = running_above * baseline.busiest()
        fill, missing = 0.0, 0
        for hour in range(24):
            # an hour with a level of its own is not filled in: by the day's end its usual
            # level may have been learned from that very hour
            if (self.counted | self.unknown) >> hour & 1:
                continue
            usual = baseline.usual(self.weekday * 24 + hour)
            if usual is not None and usual > 0 and usual >= low:
                fill += usual
                missing += 1
        counted = self.counted.bit_count()
        unknown = (self.unknown & ~self.counted).bit_count()
        if counted < max(MIN_HOURS, missing + unknown):
            return None
        return (self.rate + fill * self.rate / self.usual) / (counted + missing)

    def keep(self, level: float) -> None:
        """Record the day's level; forget days older than `KEEP_S`."""
        self.days.append(self.day_start)
        self.levels.append(level)
        old = 0
        while self.days[old] < self.day_start - KEEP_S:
            old += 1
        if old:
            del self.days[:old], self.levels[:old]

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        """Restore a checkpoint; one written before `unknown` existed has none noted."""
        self.unknown = 0
        for name, value in state[1].items():
            setattr(self, name, value)

    @property
    def series(self) -> Levels:
        """Its days and their levels."""
        return self.days, self.levels

    def levels_in(self, start: float, end: float = float("inf")) -> list[float]:
        """Levels of the days that start in ``[start, end)``."""
        return levels_in(self.series, start, end)


class DeclineDetector:
    """``production_decline`` alerts of production lines."""

    def __init__(self, index: FleetIndex, rules: "RuleSet") -> None:
        self.index = index
        self.rule = rules.rules.table(ProductionDeclineRule)
        self.settings: BaselineSettings = rules.baseline
        leads = slowdown_leads(index)
        self.lead_kinds = frozenset(leads.values())  # which readings to take at all
        self.lines: dict[str, LineDecline] = {lead: LineDecline() for lead in leads}
        self.peers = peers_of(index, leads)

    def use_rules(self, rules: "RuleSet") -> None:
        """Apply a new rule set; daily levels, references and conditions are kept."""
        self.rule = rules.rules.table(ProductionDeclineRule)
        self.settings = rules.baseline

    def observe(
        self, operations: "OperationsDetector", device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """Take the hour of ``device`` the operations detector closed, if it just did; an
        alert may change when it ends a day."""
        state = self.lines.get(device.device_id)
        hour = operations.latest.get(device.device_id)
        if state is None or hour is None or hour.end <= state.seen:
            return None
        state.seen = hour.end
        line = operations.lines[device.site_id]
        alert = None
        if hour.start >= state.day_end:
            if state.counted:
                baseline = operations.hours[device.device_id].baseline
                level = state.level(baseline, self.settings.running_above)
                if level is not None:
                    state.keep(level)
                    alert = self._judge(state, hour, line.zone, device, book, wall)
            state.begin(hour.start, line.zone)
        usual = hour.usual
        if hour.running and usual and not hour.still and not operations.line_still(line):
            state.add(hour, usual)
        elif usual is None:
            state.not_known(hour)
        return alert

    def _judge(
        self,
        state: LineDecline,
        hour: ClosedHour,
        zone: ZoneInfo,
        device: DeviceContext,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        rule = self.rule
        if not rule.enabled:
            return None
        peers = [self.lines[p].series for p in self.peers.get(device.device_id, ())]
        settings = Settings(
            rule.window, rule.reference, rule.min_days, rule.cusum_allowance, rule.net_of_cohort
        )
        judged = judge(state.series, peers, settings, state.day_end, state.frozen)
        ramp = judge_ramp(state.series, peers, settings, state.day_end, state.frozen)
        if judged is None and ramp is None:
            return None
        return self._settle(state, judged, ramp, hour, zone, device, book, wall)

    def _settle(
        self,
        state: LineDecline,
        judged: Judgement | None,
        ramp: Judgement | None,
        hour: ClosedHour,
        zone: ZoneInfo,
        device: DeviceContext,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        rule = self.rule
        condition = state.condition
        by_level = judged is not None and self._falls(judged, rule.cusum_threshold, judged.cusum)
        by_ramp = ramp is not None and self._falls(ramp, rule.ramp_threshold, ramp.ramp_z)
        # the ramp's figures when it is the ramp that says so (or there is nothing else)
        shown = ramp if (by_ramp and not by_level) or judged is None else judged
        if shown is None:
            return None
        ref, drop = shown.reference, shown.drop
        held = judged.drop if judged is not None else shown.drop
        breached = by_level or by_ramp or (condition.raised and held >= rule.clear_below)
        transition = condition.observe(hour.end, breached, rule.for_, rule.clear_after)
        # the ramp freezes no reference: it finds its own change day in the days since the
        # reference began, so the CUSUM's reference moves and holds as it would alone
        if judged is not None:
            if judged.drop >= rule.clear_below or judged.cusum >= rule.cusum_threshold / 2:
                state.frozen = judged.reference  # below its reference: the reference holds
            elif not condition.raised:
                state.frozen = None
        drop_share = _drop_share(rule, shown.peers)
        key = (device.tenant, device.borrower_id, "production_decline", device.device_id)
        return settle(
            book,
            key,
            transition,
            condition,
            hour.end,
            wall,
            partial(
                findings.decline,
                device,
                hour,
                level=ref.level * (1.0 - drop),
                reference=ref.level,
                reference_days=round((ref.end - ref.start) / DAY),
                reference_until=ref.end,
                until_date=datetime.fromtimestamp(ref.end, zone).date().isoformat(),
                falling=shown.falling,
                slope_days=round((state.day_end - shown.slope_from) / DAY),
                cohort_week=shown.cohort_week,
                peers=shown.peers,
                cusum=shown.cusum,
                ramp_z=shown.ramp_z,
                drop_share=drop_share,
                slope_per_week=rule.slope_per_week,
                severity=rule.severity,
            ),
            lambda: (
                f"cleared: {NAMES[hour.metric]} back to {1.0 - drop:.0%} of its reference "
                f"level (less than {rule.clear_below:.0%} below it) for "
                f"{format_duration(rule.clear_after)}"
            ),
        )

    def _falls(self, judged: Judgement, threshold: float, evidence: float) -> bool:
        """Whether ``judged`` says the line is in decline: its ``evidence`` (the CUSUM or
        the ramp test's) reached ``threshold``, its fall net of its peers is the rule's
        (`_drop_share`), its own fall at least ``clear_below`` (a line that held its
        level while its peers rose has not declined: lines of one industry do not all
        share one season) and it falls by ``slope_per_week``, by the ramp's fit on its
        own level too."""
        rule = self.rule
        return (
            evidence >= threshold
            and judged.drop >= _drop_share(rule, judged.peers)
            and judged.own_drop >= rule.clear_below
            and judged.falling >= rule.slope_per_week
            and (judged.own_falling is None or judged.own_falling >= rule.slope_per_week)
        )


def _drop_share(rule: ProductionDeclineRule, peers: int) -> float:
    """The fall a line must show: ``alone_drop_share`` (at least ``drop_share``) without
    peers, whose season or run of weak days nothing else shows."""
    return rule.drop_share if peers else max(rule.drop_share, rule.alone_drop_share)
