"""Ingest's sequence checks over a telemetry file, in the order it was recorded.

A recorder on the broker writes messages in the order they arrived, so a file's rows
are its arrival order; the arrival clock is the latest event time recorded so far.
`sequence_pass` runs ingest's `SequenceTracker` over the file's messages (consecutive
rows of one device with the same ``ts`` and ``seq``) in that order, before the
backtest sorts the rows by event time, and so finds what ingest finds live:

- duplicates (redeliveries) and replays are dropped, as ingest refuses them;
- replays, seq conflicts and gaps become `FileSignal`s for the engine's
  data-integrity detector, at the arrival time they were noticed.

The pass is vectorised: per device, a message whose seq is above the device's
previous one is ``new`` (a jump of more than one is a gap). Only the devices whose seq
ever falls (replays, redeliveries, a second sender, restarts) go through the tracker,
message by message from each fall until the seqs rise above the highest again, and in
bulk (`SequenceTracker.advance`) between: the result is the tracker's on every
message in file order.

Rows without a seq (-1) are left alone. A file that is not in arrival order (sorted
by device, or shuffled) would look like a flood of replays: when more than
`MAX_OUT_OF_ORDER` of its messages come out of seq order, the pass keeps every row,
gives no signal and says so (``in_arrival_order`` False).
"""

from bisect import bisect_right
from dataclasses import dataclass, field

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
    sequenced = seq[starts] >= 0
    messages = _Messages.of(starts[sequenced], ends[sequenced], arrival[sequenced], device, seq)
    limit = max(10, MAX_OUT_OF_ORDER * len(starts))
    found = _Found(np.zeros(len(messages.row), dtype=np.bool_))
    tracker = SequenceTracker()
    for lo, hi in messages.devices_with_falls():
        _walk(tracker, messages, ts, lo, hi, device_ids[int(messages.device[lo])], found)
        if found.out_of_order > limit:
            return SequenceResult(np.ones(n, dtype=np.bool_), [], 0, 0, in_arrival_order=False)
    gap = messages.rise - 1  # where the tracker did not look, every message is new
    gap[messages.first | found.stepped] = 0
    gaps = np.flatnonzero(gap > 0)
    events: list[tuple[int, IntegrityKind, int]] = [
        (p, "gap", g) for p, g in zip(gaps.tolist(), gap[gaps].tolist(), strict=True)
    ]
    events += found.events
    number = messages.number
    events.sort(key=lambda e: int(number[e[0]]))
    signals = []
    for pos, kind, count in events:
        row = int(messages.row[pos])
        tn = -1 if tenant is None else int(tenant[row])
        at = float(messages.arrival[pos])
        signals.append(FileSignal(int(device[row]), tn, kind, at, float(ts[row]), count))
    for pos in found.dropped:
        keep[int(messages.row[pos]) : int(messages.stop[pos])] = False
    return SequenceResult(keep, signals, found.duplicates, found.replayed)


@dataclass(frozen=True, slots=True)
class _Messages:
    """The sequenced messages grouped by device, in file order within each device.

    Attributes:
        number: the message's place in the file among sequenced messages.
        row: the message's first row.
        stop: the row after its last.
        arrival: its arrival time.
        device: its device.
        seq: its seq.
        first: whether it is its device's first.
        rise: its seq minus that of the device's previous message (0 for a first).
    """

    number: npt.NDArray[np.intp]
    row: npt.NDArray[np.intp]
    stop: npt.NDArray[np.intp]
    arrival: npt.NDArray[np.float64]
    device: npt.NDArray[np.int32]
    seq: npt.NDArray[np.int64]
    first: npt.NDArray[np.bool_]
    rise: npt.NDArray[np.int64]

    @classmethod
    def of(
        cls,
        row: npt.NDArray[np.intp],
        stop: npt.NDArray[np.intp],
        arrival: npt.NDArray[np.float64],
        device: npt.NDArray[np.int32],
        seq: npt.NDArray[np.int64],
    ) -> "_Messages":
        """Group messages (given in file order by their first and next rows) by device."""
        number = np.argsort(device[row], kind="stable")
        row = row[number]
        dev, sq = device[row], seq[row]
        first = np.ones(len(row), dtype=np.bool_)
        first[1:] = dev[1:] != dev[:-1]
        rise = np.zeros(len(row), dtype=np.int64)
        rise[1:] = sq[1:] - sq[:-1]
        rise[first] = 0
        return cls(number, row, stop[number], arrival[number], dev, sq, first, rise)

    def devices_with_falls(self) -> list[tuple[int, int]]:
        """Positions ``[lo, hi)`` of each device whose seq does not always rise."""
        heads = np.flatnonzero(self.first)
        if not len(heads):
            return []
        tails = np.append(heads[1:], len(self.first))
        falls = np.add.reduceat(((self.rise <= 0) & ~self.first).astype(np.intp), heads)
        which = np.flatnonzero(falls)
        return list(zip(heads[which].tolist(), tails[which].tolist(), strict=True))


@dataclass
class _Found:
    """What the tracker said about the messages it looked at one by one."""

    stepped: npt.NDArray[np.bool_]
    events: list[tuple[int, IntegrityKind, int]] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    duplicates: int = 0
    replayed: int = 0
    out_of_order: int = 0


def _walk(
    tracker: SequenceTracker,
    messages: _Messages,
    ts: npt.NDArray[np.float64],
    lo: int,
    hi: int,
    device_id: str,
    found: _Found,
) -> None:
    """One device's messages ``[lo, hi)``: the tracker from each fall, in bulk while rising."""
    seqs: list[int] = messages.seq[lo:hi].tolist()
    times: list[float] = ts[messages.row[lo:hi]].tolist()
    arrivals: list[float] = messages.arrival[lo:hi].tolist()
    falls = (np.flatnonzero(messages.rise[lo + 1 : hi] <= 0) + 1).tolist()
    k, size = 0, hi - lo
    while k < size:
        state = tracker.devices.get(device_id)
        if state is not None and k and seqs[k] > seqs[k - 1] == state.last:
            at = bisect_right(falls, k)
            stop = falls[at] if at < len(falls) else size
            tracker.advance(device_id, seqs[k:stop], max(times[k:stop]), arrivals[k:stop])
            k = stop
            continue
        verdict, gap = tracker.check(device_id, seqs[k], times[k], arrivals[k])
        pos = lo + k
        found.stepped[pos] = True
        if gap:
            found.events.append((pos, "gap", gap))
        if verdict not in ("new", "reset"):
            found.out_of_order += 1
        if verdict == "conflict":
            found.events.append((pos, "conflict", 1))
        elif verdict == "duplicate":
            found.dropped.append(pos)
            found.duplicates += 1
        elif verdict == "replayed":
            found.dropped.append(pos)
            found.replayed += 1
            found.events.append((pos, "replayed", 1))
        k += 1
