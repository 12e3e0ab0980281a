"""A production line: its level of activity, and the power meter, machine monitor and
output counter that show it.

A `Plant` is shared by the devices of one production site. Its level is the share of
capacity in use: zero outside the borrower's shifts and on days off, otherwise a
day-to-day variation around `RUN_LEVEL` times the borrower's seasonal factor. A
``production_slowdown`` multiplies it by a factor falling linearly to its floor, a
``business_decline`` by another (a smaller fall over weeks); a ``machine_idle`` window
holds it at zero. The power meter draws a base load plus a
share proportional to the level, the machine monitor's current and vibration follow
it, the output counter counts units in proportion.
"""

import random
from math import floor

from simulator.business import BusinessProfile
from simulator.clock import LocalDay
from simulator.signals import DeviceModel

RUN_LEVEL = 0.85


class Plant:
    """Activity of one production line, shared by its devices.

    Attributes:
        slowdown: (start, ramp seconds, final factor) of a slowdown, or None.
        decline: (start, ramp seconds, final factor) of a business decline, or None.
        idle: (from, to) windows in which the line stands still.
    """

    __slots__ = ("_cal", "_factors", "_key", "decline", "idle", "profile", "slowdown")

    def __init__(self, site_id: str, profile: BusinessProfile, timezone: str, seed: int) -> None:
        """Set up the plant at ``site_id`` of a borrower working by ``profile``."""
        self.profile = profile
        self._cal = LocalDay(timezone)
        self._key = f"{seed}:{site_id}:plant"
        self._factors: dict[float, float] = {}
        self.slowdown: tuple[float, float, float] | None = None
        self.decline: tuple[float, float, float] | None = None
        self.idle: list[tuple[float, float]] = []

    def baseline(self, ts: float) -> float:
        """Share of capacity in use at ``ts`` in normal operation."""
        cal = self._cal
        cal.roll(ts)
        if not self.profile.in_shift(cal, (ts - cal.start) / 3600.0):
            return 0.0
        factor = self._factors.get(cal.start)
        if factor is None:
            if len(self._factors) > 4:
                self._factors.clear()
            rng = random.Random(f"{self._key}:{cal.start:.0f}")
            factor = rng.uniform(0.92, 1.08) * self.profile.season(cal)
            self._factors[cal.start] = factor
        return min(1.0, RUN_LEVEL * factor)

    def factor(self, ts: float) -> float:
        """What scenarios leave of the baseline at ``ts`` (1 in normal operation)."""
        for low, high in self.idle:
            if low <= ts < high:
                return 0.0
        return _fall(self.slowdown, ts) * _fall(self.decline, ts)

    def level(self, ts: float) -> float:
        """Share of capacity in use at ``ts``."""
        return self.baseline(ts) * self.factor(ts)


def _fall(ramp: tuple[float, float, float] | None, ts: float) -> float:
    """The factor at ``ts`` of a fall (start, ramp seconds, final factor): 1 before it
    starts, linear down to the final factor, which it keeps."""
    if ramp is None:
        return 1.0
    start, seconds, final = ramp
    if ts < start:
        return 1.0
    return 1.0 - (1.0 - final) * min(1.0, (ts - start) / seconds)


class PowerModel(DeviceModel):
    """Plant power draw, ``power_kw``: a base load plus the running machines."""

    __slots__ = ("base", "plant", "rated_kw")

    def __init__(
        self, device_id: str, interval: float, timezone: str, seed: int, plant: Plant
    ) -> None:
        """Set up a power meter on ``plant``."""
        super().__init__(device_id, interval, timezone, seed)
        self.plant = plant
        self.rated_kw = self.rng.uniform(200.0, 1500.0)
        self.base = self.rng.uniform(0.06, 0.15)

    def values(self, ts: float) -> dict[str, float]:
        """``power_kw``."""
        rnd = self.rng.random
        base = self.base * (1.0 + (rnd() - 0.5) * 0.04)
        running = self.plant.level(ts) * (1.0 + (rnd() - 0.5) * 0.1)
        kw = self.rated_kw * (base + (1.0 - self.base) * running)
        return {"power_kw": floor(kw * 100.0 + 0.5) / 100.0}

    def spike(self, values: dict[str, float]) -> dict[str, float]:
        """Inrush current of a large motor starting."""
        kw = values["power_kw"] * self.rng.uniform(1.3, 1.8)
        return {"power_kw": floor(kw * 100.0 + 0.5) / 100.0}


class MachineModel(DeviceModel):
    """A machine monitor: motor ``current_a`` and ``vibration_mms`` (RMS velocity)."""

    __slots__ = ("plant", "rated_a", "standby_a")

    def __init__(
        self, device_id: str, interval: float, timezone: str, seed: int, plant: Plant
    ) -> None:
        """Set up a machine monitor on ``plant``."""
        super().__init__(device_id, interval, timezone, seed)
        self.plant = plant
        self.rated_a = self.rng.uniform(40.0, 400.0)
        self.standby_a = self.rng.uniform(0.5, 1.5)

    def values(self, ts: float) -> dict[str, float]:
        """Current and vibration at ``ts``."""
        rnd = self.rng.random
        level = self.plant.level(ts)
        current = self.standby_a * (0.9 + 0.2 * rnd()) + self.rated_a * level * (
            0.96 + 0.08 * rnd()
        )
        vibration = 0.3 * (0.7 + 0.6 * rnd()) + 5.0 * level * (0.9 + 0.2 * rnd())
        return {
            "current_a": floor(current * 100.0 + 0.5) / 100.0,
            "vibration_mms": floor(vibration * 100.0 + 0.5) / 100.0,
        }

    def spike(self, values: dict[str, float]) -> dict[str, float]:
        """Inrush current as the motor starts."""
        factor = self.rng.uniform(2.0, 3.0)
        current = floor(values["current_a"] * factor * 100.0 + 0.5) / 100.0
        return {**values, "current_a": current}


class OutputModel(DeviceModel):
    """Units produced since the previous report, ``output_count`` (not cumulative)."""

    __slots__ = ("per_hour", "plant")

    def __init__(
        self, device_id: str, interval: float, timezone: str, seed: int, plant: Plant
    ) -> None:
        """Set up an output counter on ``plant``."""
        super().__init__(device_id, interval, timezone, seed)
        self.plant = plant
        self.per_hour = self.rng.uniform(100.0, 2000.0)

    def values(self, ts: float) -> dict[str, float]:
        """``output_count`` for the last interval."""
        noise = 0.9 + self.rng.random() * 0.2
        level = self.plant.level(ts)
        units = self.per_hour * self.interval / 3600.0 * level / RUN_LEVEL * noise
        return {"output_count": float(floor(units + 0.5))}
