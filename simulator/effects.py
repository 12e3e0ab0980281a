"""What each scenario does to the device models (see `simulator.scenarios` for the list).

Effects change the models before the simulation runs: moves added to a lot's ledger,
a plant's slowdown, decline or idle windows, a vehicle's exit or night drive, a tracker's
false signals, a thermometer's failure, a device's stop time or fault windows. Sizes that
the planner left open (how many units a truck takes, say) come from a generator seeded
by the signals' seed and the injection, so the same inputs give the same telemetry.
"""

import math
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from simulator.gps_receiver import Spoof
from simulator.injection import Injection
from simulator.planning import CELL_FAULT_MODES, DAY, LOAD_S
from simulator.production import MachineModel, OutputModel
from simulator.signals import DeviceModel, DoorModel, TemperatureModel
from simulator.vehicle import GpsModel
from simulator.warehouse import Ledger, LoadCellModel, Move, RfidGateModel
from simulator.world import World

DRAIN_FLOOR = 0.55  # share of the pledge a drained lot ends at, at most
DOOR_GRACE_S = 600.0
DAY_S = DAY

M = TypeVar("M", bound=DeviceModel)


def _any_model(world: World, inj: Injection, device: str | None = None) -> DeviceModel:
    device_id = inj.device_id if device is None else device
    model = world.by_id.get(device_id or "")
    if model is None:
        raise ValueError(f"{inj.scenario} for {inj.borrower_id}: unknown device {device_id}")
    return model


def _model(world: World, inj: Injection, kind: type[M], what: str, device: str | None = None) -> M:
    model = _any_model(world, inj, device)
    device_id = inj.device_id if device is None else device
    if not isinstance(model, kind):
        raise ValueError(f"{inj.scenario} needs {what}, {device_id} is not one")
    return model


def _rng(world: World, inj: Injection) -> random.Random:
    return random.Random(f"{world.seed}:{inj.scenario}:{inj.borrower_id}:{inj.start_ts}")


def _shortfall(ledger: Ledger, low: float, high: float, rng: random.Random) -> int:
    """Units to take so that even a full lot ends at ``low``–``high`` of its pledge."""
    final = rng.uniform(low, high)
    return max(1, ledger.cap_units - math.floor(final * ledger.pledge_units))


def _trucks(
    start: float, units: int, loads: int, rng: random.Random, gate: bool
) -> tuple[list[Move], float]:
    """``units`` leaving in ``loads`` consecutive truck loads from ``start``; and the end."""
    moves: list[Move] = []
    at = start
    loads = max(1, min(loads, units))
    for k in range(loads):
        share = units // loads + (1 if k < units % loads else 0)
        duration = rng.uniform(20 * 60.0, 40 * 60.0)
        moves.append((round(at, 3), duration, -share, gate))
        at += duration + rng.uniform(5 * 60.0, 15 * 60.0)
    return moves, moves[-1][0] + moves[-1][1]


def drain(world: World, inj: Injection) -> None:
    """A steady outflow through the gate until the lot is at most `DRAIN_FLOOR` of its pledge."""
    ledger = _model(world, inj, LoadCellModel, "a load cell").cursor.ledger
    units = ledger.cap_units - math.floor(DRAIN_FLOOR * ledger.pledge_units)
    ledger.add([(inj.start_ts, inj.param("ramp_s"), -units, True)])


def removal(world: World, inj: Injection) -> None:
    """2–4 truck loads through the gate with the door open; 30–70 % of the pledge is left."""
    ledger = _model(world, inj, LoadCellModel, "a load cell").cursor.ledger
    rng = _rng(world, inj)
    units = _shortfall(ledger, 0.3, 0.7, rng)
    moves, done = _trucks(inj.start_ts, units, rng.randint(2, 4), rng, gate=True)
    ledger.add(moves)
    door = world.doors.get(inj.site_id or "")
    if door is not None:
        door.forced_open.append((inj.start_ts, done + DOOR_GRACE_S))


