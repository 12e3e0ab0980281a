"""What an alert's evidence charts: each detector's series and threshold lines.

A detector names its chart maker in its registry entry (`DetectorSpec.charts`); the
evidence API (`riskstream.api.evidence`) picks it by the alert's kind. Thresholds are
drawn in the series' own unit: an inventory rule's coverage threshold becomes a weight
on each load cell's chart.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devices.model import KG_PER_UNIT
from devices.units import unit_of
from riskstream.detectors.parked_moving import ParkedMovingRule
from riskstream.engine.fleet_index import DeviceContext, FleetIndex

if TYPE_CHECKING:
    from riskstream.rules.schema import RuleSet

Chart = dict[str, Any]
ChartMaker = Callable[[dict[str, Any], DeviceContext | None, FleetIndex, "RuleSet"], list[Chart]]
"""(the alert as stored, its device if any, the lender's fleet lookups, the rules) → charts."""


def num(value: object) -> float | None:
    """A number of the evidence, or None (booleans and text are not numbers here)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def chart(device_id: str, metric: str, title: str, lines: list[tuple[float, str]]) -> Chart:
    """One chart: a device's metric with labelled horizontal lines (to 6 decimals: a
    coordinate keeps the 5 its alert's reasons give)."""
    return {
        "device_id": device_id,
        "metric": metric,
        "unit": unit_of(metric),
        "title": title,
        "thresholds": [{"value": round(v, 6), "label": label} for v, label in lines],
    }


def inventory_charts(
    alert: dict[str, Any], device: DeviceContext | None, index: FleetIndex, rules: "RuleSet"
) -> list[Chart]:
    """Each load cell of the lot, with its share of the pledge and the alert level."""
    evidence = alert.get("evidence") or {}
    lot = index.collateral.get(str(evidence.get("collateral_id", alert["subject"])))
    if lot is None:
        return []
    per_unit = KG_PER_UNIT.get(lot.collateral.unit)
    cells = list(lot.load_cells)
    charts = []
    for cell in cells:
        lines: list[tuple[float, str]] = []
        threshold = num(evidence.get("threshold_coverage"))
        if per_unit is not None:
            pledged_kg = lot.collateral.quantity * per_unit / len(cells)
            share = "" if len(cells) == 1 else " (this cell's share)"
            lines.append((pledged_kg, f"pledged{share}"))
            if threshold is not None:
                lines.append((pledged_kg * threshold, f"alert below {threshold:.0%} of pledge"))
        charts.append(chart(cell, "weight_kg", f"weight on load cell {cell}", lines))
    return charts


def cold_chain_charts(
    alert: dict[str, Any], device: DeviceContext | None, index: FleetIndex, rules: "RuleSet"
) -> list[Chart]:
    """The thermometer, with the lot's band and its tolerance."""
    if device is None:
        return []
    evidence = alert.get("evidence") or {}
    band = evidence.get("band_c") or [None, None]
    tol = num(evidence.get("tolerance_c")) or 0.0
    lines = [
        (float(v) + sign * tol, f"{label} of band {v:g} °C ± {tol:g}")
        for v, sign, label in ((band[0], -1, "lowest"), (band[1], 1, "highest"))
        if num(v) is not None
    ]
    return [chart(device.device_id, "temperature_c", "temperature", lines)]


def parked_charts(
    alert: dict[str, Any], device: DeviceContext | None, index: FleetIndex, rules: "RuleSet"
) -> list[Chart]:
    """The vehicle's speed, with the speed that counts as moving."""
    if device is None:
        return []
    limit = rules.rules.table(ParkedMovingRule).speed_above_kmh
    return [
        chart(device.device_id, "speed_kmh", "speed", [(limit, f"moving above {limit:g} km/h")])
    ]


def geofence_charts(
    alert: dict[str, Any], device: DeviceContext | None, index: FleetIndex, rules: "RuleSet"
) -> list[Chart]:
    """The vehicle's speed (its track is drawn on the map)."""
    return [] if device is None else [chart(device.device_id, "speed_kmh", "speed", [])]


def position_charts(
    alert: dict[str, Any], device: DeviceContext | None, index: FleetIndex, rules: "RuleSet"
) -> list[Chart]:
    """The tracker's latitude and longitude, with the two fixes of the last implausible
    jump (its track is drawn on the map)."""
    if device is None:
        return []
    evidence = alert.get("evidence") or {}
    fixes = [(evidence.get("from"), "before the jump"), (evidence.get("to"), "after the jump")]
    charts = []
    for metric, title in (("lat_deg", "latitude"), ("lon_deg", "longitude")):
        lines = []
        for fix, label in fixes:
            value = num(fix.get(metric)) if isinstance(fix, dict) else None
            if value is not None:
                lines.append((value, label))
        charts.append(chart(device.device_id, metric, title, lines))
    return charts


def lines_charts(
    alert: dict[str, Any], device: DeviceContext | None, index: FleetIndex, rules: "RuleSet"
) -> list[Chart]:
    """The metric the evidence names, with the lines it lists (custom rules, anomalies on
    any series)."""
    evidence = alert.get("evidence") or {}
    metric = evidence.get("metric")
    if device is None or not isinstance(metric, str):
        return []
    drawn = [
        (float(line["value"]), str(line.get("label", "")))
        for line in evidence.get("lines") or []
        if isinstance(line, dict) and num(line.get("value")) is not None
    ]
    title = f"{metric.replace('_', ' ')} ({alert['kind']})"
    return [chart(device.device_id, metric, title, drawn)]
