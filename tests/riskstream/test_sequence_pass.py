"""The vectorised sequence pass says what ingest's tracker says, message by message."""

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow.csv as pacsv
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.sequence import SequenceTracker
from riskstream.backtest import read_telemetry
from riskstream.backtest.sequence_pass import FileSignal, SequenceResult, sequence_pass
from tests.riskstream.backtest_data import simulate

Ints = npt.NDArray[np.int64]


def tracker_in_file_order(
    ts: npt.NDArray[np.float64],
    device: npt.NDArray[np.int32],
    seq: Ints,
    ids: list[str],
    tenant: npt.NDArray[np.int32] | None = None,
) -> SequenceResult:
    """The plain reading of the contract: `SequenceTracker.check` on each message in turn."""
    n = len(ts)
    keep = np.ones(n, dtype=np.bool_)
    tracker = SequenceTracker()
    signals: list[FileSignal] = []
    duplicates = replayed = out_of_order = messages = 0
    arrival = -np.inf
    row = 0
    while row < n:
        stop = row + 1
        while stop < n and (device[stop], ts[stop], seq[stop]) == (device[row], ts[row], seq[row]):
            stop += 1
        messages += 1
        arrival = max(arrival, float(ts[row]))
        d, t, s = int(device[row]), float(ts[row]), int(seq[row])
        tn = -1 if tenant is None else int(tenant[row])
        if s >= 0:
            verdict, gap = tracker.check(ids[d], s, t, arrival)
            if gap:
                signals.append(FileSignal(d, tn, "gap", arrival, t, gap))
            out_of_order += verdict not in ("new", "reset")
            if verdict == "conflict":
                signals.append(FileSignal(d, tn, "conflict", arrival, t))
            if verdict in ("duplicate", "replayed"):
                keep[row:stop] = False
                duplicates += verdict == "duplicate"
                replayed += verdict == "replayed"
            if verdict == "replayed":
                signals.append(FileSignal(d, tn, "replayed", arrival, t))
        row = stop
    if out_of_order > max(10, 0.01 * messages):
        return SequenceResult(np.ones(n, dtype=np.bool_), [], 0, 0, in_arrival_order=False)
    return SequenceResult(keep, signals, duplicates, replayed)


def assert_same(got: SequenceResult, want: SequenceResult) -> None:
    assert got.in_arrival_order == want.in_arrival_order
    assert (got.duplicates, got.replayed) == (want.duplicates, want.replayed)
    assert got.signals == want.signals
    assert np.array_equal(got.keep, want.keep)


def test_a_recording_with_replays_spoofs_gaps_and_restarts(tmp_path: Path) -> None:
    assign = {"b001": "replay", "b002": "spoof", "b004": "replay", "b005": "spoof"}
    run = simulate(tmp_path, 8, 3, seed=21, assign=assign)
    t = read_telemetry(run.telemetry)  # rows sorted by time: the pass ran in file order
    assert t.seq is not None and t.refused > 0
    kinds = {s.kind for s in t.signals}
    assert {"gap", "conflict", "replayed"} <= kinds, kinds
    # the columns in file order again, kept rows and refused ones
    table = pacsv.read_csv(run.telemetry)
    ids = sorted(set(table.column("device_id").to_pylist()))
    code = {d: i for i, d in enumerate(ids)}
    device = np.array([code[d] for d in table.column("device_id").to_pylist()], dtype=np.int32)
    ts = table.column("ts").to_numpy().astype(np.float64)
    seq = table.column("seq").to_numpy().astype(np.int64)
    got = sequence_pass(ts, device, seq, ids)
    assert_same(got, tracker_in_file_order(ts, device, seq, ids))
    assert got.replayed > 0 and any(s.kind == "conflict" for s in got.signals)
    restarts = sum(
        1
        for d in range(len(ids))
        if np.any(np.diff(seq[device == d]) < 0) and np.any(seq[device == d][1:] <= 16)
    )
    assert restarts, "the simulator's reboots restart some counters"


def _file(draw: st.DrawFn) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], Ints]:
    """A few devices sending in order, with redeliveries, replays, forgeries and restarts."""
    devices = draw(st.integers(1, 3))
    next_seq, clock = [0] * devices, [0.0] * devices
    sent: list[list[tuple[int, float]]] = [[] for _ in range(devices)]
    rows: list[tuple[float, int, int]] = []
    for _ in range(draw(st.integers(1, 60))):
        d = draw(st.integers(0, devices - 1))
        what = draw(st.sampled_from(["next"] * 6 + ["skip", "again", "old", "forge", "restart"]))
        seq, when = next_seq[d], clock[d]
        if what == "skip":
            seq += draw(st.integers(1, 1500))
        if what == "restart":
            seq = draw(st.integers(0, 20))
        if what in ("again", "old") and sent[d]:
            seq, when = draw(st.sampled_from(sent[d])) if what == "old" else sent[d][-1]
        elif what == "forge" and sent[d]:
            seq, when = draw(st.sampled_from(sent[d]))[0], when + draw(st.sampled_from([0.5, 1e4]))
        else:
            when += draw(st.sampled_from([0.0, 1.0, 60.0, 1000.0]))
            next_seq[d], clock[d] = seq + 1, when
            sent[d].append((seq, when))
        for _ in range(draw(st.integers(1, 2))):  # one or two metrics per message
            rows.append((when, d, seq if draw(st.integers(0, 9)) else -1))
    ts = np.array([r[0] for r in rows], dtype=np.float64)
    device = np.array([r[1] for r in rows], dtype=np.int32)
    return ts, device, np.array([r[2] for r in rows], dtype=np.int64)


@settings(max_examples=300, deadline=None)
@given(st.composite(_file)())
def test_any_arrival_order_gives_the_trackers_verdicts(
    file: tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], Ints],
) -> None:
    ts, device, seq = file
    ids = [f"d{i}" for i in range(int(device.max()) + 1)]
    tenant = (device % 2).astype(np.int32)
    got = sequence_pass(ts, device, seq, ids, tenant)
    assert_same(got, tracker_in_file_order(ts, device, seq, ids, tenant))


def test_a_long_run_then_a_replay_uses_the_bulk_state() -> None:
    """Arrival times and the seen window after a long in-order run match the tracker's."""
    n = 5_000
    seq = np.arange(n, dtype=np.int64)
    seq[1_000:] += 7  # a gap
    ts = np.arange(n, dtype=np.float64) * 10.0
    # replays of old seqs long after, a redelivery, a forged seq, a restart, more in order
    end = n * 10.0
    tail = [(4_990, end - 30), (4_500, 45e3), (4_000, 4e4), (5_006, end - 10)]
    tail += [(3, 1e6), (4, 1e6 + 1), (5, 1e6 + 2), (2, 0.0), (10, 1e6 + 3)]
    seq = np.append(seq, [s for s, _ in tail])
    ts = np.append(ts, [t for _, t in tail])
    device = np.zeros(len(ts), dtype=np.int32)
    got = sequence_pass(ts, device, seq, ["d"])
    assert_same(got, tracker_in_file_order(ts, device, seq, ["d"]))
    assert got.replayed >= 2 and got.duplicates >= 1
