"""Ingest's sequence checks over a telemetry file, in the order it was recorded.

A recorder on the broker writes messages in the order they arrived, so a file's rows
are its arrival order; the arrival clock is the latest event time recorded so far.
`sequence_pass` runs ingest's `SequenceTracker` over the file's messages (consecutive
rows of one device with the same ``ts`` and ``seq``) in that order, before the
backtest sorts the rows by event time, and so finds what ingest finds live:

- duplicates (redeliveries) and replays are dropped, as ingest refuses them;
- replays, seq conflicts and gaps become `FileSignal`s for the engine's
  data-integrity detector, at the arrival time they were noticed.

Rows without a seq (-1) are left alone. A file that is not in arrival order (sorted
by device, or shuffled) would look like a flood of replays: when more than
`MAX_OUT_OF_ORDER` of its messages come out of seq order, the pass keeps every row,
gives no signal and says so (``in_arrival_order`` False).
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.integrity import IntegrityKind
from ingest.sequence import SequenceTracker

MAX_OUT_OF_ORDER = 0.01


@dataclass(frozen=True, slots=True)
class FileSignal:
    """A data-integrity signal found in a file; the tenant is known only at replay."""

    device: int
    tenant: int
    kind: IntegrityKind
    at: float
    ts: float
    count: int = 1


@dataclass(frozen=True, slots=True)
class SequenceResult:
    """What the pass found.

    Attributes:
        keep: per row, whether ingest would have stored it.
        signals: in arrival order.
        duplicates: messages dropped as redeliveries.
        replayed: messages dropped as replays.
        in_arrival_order: False when the file's order cannot be its arrival order (the
            checks were then not applied).
    """

    keep: npt.NDArray[np.bool_]
    signals: list[FileSignal]
    duplicates: int
    replayed: int
    in_arrival_order: bool = True


def sequence_pass(
    ts: npt.NDArray[np.float64],
    device: npt.NDArray[np.int32],
    seq: npt.NDArray[np.int64],
    device_ids: list[str],
    tenant: npt.NDArray[np.int32] | None = None,
) -> SequenceResult:
    """Classify the file's messages in row order (see the module docstring)."""
    n = int(ts.shape[0])
    keep = np.ones(n, dtype=np.bool_)
    if n == 0:
        return SequenceResult(keep, [], 0, 0)
    new_message = np.ones(n, dtype=np.bool_)
    new_message[1:] = (device[1:] != device[:-1]) | (ts[1:] != ts[:-1]) | (seq[1:] != seq[:-1])
    starts = np.flatnonzero(new_message)
    ends = np.append(starts[1:], n)
    arrival = np.maximum.accumulate(ts[starts])
    tracker = SequenceTracker()
    signals: list[FileSignal] = []
    duplicates = replayed = out_of_order = 0
    tenants = tenant[starts].tolist() if tenant is not None else [-1] * len(starts)
    for first, stop, d, t, s, at, tn in zip(
        starts.tolist(),
        ends.tolist(),
        device[starts].tolist(),
        ts[starts].tolist(),
        seq[starts].tolist(),
        arrival.tolist(),
        tenants,
        strict=True,
    ):
        if s < 0:
            continue
        verdict, gap = tracker.check(device_ids[d], s, t, at)
        if gap:
            signals.append(FileSignal(d, tn, "gap", at, t, gap))
        if verdict not in ("new", "reset"):
            out_of_order += 1
        if verdict == "conflict":
            signals.append(FileSignal(d, tn, "conflict", at, t))
        elif verdict == "duplicate":
            keep[first:stop] = False
            duplicates += 1
        elif verdict == "replayed":
            keep[first:stop] = False
            replayed += 1
            signals.append(FileSignal(d, tn, "replayed", at, t))
    if out_of_order > max(10, MAX_OUT_OF_ORDER * len(starts)):
        return SequenceResult(np.ones(n, dtype=np.bool_), [], 0, 0, in_arrival_order=False)
    return SequenceResult(keep, signals, duplicates, replayed)
