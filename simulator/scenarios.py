"""Risk scenarios to inject into simulated telemetry, and their ground truth.

Each kind is one `ScenarioKind` in `SCENARIOS`: its name, the subjects a borrower
offers (`simulator.planning`), when it happens, and what the telemetry shows
(`simulator.effects`). Subjects name the device whose telemetry shows it best:

Collateral (subject: the lot, its warehouse, and a device of it)
- ``inventory_drain``: the load cell's weight falls steadily, 24 h a day, from the
  start over 40 % of the rest of the run, to at most 55 % of the pledge; the gate
  counts the units out. Device: the load cell.
- ``inventory_removal``: at night 2–4 truck loads leave within about two hours with
  the door open and the gate counting them; stock ends at 30–70 % of the pledge.
  Device: the load cell.
- ``double_pledge``: at night a block of 40–70 % of the pledge leaves the lot (gate
  out), arrives after the road transit time at a warehouse of another borrower's loan
  whose goods have the same handling unit (its load cell jumps by the same weight, its
  gate counts the same units in), stays there 4 hours to 3 days, and comes back the
  same way. Device: the lot's load cell; ``counterpart_device_id``: the other load cell.
- ``unregistered_move``: on a weekday around midday 1–3 truck loads leave through the
  gate and arrive at no registered site; stock ends at 50–85 % of the pledge. Device:
  the RFID gate.
- ``salami_theft``: from a night on, every night until the run's end 1–3 % of the
  pledge leaves in 3–6 small bites within two hours after 23:00–02:00, past no gate
  and with the door shut: each bite below the noise of the lot's cells. Only lots of
  at least 300 handling units (a night's 1 % is three whole units). Device: the lot's
  (first) load cell.
- ``geofence_exit``: the vehicle leaves its geofence and stays out. Device: GPS.
- ``parked_moving``: the vehicle drives 1–3 hours in the night, inside its fence.
  Device: GPS.
- ``cold_chain``: refrigeration fails for 2–8 hours; the truth window is the time the
  thermometer is above the lot's band. Device: the thermometer.

Operations (subject: the production line)
- ``production_slowdown``: output, machine current and variable power fall linearly
  against the borrower's own seasonal baseline to 35–60 % of it, over 60 % of the
  rest of the run (6 hours to 4 weeks), and stay there; a payment is missed 1–5 days
  after the fall ends. Device: the output counter.
- ``machine_idle``: from a weekday morning the line stands still for 1–5 days (less in
  short runs: current at standby, no vibration, no output, power at base load).
  Device: the machine monitor.
- ``business_decline``: a business winding down: output, machine current and variable
  power fall linearly against the borrower's own seasonal baseline by 15–25 % over
  14–21 days, and stay there (never as low as a slowdown's 70 % of usual). The fall is
  over by the end of a run that has room for it (a 30-day run has), starting at most a
  fifth of the run before the latest start that allows that; a shorter run cuts it
  short. The truth window runs from the start of the fall to the end of the run.
  Device: the output counter.

Data integrity (subject: the device)
- ``device_silent``: the device stops sending; its last will (``offline``) follows.
- ``tamper_door``: at night the door stands open 30–90 minutes while the weight falls
  to 60–90 % of the pledge, and the RFID gate counts nothing. Device: the door.
- ``stuck_values``: every message repeats the first one's values exactly.
- ``cell_fault``: one load cell of a lot weighed by two or more fails while the others
  keep reporting: dead (silent to the run's end), stuck (repeating one value) or
  reading 20–60 % or 140–180 % of its load, for 6 hours to 2 days. Not a risk event:
  the lot's stock does not change. Device: the cell.
- ``replay``: messages of up to a day before are sent again, byte for byte.
- ``spoof``: forged messages, signed with a wrong key, take the device's next ``seq``
  half an interval before the device does.
- ``gps_spoof``: for 30 minutes to 6 hours, at any time of day, a GPS tracker's
  receiver takes false signals (a spoofer, or a relay of signals received elsewhere):
  its fixes jump to a place no vehicle can reach within one report, 30–300 km beyond
  the fence or, for large fences, near the far side of the fence, and come back at the
  end; or they alternate between that place and the real position. The messages are
  genuine; speed, ignition and odometer are the vehicle's. Device: GPS.

Loans
- ``borrower_default``: a payment is missed, then the loan defaults or is cured
  (events in the outcomes file, `simulator.outcomes`). Subject: the loan.

The ground truth is one `TruthRecord` per injection, written as JSON lines.
"""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devices.model import DeviceKind, Fleet
from simulator import planning
from simulator.injection import Injection, TruthRecord, read_truth, truth_records, write_truth
from simulator.plan_context import PlanContext
from simulator.planning import Candidates, Schedule


@dataclass(frozen=True, slots=True)
class ScenarioKind:
    """A kind of scenario: its name, the subjects it applies to, and its timing."""

    name: str
    candidates: Candidates
    schedule: Schedule


