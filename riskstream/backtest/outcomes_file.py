"""Read loan outcomes (JSON lines) for a backtest, with errors naming file, line and field.

Each line is one event of the lender's core banking system, as the simulator's
``--outcomes`` file and ``POST /api/loan-events`` take them: ``ts`` (epoch seconds),
``borrower_id``, ``event`` (``payment_missed``, ``default`` or ``cured``); ``tenant``
and ``loan_id`` optional. Other fields are ignored.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, get_args

from riskstream.backtest.alerts_file import json_lines
from riskstream.backtest.errors import EvaluationFileError
from riskstream.scoring.outcome_model import LoanEvent

EVENTS: tuple[str, ...] = get_args(LoanEvent)


@dataclass(frozen=True, slots=True)
class LoanOutcome:
    """One loan event at its time."""

    ts: float
    borrower_id: str
    event: LoanEvent
    tenant: str | None = None
    loan_id: str | None = None


def _outcome(raw: dict[str, Any], path: Path, line: int) -> LoanOutcome:
    ts = raw.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise EvaluationFileError(path, "missing, or not epoch seconds", "ts", line)
    borrower = raw.get("borrower_id")
    if not isinstance(borrower, str) or not borrower:
        raise EvaluationFileError(path, "missing, or not a non-empty string", "borrower_id", line)
    event = raw.get("event")
    if event not in EVENTS:
        raise EvaluationFileError(path, f"must be one of {', '.join(EVENTS)}", "event", line)
    for name in ("tenant", "loan_id"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise EvaluationFileError(path, "must be a string or null", name, line)
    return LoanOutcome(
        float(ts), borrower, cast(LoanEvent, event), raw.get("tenant"), raw.get("loan_id")
    )


def read_outcomes_file(path: Path | str) -> list[LoanOutcome]:
    """Read a loan outcomes file, in time order (an empty file has no outcomes).

    Raises:
        EvaluationFileError: the file cannot be read, a line is not JSON, or a field is
            missing or of the wrong type.
    """
    path = Path(path)
    outcomes = [_outcome(raw, path, line) for line, raw in json_lines(path)]
    return sorted(outcomes, key=lambda o: o.ts)
