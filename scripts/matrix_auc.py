"""Measure the credit matrix's per-segment AUC on simulated seeds (see docs/credit-matrix.md).

For each seed: a fleet of ``--borrowers`` borrowers whose devices report ``--slower``
times less often than the simulator's (capped at one reading an hour), ``--days`` of
telemetry with loan outcomes, then ``riskstream backtest --outcomes``; the tables are
printed as each seed finishes, and every seed's files are kept under ``--work``.

    python scripts/matrix_auc.py --seeds 1,2,3,4,5 --borrowers 200 --days 180 --slower 20
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

from devices.fleet_file import load_fleet, save_fleet
from devices.model import Fleet

START = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
MAX_INTERVAL_S = 3600.0


def slowed(fleet: Fleet, factor: float) -> Fleet:
    """The fleet with every device's reporting interval ``factor`` times longer."""
    borrowers = [
        b.model_copy(
            update={
                "devices": [
                    d.model_copy(update={"interval_s": min(MAX_INTERVAL_S, d.interval_s * factor)})
                    for d in b.devices
                ]
            }
        )
        for b in fleet.borrowers
    ]
    return fleet.model_copy(update={"borrowers": borrowers})


def _run(args: list[str]) -> str:
    """Run one riskstream command (our own arguments); its standard output."""
    done = subprocess.run(args, check=True, capture_output=True, text=True)  # noqa: S603
    return done.stdout


def main() -> None:
    """Run the seeds."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--borrowers", type=int, default=200)
    parser.add_argument("--days", type=float, default=180.0)
    parser.add_argument("--slower", type=float, default=20.0)
    parser.add_argument("--work", type=Path, default=Path("matrix-auc"))
    parser.add_argument("--rules", type=Path, default=Path("config/matrix-segments.toml"))
    args = parser.parse_args()
    riskstream = str(Path(sys.executable).with_name("riskstream"))
    for seed in args.seeds.split(","):
        where = args.work / f"seed{seed}"
        where.mkdir(parents=True, exist_ok=True)
        fleet = where / "fleet.yaml"
        _run(
            [
                riskstream,
                "simulate",
                "fleet",
                "--borrowers",
                str(args.borrowers),
                "--seed",
                seed,
                "--out",
                str(fleet),
            ],
        )
        save_fleet(slowed(load_fleet(fleet), args.slower), fleet)
        began = time.perf_counter()
        _run(
            [
                riskstream,
                "simulate",
                "run",
                "--fleet",
                str(fleet),
                "--days",
                str(args.days),
                "--start",
                str(START),
                "--seed",
                seed,
                "--out",
                str(where / "telemetry.parquet"),
                "--truth",
                str(where / "truth.jsonl"),
                "--outcomes",
                str(where / "outcomes.jsonl"),
            ],
        )
        simulated = time.perf_counter() - began
        output = _run(
            [
                riskstream,
                "backtest",
                "--telemetry",
                str(where / "telemetry.parquet"),
                "--fleet",
                str(fleet),
                "--outcomes",
                str(where / "outcomes.jsonl"),
                "--rules",
                str(args.rules),
                "--out",
                str(where / "alerts.jsonl"),
                "--suggest-matrix",
                str(where / "suggested-matrix.toml"),
            ],
        )
        total = time.perf_counter() - began
        (where / "backtest.txt").write_text(output)
        print(f"seed {seed}: simulated in {simulated:.0f} s, with the backtest {total:.0f} s")
        print(output, flush=True)


if __name__ == "__main__":
    main()
