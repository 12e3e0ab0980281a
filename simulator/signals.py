"""Signal models: the base every device model shares, and the warehouse door and climate.

Each model owns its device's random generator and calendar, and turns an event time
into that device's metric values. Models are called in increasing time order per
device; they keep only what that needs. A model draws the same random numbers
whether or not a scenario acts on it, so a scenario changes a device's values only
from its start on.
"""

import abc
import math
import random
from math import floor

from simulator.business import BusinessProfile
from simulator.catalog import Band
from simulator.clock import LocalDay

TWO_PI = 2.0 * math.pi
MONTH_S = 30 * 86_400.0

DOOR_OPEN_BUSINESS = 0.35
DOOR_OPEN_CLOSED = 0.005

COLD_NOISE_C = 0.15
COLD_CYCLE_C = 0.3
COLD_DRIFT_C = 0.2  # at most, per 30 days
FAILURE_RISE_S = 45 * 60.0  # time constant of a failed cold store warming up
REPAIR_FALL_S = 30 * 60.0  # time constant of a repaired cold store cooling down
FAILURE_AMBIENT_C = 10.0  # a failed cold store heads this far above its band


class DeviceModel(abc.ABC):
    """Base of all signal models: identity, schedule and per-device randomness.

    Attributes:
        device_id: the device's id.
        interval: reporting interval in seconds.
        rng: this device's own random generator, for its values.
        schedule: a second one for its report times, so that scenarios, which may
            change how many numbers ``rng`` draws, never move a report.
        day: the local calendar of the device's site.
        stop_ts: the device sends nothing at or after this event time.
        seq: the last sequence number sent.
    """

    __slots__ = ("day", "device_id", "interval", "rng", "schedule", "seq", "stop_ts")

    def __init__(self, device_id: str, interval: float, timezone: str, seed: int) -> None:
        """Set up the device; its randomness depends only on ``seed`` and its id."""
        self.device_id = device_id
        self.interval = interval
        self.rng = random.Random(f"{seed}:{device_id}")
        self.schedule = random.Random(f"{seed}:{device_id}:schedule")
        self.day = LocalDay(timezone)
        self.stop_ts = math.inf
        self.seq = 0

    def begin(self, start_ts: float) -> None:  # noqa: B027 (optional hook, most models need none)
        """Called once before the first report, with the start of the simulation."""

    @abc.abstractmethod
    def values(self, ts: float) -> dict[str, float]:
        """The metric values the device reports at event time ``ts``."""

    def spike(self, values: dict[str, float]) -> dict[str, float]:
        """``values`` with a brief, harmless sensor spike (default: none)."""
        return values


class DoorModel(DeviceModel):
    """Warehouse door: often open in business hours, rarely otherwise.

    Attributes:
        forced_open: (from, to) event-time windows in which the door stands open.
    """

    __slots__ = ("forced_open", "profile")

    def __init__(
        self, device_id: str, interval: float, timezone: str, seed: int, profile: BusinessProfile
    ) -> None:
        """Set up a door contact of a borrower working by ``profile``."""
        super().__init__(device_id, interval, timezone, seed)
        self.profile = profile
        self.forced_open: list[tuple[float, float]] = []

    def values(self, ts: float) -> dict[str, float]:
        """``door_open``: 1 if open, else 0."""
        day = self.day
        day.roll(ts)
        busy = self.profile.in_business_hours(day, (ts - day.start) / 3600.0)
        p = DOOR_OPEN_BUSINESS if busy else DOOR_OPEN_CLOSED
        is_open = self.rng.random() < p
        for low, high in self.forced_open:
            if low <= ts < high:
                is_open = True
        return {"door_open": 1.0 if is_open else 0.0}


