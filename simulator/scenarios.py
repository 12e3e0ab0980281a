"""Risk scenarios to inject into simulated telemetry, and their ground truth.

A scenario kind names what goes wrong and which device shows it. Each kind is one
`ScenarioKind` in `SCENARIOS`: to add a kind, add its subject picker here and its
effect in `simulator.telemetry` (``EFFECTS``).

- ``inventory_drain``: the stock on a load cell falls below the pledged quantity
  (subject: the collateral, its warehouse, the load cell).
- ``geofence_exit``: a vehicle leaves its geofence and stays out (subject: the
  vehicle's collateral, the vehicle site, its GPS tracker).
- ``device_silent``: a device stops sending (subject: the device and its site).

The ground truth is one `TruthRecord` per injection, written as JSON lines.
"""

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from devices.model import Borrower, DeviceKind, Fleet


@dataclass(frozen=True, slots=True)
class Subject:
    """What a scenario acts on; ids that do not apply are None."""

    collateral_id: str | None
    site_id: str | None
    device_id: str | None


@dataclass(frozen=True, slots=True)
class Injection:
    """One planned scenario: its kind, borrower, subject and start (event time)."""

    scenario: str
    borrower_id: str
    collateral_id: str | None
    site_id: str | None
    device_id: str | None
    start_ts: float


@dataclass(frozen=True, slots=True)
class TruthRecord:
    """Ground truth for one injected scenario, as the evaluation harness reads it."""

    scenario: str
    tenant: str
    borrower_id: str
    collateral_id: str | None
    site_id: str | None
    device_id: str | None
    start_ts: float
    end_ts: float


SubjectPicker = Callable[[Borrower, random.Random], Subject | None]


@dataclass(frozen=True, slots=True)
class ScenarioKind:
    """A kind of scenario: its name and how to choose its subject in a borrower."""

    name: str
    pick: SubjectPicker


def _pick_device(borrower: Borrower, rng: random.Random, kind: DeviceKind) -> Subject | None:
    candidates = [d for d in borrower.devices if d.kind is kind and d.collateral is not None]
    if not candidates:
        return None
    device = rng.choice(candidates)
    return Subject(device.collateral, device.site, device.id)


def _pick_load_cell(borrower: Borrower, rng: random.Random) -> Subject | None:
    return _pick_device(borrower, rng, DeviceKind.LOAD_CELL)


def _pick_gps(borrower: Borrower, rng: random.Random) -> Subject | None:
    return _pick_device(borrower, rng, DeviceKind.GPS_TRACKER)


def _pick_any_device(borrower: Borrower, rng: random.Random) -> Subject | None:
    if not borrower.devices:
        return None
    device = rng.choice(borrower.devices)
    return Subject(None, device.site, device.id)


SCENARIOS: dict[str, ScenarioKind] = {
    k.name: k
    for k in (
        ScenarioKind("inventory_drain", _pick_load_cell),
        ScenarioKind("geofence_exit", _pick_gps),
        ScenarioKind("device_silent", _pick_any_device),
    )
}


def _check_kinds(kinds: Sequence[str]) -> None:
    unknown = [k for k in kinds if k not in SCENARIOS]
    if unknown:
        raise ValueError(
            f"unknown scenario kind(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}"
        )


def plan_scenarios(
    fleet: Fleet,
    seed: int,
    start_ts: float,
    end_ts: float,
    rate: float = 0.3,
    kinds: Sequence[str] | None = None,
    assign: Mapping[str, str] | None = None,
) -> list[Injection]:
    """Choose which borrowers get which scenario, on which subject, from when.

    Args:
        fleet: the fleet to act on.
        seed: random seed; the same inputs give the same plan.
        start_ts: simulation start, epoch seconds.
        end_ts: simulation end, epoch seconds.
        rate: share of borrowers hit (ignored when ``assign`` is given). At least one
            borrower per requested kind is hit when the fleet allows it.
        kinds: scenario kinds to use (default: all of `SCENARIOS`).
        assign: explicit plan, borrower id -> scenario kind; replaces the random pick
            of borrowers and kinds (subjects and start times stay random).

    Returns:
        Injections sorted by borrower id; each hit borrower has exactly one.
    """
    if end_ts <= start_ts:
        raise ValueError("end_ts must be after start_ts")
    kinds = list(SCENARIOS) if kinds is None else list(kinds)
    _check_kinds(kinds)
    rng = random.Random(seed)
    by_id = {b.id: b for b in fleet.borrowers}
    plan: dict[str, str] = {}
    if assign is not None:
        _check_kinds(list(assign.values()))
        missing = [b for b in assign if b not in by_id]
        if missing:
            raise ValueError(f"unknown borrower(s) in assign: {', '.join(missing)}")
        plan = dict(assign)
    elif kinds:
        order = [b.id for b in fleet.borrowers]
        rng.shuffle(order)
        wanted = max(round(rate * len(order)), len(kinds) if rate > 0 else 0)
        for i, bid in enumerate(order[: min(wanted, len(order))]):
            plan[bid] = kinds[i % len(kinds)]
    window = end_ts - start_ts
    injections: list[Injection] = []
    for bid in sorted(plan):
        subject = SCENARIOS[plan[bid]].pick(by_id[bid], rng)
        start = start_ts + window * rng.uniform(0.1, 0.4)
        if subject is None:
            continue
        injections.append(
            Injection(
                plan[bid],
                bid,
                subject.collateral_id,
                subject.site_id,
                subject.device_id,
                round(start, 3),
            )
        )
    return injections


def truth_records(tenant: str, injections: Sequence[Injection], end_ts: float) -> list[TruthRecord]:
    """Ground truth for ``injections``; each condition lasts until ``end_ts``."""
    return [
        TruthRecord(
            i.scenario,
            tenant,
            i.borrower_id,
            i.collateral_id,
            i.site_id,
            i.device_id,
            i.start_ts,
            end_ts,
        )
        for i in injections
    ]


def write_truth(records: Sequence[TruthRecord], path: Path | str) -> None:
    """Write ground truth as JSON lines, one record per line."""
    with Path(path).open("wb") as f:
        for r in records:
            f.write(orjson.dumps(dataclasses.asdict(r)) + b"\n")


def read_truth(path: Path | str) -> list[TruthRecord]:
    """Read ground truth written by `write_truth`."""
    records: list[TruthRecord] = []
    with Path(path).open("rb") as f:
        for line in f:
            if line.strip():
                records.append(TruthRecord(**orjson.loads(line)))
    return records
