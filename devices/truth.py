"""Ground truth of risk events (`TruthRecord`), as JSON lines: what happened to whom, when.

The simulator writes it for the scenarios it injects; the evaluation reads it to score
the engine's alerts. It lives with the domain types so that the engine's side needs no
simulator to read it.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass(frozen=True, slots=True)
class TruthRecord:
    """Ground truth for one injected scenario, as the evaluation harness reads it.

    ``loan_id`` and ``counterpart_device_id`` are None where they do not apply.
    """

    scenario: str
    tenant: str
    borrower_id: str
    collateral_id: str | None
    site_id: str | None
    device_id: str | None
    start_ts: float
    end_ts: float
    loan_id: str | None = None
    counterpart_device_id: str | None = None


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
