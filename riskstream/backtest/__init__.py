"""Backtest and evaluation: what risk teams use to tune the rules.

- `read_telemetry` reads a CSV or Parquet file (``ts, device_id, metric, value``,
  optional ``tenant`` and ``seq``) into event-time-sorted columns;
  `generic_fleet` makes a fleet for telemetry that has none.
- `replay` runs the engine over it in event time as fast as it goes and keeps every
  alert's final state; `write_alerts` / `read_alerts` store them as JSON lines.
- `read_truth_file`, `match` and `evaluate` score alerts against the simulator's
  ground truth (precision, recall, time to detect, false alerts per 100
  borrower-days) next to the periodic checks riskstream replaces (`BASELINES`);
  `render_timeline` draws both as a self-contained HTML page.
"""

from riskstream.backtest.alerts_file import AlertRecord, read_alerts, write_alerts
from riskstream.backtest.baselines import BASELINES, PeriodicCheck
from riskstream.backtest.errors import EvaluationFileError, InputFileError, TelemetryFileError
from riskstream.backtest.evaluate import Evaluation, evaluate
from riskstream.backtest.generic_fleet import generic_fleet
from riskstream.backtest.matching import DETECTED_BY, match
from riskstream.backtest.replay import ReplayResult, replay
from riskstream.backtest.telemetry_file import Telemetry, read_telemetry
from riskstream.backtest.timeline import render_timeline, write_timeline
from riskstream.backtest.truth_file import read_truth_file

__all__ = [
    "BASELINES",
    "DETECTED_BY",
    "AlertRecord",
    "Evaluation",
    "EvaluationFileError",
    "InputFileError",
    "PeriodicCheck",
    "ReplayResult",
    "Telemetry",
    "TelemetryFileError",
    "evaluate",
    "generic_fleet",
    "match",
    "read_alerts",
    "read_telemetry",
    "read_truth_file",
    "render_timeline",
    "replay",
    "write_alerts",
    "write_timeline",
]
