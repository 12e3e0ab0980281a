"""Reasons and evidence of the operations alerts (slowdown, idle, drift, decline, anomaly)."""

from typing import Any

from riskstream.detectors.findings import device_finding
from riskstream.detectors.production_line import NAMES, UNITS, ClosedHour, slot_name
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Finding, Severity
from riskstream.engine.fleet_index import DeviceContext


def _level(value: float, metric: str) -> str:
    return f"{value:,.0f} {UNITS[metric]}" if value >= 10 else f"{value:,.1f} {UNITS[metric]}"


def _evidence(hour: ClosedHour, **more: Any) -> dict[str, Any]:
    return {
        "metric": hour.metric,
        "unit": UNITS[hour.metric],
        "level": round(hour.rate, 3),
        "usual": None if hour.usual is None else round(hour.usual, 3),
        "index": None if hour.index is None else round(hour.index, 4),
        "hour_of_week": slot_name(hour.slot),
        "hour_start": hour.start,
        "ts": hour.end,
        **more,
    }


def others(line_hours: list[ClosedHour]) -> list[str]:
    """``power draw 55% of usual`` for the line's other devices, as supporting reasons."""
    return [
        f"{NAMES[h.metric]} {h.index:.0%} of usual ({_level(h.rate, h.metric)}) "
        f"in the hour to {clock(h.end)}"
        for h in line_hours
        if h.index is not None and h.running
    ]


def slowdown(
    device: DeviceContext,
    hour: ClosedHour,
    since: float,
    threshold: float,
    for_s: float,
    severity: Severity,
    support: list[ClosedHour],
) -> Finding:
    """Production below its usual level for the hour of week since ``since``."""
    assert hour.index is not None
    assert hour.usual is not None
    reasons = [
        f"{NAMES[hour.metric]} {_level(hour.rate, hour.metric)} is {hour.index:.0%} of this "
        f"line's usual {_level(hour.usual, hour.metric)} for {slot_name(hour.slot)}; "
        f"below {threshold:.0%} since {clock(since)}",
        *others(support),
    ]
    evidence = _evidence(hour, threshold_index=threshold, for_s=for_s, since=since)
    return device_finding(
        device, "production_slowdown", severity, (1.0 - hour.index) * 100.0, reasons, evidence
    )


def idle(
    device: DeviceContext,
    hour: ClosedHour,
    since: float,
    threshold: float,
    for_s: float,
    severity: Severity,
) -> Finding:
    """The line standing still since ``since`` in hours it usually runs."""
    assert hour.usual is not None
    still_for = hour.end - since
    reasons = [
        f"line standing still for {format_duration(still_for)} since {clock(since)}: "
        f"{NAMES[hour.metric]} {_level(hour.rate, hour.metric)} against a usual "
        f"{_level(hour.usual, hour.metric)} for {slot_name(hour.slot)} "
        f"(below {threshold:.0%} counts as standing still; hours it usually stands still "
        "and [calendar] holidays are not judged)",
    ]
    evidence = _evidence(hour, threshold_index=threshold, for_s=for_s, since=since)
    return device_finding(
        device, "machine_idle", severity, 30.0 + still_for / 3600.0, reasons, evidence
    )


def drift(
    device: DeviceContext,
    hour: ClosedHour,
    since: float,
    recent: float,
    cohort: float | None,
    threshold: float,
    severity: Severity,
) -> Finding:
    """A downward change of the production index found by the Page-Hinkley test; with
    ``cohort``, the median recent index of the line's peers, it is net of their movement."""
    peers = "" if cohort is None else f", against {cohort:.0%} for its peers"
    reasons = [
        f"{NAMES[hour.metric]} is trending down: {recent:.0%} of usual over the last "
        f"running hours{peers} (Page-Hinkley change test, since {clock(since)}); "
        "an early sign of a slowdown",
    ]
    evidence = _evidence(
        hour,
        recent_index=round(recent, 4),
        cohort_index=None if cohort is None else round(cohort, 4),
        ph_threshold=threshold,
        since=since,
    )
    return device_finding(
        device, "production_drift", severity, (1.0 - recent) * 100.0, reasons, evidence
    )


def _span(days: int) -> str:
    if days >= 7 and days % 7 == 0:
        return "week" if days == 7 else f"{days // 7} weeks"
    return "day" if days == 1 else f"{days} days"


def decline(
    device: DeviceContext,
    hour: ClosedHour,
    since: float,
    level: float,
    reference: float,
    reference_days: int,
    reference_until: float,
    until_date: str,
    falling: float,
    slope_days: int,
    cohort_week: float,
    peers: int,
    cusum: float,
    drop_share: float,
    slope_per_week: float,
    severity: Severity,
    ramp_z: float = 0.0,
) -> Finding:
    """A line's daily level below its level before ``reference_until``, and falling, net
    of the concurrent movement of its ``peers``."""
    drop = 1.0 - level / reference
    trend = f"falling {falling:.0%}/week" if falling >= 0 else f"rising {-falling:.0%}/week"
    net = " judged on its own (no peers: no other line of the lender in its industry)"
    if peers:
        lines = "line" if peers == 1 else "lines"
        net = (
            f" net of its peers ({peers} {lines} of the lender in its industry, moving "
            f"{cohort_week:+.1%}/week together)"
        )
    reasons = [
        f"{NAMES[hour.metric]} {drop:.0%} below its level of the {_span(reference_days)} "
        f"before {until_date} ({_level(level, hour.metric)} in a running hour against "
        f"{_level(reference, hour.metric)}), {trend} over the last {_span(slope_days)}"
        f"{net} (alerts from {drop_share:.0%} below, falling {slope_per_week:.0%}/week)",
    ]
    evidence = {
        "metric": hour.metric,
        "unit": UNITS[hour.metric],
        "level": round(level, 3),
        "reference_level": round(reference, 3),
        "drop": round(drop, 4),
        "slope_per_week": round(-falling, 4),
        "slope_days": slope_days,
        "cohort_slope_per_week": round(cohort_week, 4),
        "cohort_lines": peers,
        "cusum": round(cusum, 4),
        "ramp_z": round(ramp_z, 4),
        "reference_days": reference_days,
        "reference_until": reference_until,
        "threshold_drop": drop_share,
        "threshold_slope_per_week": slope_per_week,
        "since": since,
        "ts": hour.end,
    }
    return device_finding(device, "production_decline", severity, drop * 100.0, reasons, evidence)


def anomaly(
    device: DeviceContext,
    hour: ClosedHour,
    since: float,
    score: float,
    threshold: float,
    severity: Severity,
) -> Finding:
    """An hour the device's cohort model finds unusual."""
    usual = "not learned yet" if hour.usual is None else _level(hour.usual, hour.metric)
    reasons = [
        f"unusual hours of {NAMES[hour.metric]} since {clock(since)}: anomaly score "
        f"{score:.2f} (≥ {threshold:.2f}); last hour {_level(hour.rate, hour.metric)} "
        f"(range {_level(hour.low, hour.metric)}..{_level(hour.high, hour.metric)}), "
        f"usual for {slot_name(hour.slot)} {usual}",
    ]
    evidence = _evidence(hour, score=round(score, 4), threshold_score=threshold, since=since)
    return device_finding(device, "anomaly", severity, score * 100.0, reasons, evidence)
