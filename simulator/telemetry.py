"""Deterministic telemetry for a whole fleet, merged in send order.

`generate` builds one signal model per device (`simulator.world`), applies the planned
scenarios (`simulator.effects`), and merges all devices with a heap keyed by each
device's next report time. Each device reports every ``interval_s`` with ±2 % jitter,
from a random phase in its first interval; its ``seq`` starts at 1. Messages come in
the order they are sent, which is event-time order except for a replayed message
(sent again later with its original ``ts``). Status messages (``online`` after a
reboot, ``offline`` as a silent device's last will) come in the same stream.

The same fleet, injections, window and seed give the same messages; a device's
messages do not depend on the other devices, except that a lot's load cell and RFID
gate show the same stock, and a production line's devices the same activity.
"""

import heapq
from collections.abc import Iterator, Sequence

from devices.model import Fleet
from simulator import effects
from simulator.faults import KEEPALIVE_S, SideQueue
from simulator.injection import Injection
from simulator.message import Message
from simulator.world import World, build_world

JITTER = 0.02
INDEX_BITS = 21

__all__ = ["JITTER", "Message", "build", "generate"]


def build(
    fleet: Fleet, injections: Sequence[Injection], start_ts: float, seed: int, glitches: bool
) -> World:
    """The fleet's models with ``injections`` applied, ready to report from ``start_ts``."""
    world = build_world(fleet, seed, start_ts, glitches)
    effects.apply(world, injections)
    for model in world.models:
        model.begin(start_ts)
    return world


def generate(
    fleet: Fleet,
    injections: Sequence[Injection],
    start_ts: float,
    end_ts: float,
    seed: int,
    glitches: bool = True,
) -> Iterator[Message]:
    """Yield every device's messages sent in ``[start_ts, end_ts)``, in send order.

    Args:
        fleet: the devices to simulate.
        injections: scenarios to apply (see `simulator.scenarios.plan_scenarios`).
        start_ts: first event time, epoch seconds.
        end_ts: event time to stop before.
        seed: random seed of the signals.
        glitches: add harmless glitches (dropped messages, reboots, spikes).

    Yields:
        Messages ordered by send time (ties by device order in the fleet).

    Raises:
        FleetError: the fleet cannot be simulated (raised before the first message).
        ValueError: an injection names a device of the wrong kind.
    """
    world = build(fleet, injections, start_ts, seed, glitches)
    return _merge(world, start_ts, end_ts)


def _merge(world: World, start_ts: float, end_ts: float) -> Iterator[Message]:
    # Time runs in integer milliseconds, so every ts is an exact short decimal; a heap
    # entry is (ms << INDEX_BITS) | device index: one int compares faster than a tuple.
    models = world.models
    faults = [world.faults[m.device_id] for m in models]
    ids = [m.device_id for m in models]
    report = [m.values for m in models]
    draw = [m.schedule.random for m in models]
    steps = [m.interval * 1000.0 for m in models]
    stops = [m.stop_ts * 1000.0 for m in models]
    end_ms = end_ts * 1000.0
    side = SideQueue()
    waiting = side.heap
    if len(models) >= 1 << INDEX_BITS:
        raise ValueError(f"at most {(1 << INDEX_BITS) - 1} devices per run")
    mask = (1 << INDEX_BITS) - 1
    heap: list[int] = []
    for i, m in enumerate(models):
        first = round((start_ts + draw[i]() * m.interval) * 1000.0)
        if first < min(end_ms, stops[i]):
            heap.append(first << INDEX_BITS | i)
        else:
            _last_will(m.device_id, m.stop_ts, end_ts, side)
    heapq.heapify(heap)
    low, span = 1.0 - JITTER, 2.0 * JITTER
    heapreplace, heappop = heapq.heapreplace, heapq.heappop
    while heap:
        key = heap[0]
        ms, i = key >> INDEX_BITS, key & mask
        ts = ms / 1000.0
        while waiting and waiting[0][0] <= ts:
            yield heappop(waiting)[2]
        f = faults[i]
        if ts < f.next_ts:
            values = report[i](ts)
            m = models[i]
            m.seq += 1
            yield Message(ts, ids[i], m.seq, values)
        else:
            yield from f.report(models[i], ts, side)
        nxt = ms + int(steps[i] * (low + span * draw[i]()))
        if nxt < end_ms and nxt < stops[i]:
            heapreplace(heap, nxt << INDEX_BITS | i)
        else:
            heappop(heap)
            m = models[i]
            _last_will(m.device_id, m.stop_ts, end_ts, side)
    while waiting and waiting[0][0] < end_ts:
        yield heappop(waiting)[2]


def _last_will(device_id: str, stop_ts: float, end_ts: float, side: SideQueue) -> None:
    """Queue the ``offline`` status the broker sends for a device that fell silent."""
    at = round(stop_ts + KEEPALIVE_S, 3)
    if at < end_ts:
        side.push(at, Message(at, device_id, 0, {}, "offline"))
