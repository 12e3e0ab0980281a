"""Signal models for fixed-site devices: load cell, door, thermometer, power, output.

Each model owns its device's random generator and calendar, and turns an event time
into that device's metric values (names as in `devices.model.METRICS`). Models are
called in increasing time order per device; they keep only what that needs.
"""

import math
import random

from simulator.clock import LocalDay

TWO_PI = 2.0 * math.pi
DRAIN_FLOOR = 0.55  # share of the pledge an inventory drain ends at
DRAIN_SECONDS = 4 * 3600.0
STOCK_LOW, STOCK_HIGH = 1.15, 1.45  # normal closing stock, share of the pledge
INTRADAY_FLOOR = 1.08  # business flows never take stock below this share
SENSOR_NOISE = 0.002  # load cell noise, relative


class DeviceModel:
    """Base of all signal models: identity, schedule and per-device randomness.

    Attributes:
        device_id: the device's id.
        interval: reporting interval in seconds.
        rng: this device's own random generator.
        day: the borrower's local calendar.
        stop_ts: the device sends nothing at or after this event time.
        seq: the last sequence number sent.
    """

    __slots__ = ("day", "device_id", "interval", "rng", "seq", "stop_ts")

    def __init__(self, device_id: str, interval: float, timezone: str, seed: int) -> None:
        """Set up the device; its randomness depends only on ``seed`` and its id."""
        self.device_id = device_id
        self.interval = interval
        self.rng = random.Random(f"{seed}:{device_id}")
        self.day = LocalDay(timezone)
        self.stop_ts = math.inf
        self.seq = 0

    def values(self, ts: float) -> dict[str, float]:
        """The metric values the device reports at event time ``ts``."""
        raise NotImplementedError


class LoadCellModel(DeviceModel):
    """Stock on a warehouse scale, in kg.

    Closing stock is 1.15–1.45 × the pledge on business days; goods go out in the
    morning and come in in the afternoon (08–18 local, weekdays), never below 1.08 ×
    the pledge. An inventory drain takes it linearly to 0.55 × the pledge over 4 hours.
    """

    __slots__ = ("drain_from", "drain_start", "low", "pledge_kg", "prev", "today")

    def __init__(
        self, device_id: str, interval: float, timezone: str, seed: int, pledge_kg: float
    ) -> None:
        """Set up a scale watching ``pledge_kg`` of pledged goods."""
        super().__init__(device_id, interval, timezone, seed)
        self.pledge_kg = pledge_kg
        self.today = self.rng.uniform(STOCK_LOW, STOCK_HIGH)
        self.prev = self.low = self.today
        self.drain_start = math.inf
        self.drain_from: float | None = None

    def _new_day(self) -> None:
        self.prev = self.today
        if self.day.weekday < 5:
            self.today = self.rng.uniform(STOCK_LOW, STOCK_HIGH)
            dip = self.rng.uniform(0.0, 0.12)
            self.low = max(INTRADAY_FLOOR, min(self.prev, self.today) - dip)
        else:
            self.low = self.prev

    def level(self, ts: float) -> float:
        """Normal stock at ``ts`` as a share of the pledge (no noise, no scenario)."""
        day = self.day
        if day.roll(ts):
            self._new_day()
        h = (ts - day.start) / 3600.0
        if h < 8.0:
            return self.prev
        if h >= 18.0:
            return self.today
        if h < 13.0:
            return self.prev + (self.low - self.prev) * (h - 8.0) / 5.0
        return self.low + (self.today - self.low) * (h - 13.0) / 5.0

    def values(self, ts: float) -> dict[str, float]:
        """Weight on the scale, kg."""
        share = self.level(ts)
        if ts >= self.drain_start:
            if self.drain_from is None:
                self.drain_from = share
            k = min(1.0, (ts - self.drain_start) / DRAIN_SECONDS)
            share = self.drain_from + (DRAIN_FLOOR - self.drain_from) * k
        noise = 1.0 + (self.rng.random() - 0.5) * 2.0 * SENSOR_NOISE
        return {"weight_kg": round(share * self.pledge_kg * noise, 1)}


