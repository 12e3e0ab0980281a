"""Deterministic telemetry for a whole fleet, merged in event-time order.

`generate` builds one signal model per device (see `simulator.signals` and
`simulator.vehicle`), applies the planned scenario injections to the models they
name, and merges all devices with a heap keyed by each device's next report time.
Each device reports every ``interval_s`` with ±2 % jitter, from a random phase in its
first interval; its ``seq`` starts at 1. The same fleet, injections and seed give the
same messages; a device's messages do not depend on the other devices or on
injections aimed at them.
"""

import heapq
from collections.abc import Callable, Iterator, Sequence

import msgspec

from devices.model import Borrower, Collateral, Device, DeviceKind, Fleet, Site
from simulator.scenarios import Injection
from simulator.signals import (
    DeviceModel,
    DoorModel,
    LoadCellModel,
    OutputModel,
    PowerModel,
    TemperatureModel,
)
from simulator.vehicle import GpsModel

JITTER = 0.02
KG_PER_UNIT = {"kg": 1.0, "t": 1000.0}


class Message(msgspec.Struct, frozen=True):
    """One telemetry message of one device.

    Attributes:
        ts: event time, epoch seconds.
        device_id: the sending device.
        seq: the device's message counter, from 1.
        values: metric name -> value, names as in `devices.model.METRICS`.
    """

    ts: float
    device_id: str
    seq: int
    values: dict[str, float]


def _pledge_kg(collateral: Collateral | None) -> float:
    if collateral is None:
        return 100_000.0
    return collateral.quantity * KG_PER_UNIT.get(collateral.unit, 1.0)


def build_model(borrower: Borrower, device: Device, seed: int) -> DeviceModel:
    """The signal model for one device of ``borrower``."""
    sites: dict[str, Site] = {s.id: s for s in borrower.sites}
    collateral = {c.id: c for loan in borrower.loans for c in loan.collateral}
    site = sites[device.site]
    tz = site.timezone if site.timezone != "UTC" else borrower.timezone
    args = (device.id, device.interval_s, tz, seed)
    kind = device.kind
    if kind is DeviceKind.LOAD_CELL:
        coll = collateral.get(device.collateral) if device.collateral else None
        return LoadCellModel(*args, pledge_kg=_pledge_kg(coll))
    if kind is DeviceKind.DOOR:
        return DoorModel(*args)
    if kind is DeviceKind.TEMPERATURE:
        at_site = [c for c in collateral.values() if c.site == site.id]
        cold = any("frozen" in c.description for c in at_site)
        return TemperatureModel(*args, cold=cold)
    if kind is DeviceKind.POWER_METER:
        return PowerModel(*args)
    if kind is DeviceKind.OUTPUT_COUNTER:
        return OutputModel(*args)
    if kind is DeviceKind.GPS_TRACKER:
        if site.geofence is None:
            raise ValueError(f"gps tracker {device.id} is on site {site.id} without a geofence")
        return GpsModel(*args, geofence=site.geofence, centre=site.location)
    raise ValueError(f"no signal model for device {device.id} of kind {kind}")


def _drain(model: DeviceModel, injection: Injection) -> None:
    if not isinstance(model, LoadCellModel):
        raise ValueError(f"inventory_drain needs a load cell, {model.device_id} is not one")
    model.drain_start = injection.start_ts


def _exit(model: DeviceModel, injection: Injection) -> None:
    if not isinstance(model, GpsModel):
        raise ValueError(f"geofence_exit needs a gps tracker, {model.device_id} is not one")
    model.exit_at = injection.start_ts


def _silence(model: DeviceModel, injection: Injection) -> None:
    model.stop_ts = min(model.stop_ts, injection.start_ts)


EFFECTS: dict[str, Callable[[DeviceModel, Injection], None]] = {
    "inventory_drain": _drain,
    "geofence_exit": _exit,
    "device_silent": _silence,
}


def build_models(fleet: Fleet, injections: Sequence[Injection], seed: int) -> list[DeviceModel]:
    """Signal models for every device of ``fleet``, with ``injections`` applied."""
    models = [build_model(b, d, seed) for b in fleet.borrowers for d in b.devices]
    by_id = {m.device_id: m for m in models}
    for inj in injections:
        if inj.scenario not in EFFECTS:
            raise ValueError(f"no telemetry effect for scenario {inj.scenario!r}")
        if inj.device_id is None or inj.device_id not in by_id:
            raise ValueError(
                f"{inj.scenario} for {inj.borrower_id}: unknown device {inj.device_id}"
            )
        EFFECTS[inj.scenario](by_id[inj.device_id], inj)
    return models


def generate(
    fleet: Fleet,
    injections: Sequence[Injection],
    start_ts: float,
    end_ts: float,
    seed: int,
) -> Iterator[Message]:
    """Yield every device's messages in ``[start_ts, end_ts)``, in event-time order.

    Args:
        fleet: the devices to simulate.
        injections: scenarios to apply (see `simulator.scenarios.plan_scenarios`).
        start_ts: first event time, epoch seconds.
        end_ts: event time to stop before.
        seed: random seed of the signals.

    Yields:
        Messages ordered by ``ts`` (ties by device order in the fleet).
    """
    models = build_models(fleet, injections, seed)
    heap: list[tuple[float, int]] = []
    for i, m in enumerate(models):
        first = round(start_ts + m.rng.random() * m.interval, 3)
        if first < min(end_ts, m.stop_ts):
            heap.append((first, i))
    heapq.heapify(heap)
    low, span = 1.0 - JITTER, 2.0 * JITTER
    heapreplace, heappop = heapq.heapreplace, heapq.heappop
    while heap:
        ts, i = heap[0]
        m = models[i]
        values = m.values(ts)
        m.seq += 1
        yield Message(ts, m.device_id, m.seq, values)
        nxt = round(ts + m.interval * (low + span * m.rng.random()), 3)
        if nxt < end_ts and nxt < m.stop_ts:
            heapreplace(heap, (nxt, i))
        else:
            heappop(heap)