SCENARIOS: dict[str, ScenarioKind] = {
    k.name: k
    for k in (
        ScenarioKind("inventory_drain", planning.load_cells, planning.drain),
        ScenarioKind("inventory_removal", planning.load_cells, planning.removal),
        ScenarioKind("double_pledge", planning.pledged_twice, planning.double_pledge),
        ScenarioKind("unregistered_move", planning.gates, planning.moved_away),
        ScenarioKind("salami_theft", planning.small_unit_lots, planning.salami),
        ScenarioKind("geofence_exit", planning.trackers, planning.run_until_end("geofence_exit")),
        ScenarioKind("parked_moving", planning.trackers, planning.night_drive),
        ScenarioKind(
            "production_slowdown",
            planning.plant_devices(DeviceKind.OUTPUT_COUNTER),
            planning.slowdown,
        ),
        ScenarioKind("machine_idle", planning.plant_devices(DeviceKind.GENERIC), planning.idle),
        ScenarioKind(
            "business_decline",
            planning.plant_devices(DeviceKind.OUTPUT_COUNTER),
            planning.decline,
        ),
        ScenarioKind("cold_chain", planning.cold_stores, planning.cold_chain),
        ScenarioKind("device_silent", planning.any_device, planning.run_until_end("device_silent")),
        ScenarioKind("tamper_door", planning.doors, planning.tamper),
        ScenarioKind("stuck_values", planning.watched_devices, planning.stuck),
        ScenarioKind("cell_fault", planning.cells_of_shared_lots, planning.cell_fault),
        ScenarioKind("replay", planning.watched_devices, planning.replay),
        ScenarioKind("spoof", planning.watched_devices, planning.spoof),
        ScenarioKind("gps_spoof", planning.trackers, planning.gps_spoof),
        ScenarioKind("borrower_default", planning.loans, planning.default),
    )
}

__all__ = [
    "SCENARIOS",
    "Injection",
    "ScenarioKind",
    "TruthRecord",
    "plan_scenarios",
    "read_truth",
    "truth_records",
    "write_truth",
]


def check_kinds(kinds: Sequence[str]) -> None:
    """Raise ValueError naming unknown scenario kinds."""
    unknown = [k for k in kinds if k not in SCENARIOS]
    if unknown:
        raise ValueError(
            f"unknown scenario kind(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}"
        )


def _plan_one(
    ctx: PlanContext, kind: ScenarioKind, borrower_id: str, seed: int
) -> Injection | None:
    borrower = ctx.borrowers[borrower_id]
    subjects = kind.candidates(ctx, borrower)
    if not subjects:
        return None
    rng = random.Random(f"{seed}:{kind.name}:{borrower_id}")
    return kind.schedule(ctx, borrower, rng.choice(subjects), rng)


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
            borrower per requested kind is hit when the fleet allows it; a kind goes
            to borrowers that offer a subject for it, the rarest kinds choosing first.
        kinds: scenario kinds to use (default: all of `SCENARIOS`).
        assign: explicit plan, borrower id -> scenario kind; replaces the random pick
            of borrowers and kinds (subjects and times stay random).

    Returns:
        Injections sorted by borrower id; each hit borrower has exactly one.

    Raises:
        ValueError: unknown kinds or borrowers, or an assigned kind that the borrower
            or the window cannot take.
    """
    if end_ts <= start_ts:
        raise ValueError("end_ts must be after start_ts")
    kinds = list(SCENARIOS) if kinds is None else list(kinds)
    check_kinds(kinds)
    ctx = PlanContext(fleet, start_ts, end_ts)
    known = {b.id for b in fleet.borrowers}
    injections: list[Injection] = []
    if assign is not None:
        check_kinds(list(assign.values()))
        missing = [b for b in assign if b not in known]
        if missing:
            raise ValueError(f"unknown borrower(s) in assign: {', '.join(missing)}")
        ctx.busy.update(assign)
        for bid in sorted(assign):
            injection = _plan_one(ctx, SCENARIOS[assign[bid]], bid, seed)
            if injection is None:
                raise ValueError(
                    f"{assign[bid]} cannot be injected into borrower {bid}: it has no "
                    "subject for it or the run has no room for it"
                )
            injections.append(injection)
        return injections
    if not kinds or rate <= 0:
        return []
    rng = random.Random(seed)
    order = [b.id for b in fleet.borrowers]
    rng.shuffle(order)
    offers = {k: sum(1 for b in fleet.borrowers if SCENARIOS[k].candidates(ctx, b)) for k in kinds}
    # a kind no borrower offers a subject for (cell faults in a fleet of one cell per
    # lot) takes no borrower's turn
    kinds = [k for k in kinds if offers[k]]
    if not kinds:
        return []
    wanted = min(len(order), max(round(rate * len(order)), len(kinds)))
    first_round = sorted(kinds, key=lambda k: (offers[k], kinds.index(k)))
    sequence = [first_round[i] if i < len(kinds) else kinds[i % len(kinds)] for i in range(wanted)]
    free = list(order)
    owner = {d.id: b.id for b in fleet.borrowers for d in b.devices}
    for kind in sequence:
        for bid in free:
            injection = _plan_one(ctx, SCENARIOS[kind], bid, seed)
            if injection is not None:
                injections.append(injection)
                ctx.busy.add(bid)
                free.remove(bid)
                counterpart = owner.get(injection.counterpart_device_id or "")
                if counterpart is not None and counterpart in free:
                    ctx.busy.add(counterpart)
                    free.remove(counterpart)
                break
    return sorted(injections, key=lambda i: i.borrower_id)
