"""Small seeded simulated runs written to CSV, shared by the backtest and evaluation tests."""

from dataclasses import dataclass
from pathlib import Path

from devices.fleet_file import save_fleet
from devices.model import Fleet
from simulator import (
    TruthRecord,
    generate,
    generate_fleet,
    plan_scenarios,
    run_to_file,
    truth_records,
    write_truth,
)

START = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
DAY = 86_400.0
ASSIGN = {"b001": "inventory_drain", "b002": "geofence_exit", "b003": "device_silent"}


@dataclass(frozen=True)
class SimulatedRun:
    """Files of one simulated run."""

    fleet: Fleet
    fleet_file: Path
    telemetry: Path
    truth_file: Path
    truth: list[TruthRecord]
    rows: int


def simulate(
    where: Path,
    borrowers: int,
    days: float,
    seed: int,
    assign: dict[str, str] | None,
    name: str = "telemetry.csv",
) -> SimulatedRun:
    """Generate a fleet, inject ``assign`` (None: no scenario), write CSV, fleet and truth."""
    fleet = generate_fleet(borrowers, seed)
    end = START + days * DAY
    plan = plan_scenarios(fleet, seed, START, end, assign=assign) if assign else []
    telemetry = where / name
    rows = run_to_file(generate(fleet, plan, START, end, seed), fleet.tenant.id, telemetry)
    truth = truth_records(fleet.tenant.id, plan, end)
    write_truth(truth, where / "truth.jsonl")
    save_fleet(fleet, where / "fleet.yaml")
    return SimulatedRun(fleet, where / "fleet.yaml", telemetry, where / "truth.jsonl", truth, rows)
