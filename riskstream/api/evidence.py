"""The evidence window of an alert: which series to chart, over what time, with which lines.

The window runs from the breach start (``opened_at``) minus a lead of twice the rule's
``for`` (so the chart shows the normal level before the breach) to the last evidence
(resolution, or the last update) plus a quarter of that lead, never past the event
time the service has reached. Thresholds are drawn in the series' own unit: an
inventory rule's coverage threshold becomes a weight on each load cell's chart.
"""

from typing import Any

from devices.model import KG_PER_UNIT, DeviceKind
from devices.units import unit_of
from riskstream.api.telemetry import metrics_of
from riskstream.engine.fleet_index import FleetIndex
from riskstream.rules.schema import RuleSet

DEFAULT_FOR_S = 1800.0
MIN_LEAD_S = 900.0

Chart = dict[str, Any]


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def window(alert: dict[str, Any], watermark: float | None) -> tuple[float, float, float, float]:
    """(start, end, breach_start, breach_end) of an alert's evidence window."""
    evidence = alert.get("evidence") or {}
    for_s = _num(evidence.get("for_s")) or DEFAULT_FOR_S
    lead = max(MIN_LEAD_S, 2.0 * for_s)
    breach_start = float(alert["opened_at"])
    candidates = [_num(evidence.get("ts")), _num(alert.get("updated_at"))]
    if alert.get("status") == "resolved":
        candidates.append(_num(alert.get("resolved_at")))
    if watermark is not None:
        # people act in wall time; a replay's event time may lag far behind it
        candidates = [c for c in candidates if c is not None and c <= watermark]
    breach_end = max([c for c in candidates if c is not None], default=breach_start)
    breach_end = max(breach_end, breach_start)
    end = breach_end + lead / 4
    if watermark is not None:
        end = min(end, max(watermark, breach_end) + 1.0)
    return breach_start - lead, end, breach_start, breach_end


def _chart(device_id: str, metric: str, title: str, lines: list[tuple[float, str]]) -> Chart:
    return {
        "device_id": device_id,
        "metric": metric,
        "unit": unit_of(metric),
        "title": title,
        "thresholds": [{"value": round(v, 4), "label": label} for v, label in lines],
    }


def _inventory(alert: dict[str, Any], index: FleetIndex) -> list[Chart]:
    evidence = alert.get("evidence") or {}
    lot = index.collateral.get(str(evidence.get("collateral_id", alert["subject"])))
    if lot is None:
        return []
    per_unit = KG_PER_UNIT.get(lot.collateral.unit)
    cells = list(lot.load_cells)
    charts = []
    for cell in cells:
        lines: list[tuple[float, str]] = []
        threshold = _num(evidence.get("threshold_coverage"))
        if per_unit is not None:
            pledged_kg = lot.collateral.quantity * per_unit / len(cells)
            share = "" if len(cells) == 1 else " (this cell's share)"
            lines.append((pledged_kg, f"pledged{share}"))
            if threshold is not None:
                lines.append((pledged_kg * threshold, f"alert below {threshold:.0%} of pledge"))
        charts.append(_chart(cell, "weight_kg", f"weight on load cell {cell}", lines))
    return charts


def _device_charts(alert: dict[str, Any], index: FleetIndex, rules: RuleSet) -> list[Chart]:
    device_id = alert.get("device_id")
    device = index.devices.get(str(device_id)) if device_id else None
    if device is None:
        return []
    kind, evidence = alert["kind"], alert.get("evidence") or {}
    if kind == "cold_chain_excursion":
        band = evidence.get("band_c") or [None, None]
        tol = _num(evidence.get("tolerance_c")) or 0.0
        lines = [
            (float(v) + sign * tol, f"{label} of band {v:g} °C ± {tol:g}")
            for v, sign, label in ((band[0], -1, "lowest"), (band[1], 1, "highest"))
            if _num(v) is not None
        ]
        return [_chart(device.device_id, "temperature_c", "temperature", lines)]
    if kind == "vehicle_moving_when_parked":
        limit = rules.rules.vehicle_moving_when_parked.speed_above_kmh
        lines = [(limit, f"moving above {limit:g} km/h")]
        return [_chart(device.device_id, "speed_kmh", "speed", lines)]
    if kind == "geofence_exit":
        return [_chart(device.device_id, "speed_kmh", "speed", [])]
    metric = evidence.get("metric")
    if isinstance(evidence.get("lines"), list) and isinstance(metric, str):
        drawn = [
            (float(line["value"]), str(line.get("label", "")))
            for line in evidence.get("lines") or []
            if isinstance(line, dict) and _num(line.get("value")) is not None
        ]
        return [_chart(device.device_id, metric, f"{metric.replace('_', ' ')} ({kind})", drawn)]
    if isinstance(metric, str):
        value = _num(evidence.get("value"))
        lines = [] if value is None else [(value, f"repeated value {value:g}")]
        return [_chart(device.device_id, metric, metric.replace("_", " "), lines)]
    metrics = [m for m in metrics_of(device) if m not in ("lat_deg", "lon_deg")]
    return [_chart(device.device_id, m, m.replace("_", " "), []) for m in metrics]


def evidence_window(
    alert: dict[str, Any], index: FleetIndex, rules: RuleSet, watermark: float | None
) -> dict[str, Any]:
    """The `EvidenceWindow` body of an alert."""
    start, end, breach_start, breach_end = window(alert, watermark)
    if alert["kind"] == "inventory_below_pledge":
        charts = _inventory(alert, index)
    else:
        charts = _device_charts(alert, index, rules)
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
