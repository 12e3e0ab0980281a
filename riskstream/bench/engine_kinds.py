"""Where the engine's time goes, by device kind (`riskstream bench engine --by-kind`).

A fleet's rate per reading depends on its mix: a load cell's reading goes through the
lot detectors (weight, inventory, movement, slow loss), a tracker's speed reading
through almost nothing. To size a deployment, or to tell whether one kind of reading
became costlier or only commoner, the engine is fed the bench's file once more with
each handler timed (`riskstream.engine.routing.Router.instrument`): per device kind,
the readings, the microseconds each spends in its detectors, and what the rest of the
engine costs per reading (the route lookup, the deadman's bookkeeping, timers, scoring).

The timer's own cost (two clock reads and a call, measured here on a handler that does
nothing) is taken off each timed reading. The figures are wall time on one core, like
the engine-alone rate: compare them within one run.
"""

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from devices.reading import Reading
from riskstream.backtest.replay import AlertLog, feed_groups
from riskstream.backtest.steps import Group
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.engine.fleet_index import DeviceContext
from riskstream.engine.routing import Handler

__all__ = ["KindCost", "KindProfile", "measure_by_kind"]

TIMER_CALIBRATION_CALLS = 200_000


@dataclass(slots=True)
class KindCost:
    """One device kind's readings that reached a detector, and their time there."""

    kind: str
    readings: int = 0
    seconds: float = 0.0

    def micros_per_reading(self, timer_s: float) -> float:
        """Microseconds per reading in the detectors, the timer's own cost taken off."""
        if not self.readings:
            return 0.0
        return max(0.0, self.seconds / self.readings - timer_s) * 1e6


@dataclass(slots=True)
class KindProfile:
    """One timed feed of a file: per kind costs, and the whole feed's readings and time."""

    kinds: list[KindCost] = field(default_factory=list)
    readings: int = 0
    seconds: float = 0.0
    timer_s: float = 0.0
    alerts: int = 0

    def rest_micros_per_reading(self) -> float:
        """Microseconds per reading outside the detectors' handlers (routing, timers,
        scoring), over every reading fed."""
        inside = sum(k.seconds for k in self.kinds)
        timers = sum(k.readings for k in self.kinds) * self.timer_s
        return max(0.0, self.seconds - inside - timers) / max(1, self.readings) * 1e6


def _kind_of(device: DeviceContext) -> str:
    if device.collateral_id is not None:
        return f"{device.kind.value} (bound to a lot)"
    return device.kind.value


def _timer_cost() -> float:
    """Seconds the timing wrapper adds per call, measured on a handler that does nothing."""
    cost = KindCost("calibration")
    clock = time.perf_counter

    def nothing(reading: Reading, device: DeviceContext, wall: float, changed: object) -> None:
        return None

    def timed(reading: Reading, device: DeviceContext, wall: float, changed: object) -> None:
        began = clock()
        nothing(reading, device, wall, changed)
        cost.seconds += clock() - began
        cost.readings += 1

    args: tuple[Reading, DeviceContext, float, object] = (None, None, 0.0, None)  # type: ignore[assignment]
    began = clock()
    for _ in range(TIMER_CALIBRATION_CALLS):
        nothing(*args)
    plain = clock() - began
    began = clock()
    for _ in range(TIMER_CALIBRATION_CALLS):
        timed(*args)
    wrapped = clock() - began
    return max(0.0, (wrapped - plain) / TIMER_CALIBRATION_CALLS - cost.seconds / cost.readings)


def measure_by_kind(engine: Engine, work: Sequence[Group]) -> KindProfile:
    """Feed ``work`` (the bench file's step groups) to a fresh ``engine`` with every
    handler timed; return the costs per device kind."""
    profile = KindProfile(timer_s=_timer_cost())
    costs: dict[str, KindCost] = {}
    clock = time.perf_counter

    def instrument(handler: Handler, device: DeviceContext, metric: str) -> Handler:
        kind = _kind_of(device)
        cost = costs.get(kind)
        if cost is None:
            cost = costs[kind] = KindCost(kind)

        def timed(
            reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
        ) -> None:
            began = clock()
            handler(reading, device, wall, changed)
            cost.seconds += clock() - began
            cost.readings += 1

        return timed

    engine.router.instrument = instrument
    engine.router.reset()
    log = AlertLog()
    gc.collect()
    began = clock()
    profile.readings = feed_groups(engine, work, log)
    profile.seconds = clock() - began
    profile.alerts = len(log.latest)
    profile.kinds = sorted(costs.values(), key=lambda k: -k.seconds)
    return profile
