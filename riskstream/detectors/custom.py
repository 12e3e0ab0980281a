"""The detector of user-defined rules (`CustomRule`): any metric, any device.

Per (rule, device) it keeps the window of recent values the rule aggregates, the last
value and when it last changed, and a `Condition` for ``for``/``clear_after``. While an
alert is open the rule's ``clear`` threshold (or ``clear_band``) decides when the series
is back to normal, so a value hovering at the threshold does not flap. ``missing_for``
rules are judged by `tick`, which walks only the series of such rules.
"""

import math
from collections import deque
from dataclasses import dataclass, field

from devices.reading import Reading
from riskstream.detectors.custom_rule import CustomRule
from riskstream.detectors.settle import settle
from riskstream.durations import format_duration
from riskstream.engine.alarm import Alarm
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import DeviceContext

MAX_WINDOW_VALUES = 10_000
"""Values a window keeps at most: a fast sensor under a long window keeps its newest."""


@dataclass(slots=True)
class Series:
    """What one rule remembers of one device's metric."""

    device: DeviceContext
    window: deque[tuple[float, float]] = field(default_factory=deque)
    last_ts: float = -math.inf
    last_value: float = math.nan
    changed_at: float = -math.inf
    breach_value: float = math.nan  # the last value past the threshold itself
    condition: Condition = field(default_factory=Condition)


def _aggregate(rule: CustomRule, values: deque[tuple[float, float]]) -> float:
    numbers = [v for _, v in values]
    match rule.aggregate:
        case "mean":
            return sum(numbers) / len(numbers)
        case "min":
            return min(numbers)
        case "max":
            return max(numbers)
        case "sum":
            return sum(numbers)
        case _:
            return numbers[-1]


def _breached(rule: CustomRule, x: float, raised: bool) -> bool:
    """Whether ``x`` is in breach; once raised, whether it is not yet clear."""
    c, threshold = rule.condition, rule.threshold
    if c == "outside":
        assert rule.band is not None
        low, high = rule.clear_band if raised and rule.clear_band else rule.band
        return x < low or x > high
    assert threshold is not None
    limit = rule.clear if raised and rule.clear is not None else threshold
    if c in ("above", "rate_above"):
        return x > limit if not raised else x >= limit
    return x < limit if not raised else x <= limit


def _reasons(rule: CustomRule, device: DeviceContext, x: float, breach: float) -> list[str]:
    """The rule's reason for ``x``; when ``x`` is back past the threshold but not yet past
    where the alert clears, the reason for the last value in breach and a note."""
    if rule.condition in ("above", "below", "rate_above", "rate_below", "outside"):
        if _breached(rule, x, raised=False) or math.isnan(breach):
            return [rule.reason_for(x, device.device_id, device.site_id)]
        if rule.condition == "outside":
            assert rule.band is not None
            low, high = rule.clear_band or rule.band
            where = f"{low:g}–{high:g} {rule.unit}"
        else:
            clear = rule.clear if rule.clear is not None else rule.threshold
            where = f"{clear:g} {rule.unit}"
        return [
            rule.reason_for(breach, device.device_id, device.site_id),
            f"now {x:.4g} {rule.unit}: open until back to {where} (hysteresis)",
        ]
    return [rule.reason_for(x, device.device_id, device.site_id)]


