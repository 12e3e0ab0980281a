"""`riskstream bench engine --long-file`: a file of years of sparse readings, backtested.

One gauge (``meter-1``, ``level_m``) reports hourly for `YEARS` years, with one
`GAP_HOURS` silence in the middle (so the deadman has something to find), written to a
CSV. The backtest is what ``riskstream backtest FILE`` does without ``--fleet``: read
the CSV, make every device a generic sensor, replay it. Its readings/s are compared with
the standard file's in the same run: the engine's timers must cost what is due in such a
file (one alert, a daily score), not a tick per minute of its years (issue 13).
"""

import gc
import time
from dataclasses import dataclass
from pathlib import Path

from riskstream.backtest.generic_fleet import generic_fleet
from riskstream.backtest.replay import replay
from riskstream.backtest.telemetry_file import read_telemetry
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet

__all__ = ["YEARS", "LongRun", "measure_long_file", "write_long_file"]

YEARS = 4
HOURS = YEARS * 8766  # 365.25 days a year
GAP_FROM_HOUR, GAP_HOURS = HOURS // 2, 10
START_TS = 1_641_168_000.0  # Monday 2022-01-03 00:00 UTC


def write_long_file(path: Path) -> int:
    """Write the hourly file to ``path``; return its readings."""
    gap = range(GAP_FROM_HOUR, GAP_FROM_HOUR + GAP_HOURS)
    lines = ["ts,device_id,metric,value"]
    for hour in range(HOURS):
        if hour not in gap:
            level = 5.0 + (hour % 24) * 0.01  # a daily cycle, centimetres
            lines.append(f"{START_TS + hour * 3600.0:.0f},meter-1,level_m,{level:.2f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


@dataclass(frozen=True, slots=True)
class LongRun:
    """One backtest of the long file: readings, alerts, wall and CPU seconds."""

    readings: int
    alerts: int
    seconds: float
    cpu_seconds: float


def measure_long_file(path: Path) -> LongRun:
    """Backtest the file at ``path`` as ``riskstream backtest`` does without a fleet."""
    gc.collect()
    began, cpu = time.perf_counter(), time.process_time()
    telemetry = read_telemetry(path)
    fleet = generic_fleet(telemetry)
    result = replay(Engine([fleet], RuleSet()), telemetry, fleet.tenant.id)
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu
    return LongRun(result.readings, len(result.alerts), seconds, cpu_seconds)
