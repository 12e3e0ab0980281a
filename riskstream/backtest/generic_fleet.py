"""A fleet for telemetry that comes without one: every device a generic sensor.

`riskstream backtest` without ``--fleet`` backtests any time series: each device of the
file becomes a ``generic`` device of tenant ``default``, borrower ``default``, at one
site ``default``, reporting every median gap between its distinct timestamps (60 s
for a device with a single timestamp). Of today's rules only the deadman
(``device_silent``) applies to such devices: inventory needs load cells bound to
pledged collateral, the geofence needs GPS trackers of vehicles with a fence.
"""

import re

import numpy as np
import numpy.typing as npt

from devices.model import Borrower, Device, DeviceKind, Fleet, Site, SiteKind, Tenant
from riskstream.backtest.errors import TelemetryFileError
from riskstream.backtest.telemetry_file import Telemetry

DEFAULT_ID = "default"
DEFAULT_INTERVAL_S = 60.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def median_intervals(
    device: npt.NDArray[np.int32], ts: npt.NDArray[np.float64], devices: int
) -> npt.NDArray[np.float64]:
    """Median gap between the distinct timestamps of each device.

    Args:
        device: device index of each row, rows sorted by ``ts``.
        ts: event time of each row, non-decreasing.
        devices: number of devices (indices run from 0 to ``devices - 1``).

    Returns:
        One interval per device; `DEFAULT_INTERVAL_S` for a device with fewer than
        two distinct timestamps.
    """
    order = np.argsort(device, kind="stable")  # by device, then (stable) by time
    dev, when = device[order], ts[order]
    gap = np.diff(when)
    keep = (dev[1:] == dev[:-1]) & (gap > 0)
    gap_dev, gap = dev[1:][keep], gap[keep]
    by_size = np.lexsort((gap, gap_dev))
    gap_dev, gap = gap_dev[by_size], gap[by_size]
    counts = np.bincount(gap_dev, minlength=devices)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    low = (starts + (counts - 1) // 2)[has]
    high = (starts + counts // 2)[has]
    out = np.full(devices, DEFAULT_INTERVAL_S)
    out[has] = (gap[low] + gap[high]) / 2.0
    return out


def generic_fleet(telemetry: Telemetry) -> Fleet:
    """One default borrower owning every device of ``telemetry`` as a generic sensor.

    Raises:
        TelemetryFileError: a device id is not a valid id (letters, digits, ``_.-``).
    """
    for device_id in telemetry.device_ids:
        if not _ID.match(device_id):
            raise TelemetryFileError(
                telemetry.path,
                f"{device_id!r} is not a valid device id (letters, digits, '_', '.', '-'; "
                "at most 128): rename it, or give a --fleet that maps it",
                "device_id",
            )
    intervals = median_intervals(telemetry.device, telemetry.ts, len(telemetry.device_ids))
    devices = [
        Device.model_construct(
            id=device_id,
            kind=DeviceKind.GENERIC,
            site=DEFAULT_ID,
            collateral=None,
            interval_s=max(round(float(interval), 3), 0.001),
            secret=None,
        )
        for device_id, interval in zip(telemetry.device_ids, intervals, strict=True)
    ]
    borrower = Borrower(
        id=DEFAULT_ID,
        name="every device of the telemetry file",
        sites=[Site(id=DEFAULT_ID, kind=SiteKind.WAREHOUSE, name="default site")],
        devices=devices,
    )
    return Fleet(tenant=Tenant(id=DEFAULT_ID, name="default tenant"), borrowers=[borrower])