def unregistered_move(world: World, inj: Injection) -> None:
    """1–3 truck loads out through the gate, in to nowhere; 50–85 % of the pledge is left."""
    ledger = _model(world, inj, RfidGateModel, "an RFID gate").cursor.ledger
    rng = _rng(world, inj)
    units = _shortfall(ledger, 0.5, 0.85, rng)
    ledger.add(_trucks(inj.start_ts, units, rng.randint(1, 3), rng, gate=True)[0])


def tamper_door(world: World, inj: Injection) -> None:
    """Door open while goods leave past the gate unseen; 60–90 % of the pledge is left."""
    door = _model(world, inj, DoorModel, "a door contact")
    ledger = world.ledgers.get(inj.collateral_id or "")
    if ledger is None or inj.end_ts is None:
        raise ValueError(f"tamper_door for {inj.borrower_id}: lot {inj.collateral_id} has no scale")
    rng = _rng(world, inj)
    units = _shortfall(ledger, 0.6, 0.9, rng)
    span = max(60.0, inj.end_ts - inj.start_ts - 300.0)
    ledger.add([(inj.start_ts + 120.0, span - 120.0, -units, False)])
    door.forced_open.append((inj.start_ts, inj.end_ts))


def double_pledge(world: World, inj: Injection) -> None:
    """A block of the lot travels to the counterpart's warehouse and back, gate-counted."""
    home = _model(world, inj, LoadCellModel, "a load cell").cursor.ledger
    away = _model(world, inj, LoadCellModel, "a load cell", inj.counterpart_device_id).cursor.ledger
    rng = _rng(world, inj)
    units = math.ceil(rng.uniform(0.4, 0.7) * home.pledge_units)
    transit, stay = inj.param("transit_s"), inj.param("stay_s")
    s = inj.start_ts
    arrive = s + LOAD_S + transit
    leave = arrive + LOAD_S + stay
    home.add([(s, LOAD_S, -units, True), (leave + LOAD_S + transit, LOAD_S, units, True)])
    away.add([(arrive, LOAD_S, units, True), (leave, LOAD_S, -units, True)])


def salami_theft(world: World, inj: Injection) -> None:
    """Every night a little leaves in small bites, past no gate: the run's nights from
    the start, 1–3 % of the pledge a night in 3–6 bites within two hours."""
    ledger = _model(world, inj, LoadCellModel, "a load cell").cursor.ledger
    rng = _rng(world, inj)
    nightly = max(1, round(inj.param("nightly") * ledger.pledge_units))
    moves: list[Move] = []
    for night in range(int(inj.param("nights"))):
        opens = inj.start_ts + night * DAY_S
        bites = min(nightly, rng.randint(3, 6))
        times = sorted(opens + rng.uniform(0.0, 2 * 3600.0) for _ in range(bites))
        for k, at in enumerate(times):
            units = nightly // bites + (1 if k < nightly % bites else 0)
            moves.append((round(at, 3), rng.uniform(3 * 60.0, 10 * 60.0), -units, False))
    ledger.add(moves)


def cell_fault(world: World, inj: Injection) -> None:
    """One load cell of a lot fails while its siblings keep reporting (not a risk event)."""
    cell = _model(world, inj, LoadCellModel, "a load cell")
    mode = CELL_FAULT_MODES[int(inj.param("mode"))]
    end = inj.end_ts or math.inf
    if mode == "dead":
        cell.stop_ts = min(cell.stop_ts, inj.start_ts)
    elif mode == "stuck":
        faults = world.faults[inj.device_id or ""]
        faults.stuck = (inj.start_ts, end)
        faults.update(-math.inf)
    else:
        cell.offsets.append((inj.start_ts, end, inj.param("factor")))


def geofence_exit(world: World, inj: Injection) -> None:
    """The vehicle heads out of its fence."""
    _model(world, inj, GpsModel, "a gps tracker").exit_at = inj.start_ts


def parked_moving(world: World, inj: Injection) -> None:
    """The vehicle drives in the night window."""
    gps = _model(world, inj, GpsModel, "a gps tracker")
    gps.night_trips.append((inj.start_ts, inj.end_ts or inj.start_ts + 3600.0))


