"""The risk engine: a pure step from readings to alert changes, its alerts, lookups and
checkpoints."""
