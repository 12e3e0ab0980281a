"""User-defined rules: ``[[rules.custom]]`` tables that watch any metric, no code needed.

Each table names an alert kind, selects series (tenants, device kinds, device ids or
globs, sites, and one metric), and says when a series is in breach::

    [[rules.custom]]
    name = "silo_level_low"
    metric = "level_pct"
    devices = ["silo-*"]
    condition = "below"          # above, below, outside, rate_above, rate_below,
    threshold = 20.0             #   unchanged_for, missing_for
    clear = 25.0                 # hysteresis: back above 25 % to clear
    window = "10m"               # judge the mean of the last 10 min ...
    aggregate = "mean"           # ... (mean, min, max, sum, last)
    for = "30m"
    clear_after = "10m"
    severity = "warning"
    reason = "{metric} {value:.1f} {unit} below {threshold:g} {unit}"

``rate_above``/``rate_below`` judge the change per hour over ``window`` (1 h if unset);
``unchanged_for`` and ``missing_for`` judge time (``duration``). Units come from the
metric's suffix (``_pct`` → %, ``_bar`` → bar). Checked like the rest of the file: a bad
table fails naming ``rules.custom.N.field`` and its line.
"""

import math
import re
import string
from typing import Literal, Self

from pydantic import Field, model_validator

from devices.model import DeviceKind
from devices.units import unit_of
from riskstream.rules.fields import FieldError, Seconds, Severity
from riskstream.rules.selection import DeviceSelection

Condition = Literal[
    "above", "below", "outside", "rate_above", "rate_below", "unchanged_for", "missing_for"
]
Aggregate = Literal["mean", "min", "max", "sum", "last"]

THRESHOLD_CONDITIONS = frozenset({"above", "below", "rate_above", "rate_below"})
TIME_CONDITIONS = frozenset({"unchanged_for", "missing_for"})
DEFAULT_RATE_WINDOW_S = 3600.0

DEFAULT_REASONS: dict[str, str] = {
    "above": "{metric} {value:.4g} {unit} above {threshold:g} {unit}",
    "below": "{metric} {value:.4g} {unit} below {threshold:g} {unit}",
    "outside": "{metric} {value:.4g} {unit} outside {low:g}–{high:g} {unit}",
    "rate_above": "{metric} rising {value:.4g} {unit}/h, above {threshold:g} {unit}/h",
    "rate_below": "{metric} changing {value:.4g} {unit}/h, below {threshold:g} {unit}/h",
    "unchanged_for": "{metric} unchanged at {value:.4g} {unit} for {duration_h:.1f} h",
    "missing_for": "no {metric} for {duration_h:.1f} h (last {value:.4g} {unit})",
}
"""The reason an alert gives when its table has no ``reason``."""

REASON_FIELDS = (
    "metric, value, unit, threshold, low, high, clear, window_s, duration_h, device, site, rule"
)


_FIELD_NAMES = frozenset(f.strip() for f in REASON_FIELDS.split(","))
_MAX_WIDTH = 40


def _template_problem(template: str) -> str | None:
    """What is wrong with a reason template, if anything: only the named fields, plainly
    (no attribute or index access), formatted no wider than `_MAX_WIDTH` characters."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"not a template: {exc}"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in _FIELD_NAMES:
            return f"unknown field {{{name}}}; fields: {REASON_FIELDS}"
        if conversion is not None or "{" in (spec or ""):
            return f"{{{name}}}: write only a format such as :.1f"
        widths = [int(w) for w in re.findall(r"\d+", spec or "")]
        if any(w > _MAX_WIDTH for w in widths):
            return f"{{{name}:{spec}}}: widths and precisions up to {_MAX_WIDTH}"
    return None


class CustomRule(DeviceSelection):
    """One ``[[rules.custom]]`` table: an alert on one metric of the devices it selects."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{2,63}$", description="the alert kind it raises")
    enabled: bool = Field(True, description="false turns the rule off")
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="e.g. level_pct")
    condition: Condition = Field(description="when a series is in breach")
    threshold: float | None = Field(
        None, description="above/below: the level; rate_above/rate_below: change per hour"
    )
    band: tuple[float, float] | None = Field(None, description="(low, high) for `outside`")
    clear: float | None = Field(None, description="clears on this side (hysteresis)")
    clear_band: tuple[float, float] | None = Field(None, description="`outside`: clears within")
    duration: Seconds | None = Field(None, description="unchanged_for / missing_for")
    window: Seconds = Field(
        0.0, le=7 * 86400.0, description="aggregate over this much event time (0: each value)"
    )
    aggregate: Aggregate = Field("last", description="how the `window` is summed up")
    for_: Seconds = Field(0.0, alias="for", description="in breach this long before alerting")
    clear_after: Seconds = Field(0.0, description="clear this long before resolving")
    severity: Severity = Field("warning", description="severity of its alerts")
    reason: str | None = Field(
        None, max_length=500, description=f"template; fields: {REASON_FIELDS}"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        c = self.condition
        if c in THRESHOLD_CONDITIONS and self.threshold is None:
            raise FieldError("threshold", f"condition {c!r} needs a threshold")
        if c == "outside":
            if self.band is None or self.band[0] >= self.band[1]:
                raise FieldError("band", "condition 'outside' needs band = [low, high], low < high")
            inner = self.clear_band
            if inner is not None and not (self.band[0] <= inner[0] < inner[1] <= self.band[1]):
                raise FieldError("clear_band", "must lie within band (the safe side)")
        if c in TIME_CONDITIONS and not self.duration:
            raise FieldError("duration", f'condition {c!r} needs a duration, e.g. "2h"')
        if self.clear is not None and self.threshold is not None:
            rising = c in ("above", "rate_above")
            if (rising and self.clear > self.threshold) or (
                not rising and self.clear < self.threshold
            ):
                side = "at or below" if rising else "at or above"
                raise FieldError(
                    "clear", f"must be {side} threshold {self.threshold:g} (the safe side)"
                )
        if self.reason is not None:
            problem = _template_problem(self.reason)
            if problem is not None:
                raise FieldError("reason", problem)
        try:
            self.reason_for(0.0, "device", "site")
        except (KeyError, IndexError, ValueError) as exc:
            raise FieldError(
                "reason", f"cannot be filled ({exc!r}); fields: {REASON_FIELDS}"
            ) from exc
        return self

    @property
    def unit(self) -> str:
        """The metric's unit, from its suffix."""
        return unit_of(self.metric)

    @property
    def rate_window(self) -> float:
        """Event time a rate of change is measured over."""
        return self.window or DEFAULT_RATE_WINDOW_S

    def reason_for(self, value: float, device: str, site: str) -> str:
        """The alert's reason for ``value`` on ``device``."""
        low, high = self.band or (math.nan, math.nan)
        template = self.reason or DEFAULT_REASONS[self.condition]
        return template.format(
            metric=self.metric,
            value=value,
            unit=self.unit,
            threshold=self.threshold if self.threshold is not None else math.nan,
            low=low,
            high=high,
            clear=self.clear if self.clear is not None else math.nan,
            window_s=self.window,
            duration_h=(self.duration or 0.0) / 3600.0,
            device=device,
            site=site,
            rule=self.name,
        ).strip()

    def selects(self, tenant: str, kind: DeviceKind, device_id: str, site_id: str) -> bool:
        """Whether this rule watches ``device_id``'s series of its metric."""
        return self.enabled and self.selects_device(tenant, kind, device_id, site_id)
