"""The evidence window of an alert: which series to chart, over what time, with which lines.

The window runs from the breach start (``opened_at``) minus a lead of twice the rule's
``for`` (so the chart shows the normal level before the breach) to the last evidence
(resolution, or the last update) plus a quarter of that lead, never past the event
time the service has reached. What is charted is the detector's
(`riskstream.detectors.charts`, named in its registry entry).
"""

from typing import Any

from devices.model import DeviceKind
from riskstream.api.telemetry import metrics_of
from riskstream.detectors.charts import Chart, chart, lines_charts, num
from riskstream.detectors.registry import charts_by_kind
from riskstream.engine.fleet_index import FleetIndex
from riskstream.rules.schema import RuleSet

DEFAULT_FOR_S = 1800.0
MIN_LEAD_S = 900.0


def window(alert: dict[str, Any], watermark: float | None) -> tuple[float, float, float, float]:
    """(start, end, breach_start, breach_end) of an alert's evidence window."""
    evidence = alert.get("evidence") or {}
    for_s = num(evidence.get("for_s")) or DEFAULT_FOR_S
    lead = max(MIN_LEAD_S, 2.0 * for_s)
    breach_start = float(alert["opened_at"])
    candidates = [num(evidence.get("ts")), num(alert.get("updated_at"))]
    if alert.get("status") == "resolved":
        candidates.append(num(alert.get("resolved_at")))
    if watermark is not None:
        # people act in wall time; a replay's event time may lag far behind it
        candidates = [c for c in candidates if c is not None and c <= watermark]
    breach_end = max([c for c in candidates if c is not None], default=breach_start)
    breach_end = max(breach_end, breach_start)
    end = breach_end + lead / 4
    if watermark is not None:
        end = min(end, max(watermark, breach_end) + 1.0)
    return breach_start - lead, end, breach_start, breach_end


CHARTS = charts_by_kind()


def _charts(alert: dict[str, Any], index: FleetIndex, rules: RuleSet) -> list[Chart]:
    """The charts of the detector that raised the alert (`DetectorSpec.charts`): those
    its evidence lists lines for (custom rules, anomalies on any series), its kind's, or
    the device's metrics."""
    device_id = alert.get("device_id")
    device = index.devices.get(str(device_id)) if device_id else None
    evidence = alert.get("evidence") or {}
    metric = evidence.get("metric")
    if isinstance(evidence.get("lines"), list) and isinstance(metric, str):
        return lines_charts(alert, device, index, rules)
    maker = CHARTS.get(alert["kind"])
    if maker is not None:
        return maker(alert, device, index, rules)
    if device is None:
        return []
    if isinstance(metric, str):
        value = num(evidence.get("value"))
        lines = [] if value is None else [(value, f"repeated value {value:g}")]
        return [chart(device.device_id, metric, metric.replace("_", " "), lines)]
    metrics = [m for m in metrics_of(device) if m not in ("lat_deg", "lon_deg")]
    return [chart(device.device_id, m, m.replace("_", " "), []) for m in metrics]


def evidence_window(
    alert: dict[str, Any], index: FleetIndex, rules: RuleSet, watermark: float | None
) -> dict[str, Any]:
    """The `EvidenceWindow` body of an alert."""
    start, end, breach_start, breach_end = window(alert, watermark)
    charts = _charts(alert, index, rules)
    device = index.devices.get(str(alert.get("device_id")))
    tracks = [device.device_id] if device and device.kind is DeviceKind.GPS_TRACKER else []
    return {
        "alert_id": alert["id"],
        "start": start,
        "end": end,
        "breach_start": breach_start,
        "breach_end": breach_end,
        "charts": charts,
        "track_device_ids": tracks,
    }
