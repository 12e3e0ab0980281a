"""The unit of telemetry: one metric value of one device at one event time."""

import msgspec


class Reading(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One measurement as it travels from ingest to the store and the risk engine.

    Not tracked by the cycle collector (``gc=False``): it holds only strings and
    numbers, so it can be in no reference cycle, and a backtest builds millions.

    Attributes:
        tenant: the lender the device belongs to.
        device_id: the device that measured it.
        ts: event time, epoch seconds, as the device stamped it.
        metric: snake_case metric name with a unit suffix, e.g. ``weight_kg``.
        value: a finite number.
        seq: the device's message counter, when it sends one.
    """

    tenant: str
    device_id: str
    ts: float
    metric: str
    value: float
    seq: int | None = None