class CustomDetector:
    """Runs every ``[[rules.custom]]`` table over the series it selects."""

    def __init__(self, rules: list[CustomRule]) -> None:
        self.rules = rules
        self.metrics = frozenset(r.metric for r in rules if r.enabled)
        self.series: dict[tuple[str, str], Series] = {}
        self._selected: dict[tuple[str, str], list[CustomRule]] = {}
        self.alarm = Alarm()  # the engine's, once it is in one

    def set_rules(self, rules: list[CustomRule]) -> None:
        """New tables; the state of a table whose definition changed starts over."""
        kept = {r.name for r in rules if r in self.rules}
        self.series = {k: s for k, s in self.series.items() if k[0] in kept}
        self.rules = rules
        self.metrics = frozenset(r.metric for r in rules if r.enabled)
        self._selected = {}

    def watching(self, device: DeviceContext, metric: str) -> list[CustomRule]:
        """The tables that watch ``metric`` of ``device`` (worked out once per series)."""
        key = (device.device_id, metric)
        selected = self._selected.get(key)
        if selected is None:
            selected = self._selected[key] = [
                r
                for r in self.rules
                if r.metric == metric
                and r.selects(device.tenant, device.kind, device.device_id, device.site_id)
            ]
        return selected

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> list[Alert]:
        """Feed a reading of a watched metric."""
        changed = []
        for rule in self.watching(device, reading.metric):
            alert = self._observe(rule, reading, device, book, wall)
            if alert is not None:
                changed.append(alert)
        return changed

    def _observe(
        self,
        rule: CustomRule,
        reading: Reading,
        device: DeviceContext,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        key = (rule.name, device.device_id)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series(device)
            if rule.condition == "missing_for":
                assert rule.duration is not None
                # a new series `tick` will judge: its due time is news to the engine
                self.alarm.ring_by(reading.ts + rule.duration)
        ts, value = reading.ts, reading.value
        if ts < series.last_ts:
            return None  # late reading: the series has moved on
        if value != series.last_value:
            series.changed_at = ts
        series.last_ts, series.last_value = ts, value
        x = self._value(rule, series, ts, value)
        if x is None:
            return None
        condition = series.condition
        if rule.condition == "missing_for":
            assert rule.duration is not None
            if condition.raised:
                # once cleared, `tick` judges it again from this reading on
                self.alarm.ring_by(ts + rule.duration)
            breached = False  # a reading arrived: the series is not missing
        elif rule.condition == "unchanged_for":
            assert rule.duration is not None
            breached = ts - series.changed_at >= rule.duration
        else:
            breached = _breached(rule, x, condition.raised)
            if _breached(rule, x, raised=False):
                series.breach_value = x
        return self._settle(
            rule,
            series,
            condition.observe(ts, breached, rule.for_, rule.clear_after),
            x,
            ts,
            book,
            wall,
        )

    @staticmethod
    def _value(rule: CustomRule, series: Series, ts: float, value: float) -> float | None:
        """What the rule judges: the value, its window's aggregate, or its rate per hour."""
        rate = rule.condition in ("rate_above", "rate_below")
        span = rule.rate_window if rate else rule.window
        if span <= 0:
            return value
        window = series.window
        window.append((ts, value))
        while window and (window[0][0] < ts - span or len(window) > MAX_WINDOW_VALUES):
            window.popleft()
        if not rate:
            return _aggregate(rule, window)
        first_ts, first = window[0]
        if ts - first_ts < span / 2:
            return None  # too short a stretch to call a rate
        return (value - first) / ((ts - first_ts) / 3600.0)

    def _settle(
        self,
        rule: CustomRule,
        series: Series,
        transition: str,
        x: float,
        ts: float,
        book: AlertBook,
        wall: float,
    ) -> Alert | None:
        device = series.device
        key = (device.tenant, device.borrower_id, rule.name, device.device_id)
        return settle(
            book,
            key,
            transition,  # type: ignore[arg-type]
            series.condition,
            ts,
            wall,
            lambda since: self._finding(rule, device, x, series.breach_value, ts, since),
            lambda: (
                f"cleared: {rule.metric} back to normal for {format_duration(rule.clear_after)}"
            ),
        )

    def next_due(self) -> float:
        """The earliest clock time a `tick` may raise a ``missing_for`` alert."""
        due = math.inf
        for rule in self.rules:
            if rule.condition != "missing_for" or not rule.enabled:
                continue
            assert rule.duration is not None
            for (name, _), series in self.series.items():
                if name == rule.name and not series.condition.raised:
                    due = min(due, series.last_ts + rule.duration)
        return due

    def tick(self, now: float, book: AlertBook, wall: float) -> list[Alert]:
        """Judge ``missing_for`` tables as of event time ``now``."""
        changed = []
        for rule in self.rules:
            if rule.condition != "missing_for" or not rule.enabled:
                continue
            assert rule.duration is not None
            for (name, _), series in self.series.items():
                if name != rule.name or series.condition.raised:
                    continue
                if now - series.last_ts >= rule.duration:
                    condition = series.condition
                    condition.breach_since = series.last_ts + rule.duration
                    transition = condition.observe(now, True, 0.0, rule.clear_after)
                    alert = self._settle(
                        rule, series, transition, series.last_value, now, book, wall
                    )
                    if alert is not None:
                        changed.append(alert)
        return changed

    @staticmethod
    def _finding(
        rule: CustomRule, device: DeviceContext, x: float, breach: float, ts: float, since: float
    ) -> Finding:
        lines: list[dict[str, object]] = []
        if rule.condition in ("above", "below") and rule.threshold is not None:
            lines.append({"value": rule.threshold, "label": f"{rule.condition} {rule.threshold:g}"})
            if rule.clear is not None and rule.clear != rule.threshold:
                lines.append({"value": rule.clear, "label": f"clears at {rule.clear:g}"})
        elif rule.condition == "outside" and rule.band is not None:
            lines += [
                {"value": rule.band[0], "label": f"lowest {rule.band[0]:g}"},
                {"value": rule.band[1], "label": f"highest {rule.band[1]:g}"},
            ]
        return Finding(
            tenant=device.tenant,
            borrower_id=device.borrower_id,
            loan_id=device.loan_id,
            site_id=device.site_id,
            device_id=device.device_id,
            kind=rule.name,
            subject=device.device_id,
            severity=rule.severity,
            score=0.0,
            reasons=_reasons(rule, device, x, breach),
            evidence={
                "rule": "custom",
                "metric": rule.metric,
                "unit": rule.unit,
                "condition": rule.condition,
                "value": x,
                "threshold": rule.threshold,
                "band": list(rule.band) if rule.band else None,
                "aggregate": rule.aggregate if rule.window else None,
                "window_s": rule.window,
                "for_s": rule.for_,
                "since": since,
                "ts": ts,
                "lines": lines,
            },
            rule=f"rules.custom.{rule.name}",
        )