def gps_spoof(world: World, inj: Injection) -> None:
    """The tracker's receiver takes false signals in the window."""
    gps = _model(world, inj, GpsModel, "a gps tracker")
    place = gps.false_place(inj.param("inside") > 0, _rng(world, inj))
    end = inj.end_ts or math.inf
    gps.receiver.spoofs.append(Spoof(inj.start_ts, end, place, inj.param("alternate") > 0))


def production_slowdown(world: World, inj: Injection) -> None:
    """The plant's level falls linearly to the planned floor."""
    plant = _model(world, inj, OutputModel, "an output counter").plant
    plant.slowdown = (inj.start_ts, inj.param("ramp_s"), inj.param("floor"))


def business_decline(world: World, inj: Injection) -> None:
    """The plant's level falls linearly by the planned share over weeks, and stays there."""
    plant = _model(world, inj, OutputModel, "an output counter").plant
    plant.decline = (inj.start_ts, inj.param("ramp_s"), inj.param("floor"))


def machine_idle(world: World, inj: Injection) -> None:
    """The plant stands still in the window."""
    plant = _model(world, inj, MachineModel, "a machine monitor").plant
    plant.idle.append((inj.start_ts, inj.end_ts or math.inf))


def cold_chain(world: World, inj: Injection) -> None:
    """The cold store's refrigeration fails and is repaired."""
    thermometer = _model(world, inj, TemperatureModel, "a thermometer")
    if thermometer.band is None:
        raise ValueError(f"cold_chain needs a cold store, {inj.device_id} is not in one")
    thermometer.failures.append((inj.param("fail"), inj.param("repair")))


def device_silent(world: World, inj: Injection) -> None:
    """The device stops sending."""
    model = _any_model(world, inj)
    model.stop_ts = min(model.stop_ts, inj.start_ts)


def stuck_values(world: World, inj: Injection) -> None:
    """The device repeats one message's values."""
    _any_model(world, inj)
    faults = world.faults[inj.device_id or ""]
    faults.stuck = (inj.start_ts, inj.end_ts or math.inf)
    faults.update(-math.inf)


def replay(world: World, inj: Injection) -> None:
    """Messages from ``lag_s`` before are sent again."""
    _any_model(world, inj)
    lag = inj.param("lag_s")
    end = inj.end_ts or inj.start_ts + 3600.0
    faults = world.faults[inj.device_id or ""]
    faults.capture = (inj.start_ts - lag, end - lag, lag)
    faults.update(-math.inf)


def spoof(world: World, inj: Injection) -> None:
    """Forged messages in the window."""
    _any_model(world, inj)
    faults = world.faults[inj.device_id or ""]
    faults.spoof = (inj.start_ts, inj.end_ts or math.inf)
    faults.update(-math.inf)


def loan_only(world: World, inj: Injection) -> None:
    """No telemetry: loan outcomes only (see `simulator.outcomes`)."""


EFFECTS: dict[str, Callable[[World, Injection], None]] = {
    "inventory_drain": drain,
    "inventory_removal": removal,
    "double_pledge": double_pledge,
    "unregistered_move": unregistered_move,
    "salami_theft": salami_theft,
    "cell_fault": cell_fault,
    "geofence_exit": geofence_exit,
    "parked_moving": parked_moving,
    "production_slowdown": production_slowdown,
    "machine_idle": machine_idle,
    "business_decline": business_decline,
    "cold_chain": cold_chain,
    "device_silent": device_silent,
    "tamper_door": tamper_door,
    "stuck_values": stuck_values,
    "replay": replay,
    "spoof": spoof,
    "gps_spoof": gps_spoof,
    "borrower_default": loan_only,
}


def apply(world: World, injections: Sequence[Injection]) -> None:
    """Apply every injection's effect to ``world``."""
    for inj in injections:
        effect = EFFECTS.get(inj.scenario)
        if effect is None:
            raise ValueError(f"no telemetry effect for scenario {inj.scenario!r}")
        effect(world, inj)
