"""Readings to the detectors that watch them: the engine's hot path.

Each device gets a `Route` on its first reading: its registered context and a table of
handlers by metric, shared by devices of the same kind that weigh a lot or not, filled
on the first reading of each metric from the registry's routes
(`riskstream.detectors.registry.Route`). `Router.feed` takes a replay's steps of
readings (`riskstream.engine.core.Engine.process_steps`): per reading one route lookup,
the deadman's bookkeeping inline, and the handler; between steps, whether an alert
changed or a timer falls due, in which case it stops so the caller can tick.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

from devices.model import DeviceKind
from devices.reading import Reading
from riskstream.detectors.deadman import DeadmanDetector
from riskstream.detectors.lot_chain import LotChain
from riskstream.detectors.registry import REGISTRY, Host
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.coverage import LatestCoverage
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.engine.scoping import Scoping
from riskstream.engine.timers import Timers
from riskstream.rules.schema import Rules

__all__ = ["Handler", "Route", "Router"]

Handler = Callable[[Reading, DeviceContext, float, dict[str, Alert]], None]
"""What one reading goes through: (reading, its device, wall time, changed alerts by id)."""


class Route:
    """A device as the engine sees it, and the handler of each metric it has sent."""

    __slots__ = ("device", "handlers", "last_seen")

    def __init__(self, device: DeviceContext | None, handlers: dict[str, Handler | None]) -> None:
        self.device = device
        self.handlers = handlers
        # the latest event time of its readings this engine saw (the deadman's own
        # `last_seen` is the authority: its first tick dates devices never heard from)
        self.last_seen = -math.inf


def _run_two(
    first: Handler,
    second: Handler,
    reading: Reading,
    device: DeviceContext,
    wall: float,
    changed: dict[str, Alert],
) -> None:
    first(reading, device, wall, changed)
    second(reading, device, wall, changed)


def _run_three(
    first: Handler,
    second: Handler,
    third: Handler,
    reading: Reading,
    device: DeviceContext,
    wall: float,
    changed: dict[str, Alert],
) -> None:
    # a tracker's coordinate: geofence, implausible position, stuck values
    first(reading, device, wall, changed)
    second(reading, device, wall, changed)
    third(reading, device, wall, changed)


def _run_steps(
    steps: tuple[Handler, ...],
    reading: Reading,
    device: DeviceContext,
    wall: float,
    changed: dict[str, Alert],
) -> None:
    for step in steps:
        step(reading, device, wall, changed)


class Router:
    """Routes of an engine's devices, and its feed of readings through them.

    ``host`` is the engine the detectors' steps see (`riskstream.detectors.registry.Host`).
    """

    fuse_lot_readings: ClassVar[bool] = True
    """Whether a lot's weight reading goes through one handler, its lot chain taking the
    coverage and stuck-values steps inline (the tests turn it off to compare with the
    three steps called one by one)."""

    def __init__(
        self,
        index: FleetIndex,
        detectors: Mapping[str, Any],
        host: Host,
        book: AlertBook,
        coverage: LatestCoverage,
        scoping: Scoping,
        timers: Timers,
    ) -> None:
        self.index = index
        self.detectors = detectors
        self.host = host
        self.book = book
        self.coverage = coverage
        self.scoping = scoping
        self.timers = timers
        self.deadman: DeadmanDetector = detectors["deadman"]
        self.unmatched = 0
        """Readings of devices (or tenants) not in the fleets, ignored."""
        self.instrument: Callable[[Handler, DeviceContext, str], Handler] | None = None
        """Wraps each handler as it is built (``riskstream bench engine --by-kind`` times
        them per device kind); None on the hot path. Set it before the first reading or
        call `reset`."""
        self._routes: dict[str, Route] = {}
        self._tables: dict[tuple[DeviceKind, bool] | None, dict[str, Handler | None]] = {}

    def reset(self) -> None:
        """Build routes anew: the rules (what detectors watch) or their state changed."""
        self._routes, self._tables = {}, {}

    def feed(
        self,
        batch: Sequence[Reading],
        ends: Sequence[int],
        quiet_until: Sequence[float],
        i: int,
        changed: dict[str, Alert],
        wall: float,
        watermark: float,
    ) -> tuple[int, float]:
        """Route the readings of step ``i`` on (`Engine.process_steps` says what the
        arguments mean), noting alert changes in ``changed``, until an alert changed or a
        timer falls due between two steps; return the first step not fed and the latest
        event time seen (``watermark`` if none was later)."""
        routes = self._routes
        scoping = self.scoping
        scoped = scoping.scope.by_device
        base_rules = scoping.scope.base
        in_force: Rules | None = None
        deadman, book = self.deadman, self.book
        last_seen, silent = deadman.last_seen, deadman.silent
        never = -math.inf
        timers = self.timers
        alarm = timers.alarm
        start = ends[i - 1] if i else 0
        last = len(ends) - 1
        while True:
            end = ends[i]
            for reading in batch[start:end] if start or end < len(batch) else batch:
                device_id = reading.device_id
                route = routes.get(device_id)
                if route is None:
                    route = self._route(device_id)
                device = route.device
                if device is None or device.tenant != reading.tenant:
                    self.unmatched += 1
                    continue
                if scoped:
                    effective = scoped.get(device_id, base_rules)
                    if effective is not in_force:
                        scoping.use(effective)
                        in_force = effective
                ts = reading.ts
                if ts > watermark:
                    watermark = ts
                # the deadman's bookkeeping, inline; a device's readings often share a time
                if ts > route.last_seen:
                    route.last_seen = ts
                    if ts > last_seen.get(device_id, never):
                        last_seen[device_id] = ts
                if device_id in silent:
                    alert = deadman.seen(reading, device, book)
                    if alert is not None:
                        changed[alert.id] = alert
                try:
                    handler = route.handlers[reading.metric]
                except KeyError:
                    handler = route.handlers[reading.metric] = self._handler(device, reading.metric)
                if handler is not None:
                    handler(reading, device, wall, changed)
            start = end
            i += 1
            if i > last or changed:
                break
            quiet = quiet_until[i - 1]
            # `Timers.due_by` in short: nothing is due before the kept time or the alarm
            kept = timers.kept
            if kept is None or quiet >= kept or quiet >= alarm.at:
                if in_force is not None and in_force is not base_rules:
                    scoping.use(base_rules)  # the timers read the file's rules
                    in_force = base_rules
                if timers.due_by(quiet):
                    break
        if in_force is not None and in_force is not base_rules:
            scoping.use(base_rules)
        return i, watermark

    def _route(self, device_id: str) -> Route:
        device = self.index.devices.get(device_id)
        # a handler depends only on the device's kind and whether it weighs a lot: devices
        # alike share one table
        profile = None if device is None else (device.kind, device.collateral_id is not None)
        handlers = self._tables.setdefault(profile, {})
        route = self._routes[device_id] = Route(device, handlers)
        return route

    def _handler(self, device: DeviceContext, metric: str) -> Handler | None:
        """What a reading of ``metric`` from ``device`` goes through (wrapped by
        `instrument` when set)."""
        handler = self._steps(device, metric)
        if handler is None or self.instrument is None:
            return handler
        return self.instrument(handler, device, metric)

    def _steps(self, device: DeviceContext, metric: str) -> Handler | None:
        """The detectors' steps of a reading of ``metric`` from ``device``, in registry order."""
        named: list[tuple[str, Handler]] = []
        for spec in REGISTRY:
            detector = self.detectors[spec.name]
            for route in spec.routes:
                if route.watches(detector, device, metric):
                    named.append((spec.name, route.bound(detector, self.host)))
        if metric == "weight_kg" and device.collateral_id is not None:
            steps = self._lot_steps(named)
        else:
            steps = [step for _, step in named]
        if not steps:
            return None
        if len(steps) == 1:
            return steps[0]
        if len(steps) == 2:
            return partial(_run_two, steps[0], steps[1])
        if len(steps) == 3:
            return partial(_run_three, steps[0], steps[1], steps[2])
        return partial(_run_steps, tuple(steps))

    def _lot_steps(self, named: list[tuple[str, Handler]]) -> list[Handler]:
        """A lot's weight reading's steps: the coverage first, then the lot chain
        (`lot_weight`'s route), stuck values and any other that watches the metric. The
        chain takes the coverage and the stuck-values step right after it inline
        (`LotChain.take_inline`): one handler, not three and their wrappers."""
        steps = [step for _, step in named]
        chain = steps[0] if steps else None
        if not self.fuse_lot_readings or not isinstance(chain, LotChain):
            return [self.coverage.take, *steps]
        stuck = None
        if len(named) > 1 and named[1][0] == "stuck":
            stuck = self.detectors["stuck"]
            del steps[1]
        chain.take_inline(self.coverage, stuck)
        return steps