def _business_hours(day: LocalDay, h: float) -> bool:
    return day.weekday < 5 and 7.0 <= h < 19.0


class DoorModel(DeviceModel):
    """Warehouse door: often open in business hours, rarely otherwise."""

    __slots__ = ()

    def values(self, ts: float) -> dict[str, float]:
        """``door_open``: 1 if open, else 0."""
        day = self.day
        day.roll(ts)
        p = 0.35 if _business_hours(day, (ts - day.start) / 3600.0) else 0.02
        return {"door_open": 1.0 if self.rng.random() < p else 0.0}


class TemperatureModel(DeviceModel):
    """Warehouse climate: a daily temperature cycle, humidity moving against it."""

    __slots__ = ("amplitude", "base_c")

    def __init__(
        self, device_id: str, interval: float, timezone: str, seed: int, cold: bool
    ) -> None:
        """Set up a thermometer in a cold store (``cold``) or an ambient warehouse."""
        super().__init__(device_id, interval, timezone, seed)
        self.base_c = -18.0 + self.rng.uniform(-1, 1) if cold else self.rng.uniform(10, 20)
        self.amplitude = 0.6 if cold else self.rng.uniform(2.0, 5.0)

    def values(self, ts: float) -> dict[str, float]:
        """``temperature_c`` and ``humidity_pct``."""
        day = self.day
        day.roll(ts)
        cycle = math.sin(TWO_PI * ((ts - day.start) / 3600.0 - 9.0) / 24.0)
        rnd = self.rng.random
        temp = self.base_c + self.amplitude * cycle + (rnd() - 0.5) * 0.6
        humidity = 55.0 - 12.0 * cycle + (rnd() - 0.5) * 4.0
        return {"temperature_c": round(temp, 2), "humidity_pct": round(humidity, 1)}


def shift_load(day: LocalDay, h: float) -> float:
    """Share of capacity a plant runs at: two shifts on weekdays, one on Saturday."""
    if day.weekday < 5:
        return 0.85 if 6.0 <= h < 22.0 else 0.0
    if day.weekday == 5:
        return 0.6 if 6.0 <= h < 14.0 else 0.0
    return 0.0


class PowerModel(DeviceModel):
    """Plant power draw: base load plus the running shifts, in kW."""

    __slots__ = ("rated_kw",)

    def __init__(self, device_id: str, interval: float, timezone: str, seed: int) -> None:
        """Set up a power meter on a plant of random size."""
        super().__init__(device_id, interval, timezone, seed)
        self.rated_kw = self.rng.uniform(200.0, 1500.0)

    def values(self, ts: float) -> dict[str, float]:
        """``power_kw``."""
        day = self.day
        day.roll(ts)
        load = shift_load(day, (ts - day.start) / 3600.0)
        share = 0.08 + load * (0.92 + (self.rng.random() - 0.5) * 0.1)
        return {"power_kw": round(self.rated_kw * share, 2)}


class OutputModel(DeviceModel):
    """Units produced since the previous report (not a cumulative counter)."""

    __slots__ = ("per_hour",)

    def __init__(self, device_id: str, interval: float, timezone: str, seed: int) -> None:
        """Set up an output counter on a line of random capacity."""
        super().__init__(device_id, interval, timezone, seed)
        self.per_hour = self.rng.uniform(100.0, 2000.0)

    def values(self, ts: float) -> dict[str, float]:
        """``output_count`` for the last interval."""
        day = self.day
        day.roll(ts)
        load = shift_load(day, (ts - day.start) / 3600.0)
        if load == 0.0:
            return {"output_count": 0.0}
        units = self.per_hour * self.interval / 3600.0 * load * (0.9 + self.rng.random() * 0.2)
        return {"output_count": float(round(units))}