def cold_store_temperature(band: Band, ts: float, failure: tuple[float, float] | None) -> float:
    """Noise-free temperature of a cold store holding ``band``, with an optional failure.

    The store sits at the middle of its band. From ``failure[0]`` the refrigeration is
    off and the temperature rises towards `FAILURE_AMBIENT_C` above the band; from
    ``failure[1]`` it is repaired and falls back to the middle.
    """
    low, high = band
    mid = (low + high) / 2.0
    if failure is None or ts < failure[0]:
        return mid
    ambient = high + FAILURE_AMBIENT_C
    fail, repair = failure

    def warmed(at: float) -> float:
        return mid + (ambient - mid) * (1.0 - math.exp(-(at - fail) / FAILURE_RISE_S))

    if ts < repair:
        return warmed(ts)
    peak = warmed(repair)
    return mid + (peak - mid) * math.exp(-(ts - repair) / REPAIR_FALL_S)


def cold_chain_window(band: Band, fail: float, repair: float) -> tuple[float, float]:
    """When a failure from ``fail`` to ``repair`` takes the store above ``band`` and back.

    Returns:
        (leaves the band, is back inside it), event times of the noise-free curve.
    """
    low, high = band
    mid = (low + high) / 2.0
    half = high - mid
    ambient = high + FAILURE_AMBIENT_C
    out = fail + FAILURE_RISE_S * math.log((ambient - mid) / (ambient - high))
    if repair <= out:
        return out, out
    peak = cold_store_temperature(band, repair, (fail, repair))
    back = repair + REPAIR_FALL_S * math.log((peak - mid) / half)
    return out, back


class TemperatureModel(DeviceModel):
    """Warehouse climate: ``temperature_c`` and ``humidity_pct``.

    An ambient warehouse follows a daily cycle; a cold store (``band`` given) holds
    the middle of its band within a fraction of a degree, unless a cold-chain
    failure (``failures``) lets it warm up.
    """

    __slots__ = ("amplitude", "band", "base_c", "drift", "failures", "t0")

    def __init__(
        self, device_id: str, interval: float, timezone: str, seed: int, band: Band | None
    ) -> None:
        """Set up a thermometer in a cold store holding ``band`` or an ambient warehouse."""
        super().__init__(device_id, interval, timezone, seed)
        self.band = band
        rng = self.rng
        self.base_c = rng.uniform(10.0, 20.0)
        self.amplitude = COLD_CYCLE_C if band else rng.uniform(2.0, 5.0)
        self.drift = rng.uniform(-1.0, 1.0) * (COLD_DRIFT_C if band else 0.5) / MONTH_S
        self.failures: list[tuple[float, float]] = []
        self.t0 = 0.0

    def begin(self, start_ts: float) -> None:
        """Drift starts at the start of the simulation."""
        self.t0 = start_ts

    def values(self, ts: float) -> dict[str, float]:
        """``temperature_c`` and ``humidity_pct``."""
        day = self.day
        day.roll(ts)
        cycle = math.sin(TWO_PI * ((ts - day.start) / 3600.0 - 9.0) / 24.0)
        rnd = self.rng.random
        noise, wet = rnd() - 0.5, rnd() - 0.5
        drift = self.drift * (ts - self.t0)
        if self.band is None:
            temp = self.base_c + self.amplitude * cycle + noise * 0.6 + drift
            humidity = 55.0 - 12.0 * cycle + wet * 4.0
        else:
            failure = None
            for window in self.failures:
                if window[0] <= ts:
                    failure = window
            base = cold_store_temperature(self.band, ts, failure)
            temp = base + self.amplitude * cycle + noise * 2.0 * COLD_NOISE_C + drift
            humidity = 85.0 - 3.0 * cycle + wet * 4.0 - (base - self.band[1]) * 0.5
        return {
            "temperature_c": floor(temp * 100.0 + 0.5) / 100.0,
            "humidity_pct": floor(humidity * 10.0 + 0.5) / 10.0,
        }

    def spike(self, values: dict[str, float]) -> dict[str, float]:
        """A brief warm reading: door opened next to the sensor."""
        if self.band is None:
            rise = self.rng.uniform(2.0, 5.0)
        else:
            rise = self.rng.uniform(0.2, 0.4) * (self.band[1] - self.band[0]) / 2.0
        temp = floor((values["temperature_c"] + rise) * 100.0 + 0.5) / 100.0
        return {**values, "temperature_c": temp}
