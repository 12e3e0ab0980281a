"""Units of measure, read from a metric's name: ``weight_kg`` is in kg, ``level_pct`` in %.

A metric name ends in its unit (the MQTT contract); this is the one table of those
suffixes, for every screen, reason and chart.
"""

UNITS = {
    "kg": "kg",
    "c": "°C",
    "kw": "kW",
    "count": "count",
    "deg": "°",
    "kmh": "km/h",
    "km": "km",
    "mms": "mm/s",
    "a": "A",
    "pct": "%",
    "bar": "bar",
    "kpa": "kPa",
    "pa": "Pa",
    "m": "m",
    "mm": "mm",
    "l": "L",
    "m3": "m³",
    "v": "V",
    "hz": "Hz",
    "rpm": "rpm",
    "ppm": "ppm",
    "lux": "lx",
    "kwh": "kWh",
    "t": "t",
    "s": "s",
    "h": "h",
}


def unit_of(metric: str) -> str:
    """The unit a metric name carries in its suffix (``weight_kg`` → ``kg``)."""
    suffix = metric.rsplit("_", 1)[-1] if "_" in metric else ""
    return UNITS.get(suffix, "")
