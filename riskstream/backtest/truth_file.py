"""Read the simulator's ground truth (JSON lines) with errors that name file, line and field.

Each line is one injected scenario: ``scenario, tenant, borrower_id, collateral_id,
site_id, device_id, start_ts, end_ts`` (``loan_id`` and ``counterpart_device_id``
optional). Fields this version does not know are ignored, so a newer simulator's
truth files still evaluate.
"""

import math
from pathlib import Path
from typing import Any

from devices.truth import TruthRecord
from riskstream.backtest.alerts_file import json_lines
from riskstream.backtest.errors import EvaluationFileError

_TEXT = ("scenario", "tenant", "borrower_id")
_IDS = ("collateral_id", "site_id", "device_id", "loan_id", "counterpart_device_id")


def _field_error(path: Path, line: int, name: str, reason: str) -> EvaluationFileError:
    return EvaluationFileError(path, reason, name, line)


def _record(raw: dict[str, Any], path: Path, line: int) -> TruthRecord:
    for name in _TEXT:
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise _field_error(path, line, name, "missing, or not a non-empty string")
    for name in _IDS:
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise _field_error(path, line, name, "must be a string or null")
    times: dict[str, float] = {}
    for name in ("start_ts", "end_ts"):
        value = raw.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _field_error(path, line, name, "missing, or not epoch seconds")
        times[name] = float(value)
    if times["end_ts"] < times["start_ts"]:
        raise _field_error(path, line, "end_ts", "is before start_ts")
    return TruthRecord(
        scenario=raw["scenario"],
        tenant=raw["tenant"],
        borrower_id=raw["borrower_id"],
        collateral_id=raw.get("collateral_id"),
        site_id=raw.get("site_id"),
        device_id=raw.get("device_id"),
        start_ts=times["start_ts"],
        end_ts=times["end_ts"],
        loan_id=raw.get("loan_id"),
        counterpart_device_id=raw.get("counterpart_device_id"),
    )


def read_truth_file(path: Path | str) -> list[TruthRecord]:
    """Read a ground-truth file (an empty file is a clean run: no events).

    Raises:
        EvaluationFileError: the file cannot be read, a line is not JSON, or a field is
            missing or of the wrong type.
    """
    path = Path(path)
    return [_record(raw, path, line) for line, raw in json_lines(path)]
