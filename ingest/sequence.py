"""Per-device ``seq`` bookkeeping: duplicates, replays, gaps and device restarts.

Each device keeps its highest ``seq``, the event time of that message and a bit mask
of which of the `WINDOW` sequence numbers up to it were seen (1,024: deliveries out of
order by more than that per device, e.g. after a broker restart, are refused as replays
and so show up in the dead-letter store). A message is:

- ``new`` when its seq is above the highest (the jump minus one is a gap);
- ``late`` when it fills a hole inside the window (a gap shrinks);
- ``duplicate`` when its seq was already seen in the window (QoS 1 redelivery,
  a gateway resend): dropped and counted, not an error;
- ``reset`` when its seq is at most `RESTART_SEQ_MAX` and its event time is newer than
  anything seen (the device restarted its counter): accepted, the window starts over;
- ``conflict`` when its seq is not above the highest but its event time is newer and
  it is no restart: the seq was already taken by a message of another time, so a
  second sender (a forged device) shares the device's counter. Accepted, since which
  of the two is genuine cannot be told here, and reported as a data-integrity signal;
- ``duplicate`` too when its seq is at or below the high-water mark the store held
  at start (a redelivery after an ingest restart);
- ``replayed`` when its seq is older than the window and its event time is not newer,
  or when it was seen already and arrives more than `REPLAY_MIN_AGE_S` after the seq
  first arrived (a QoS 1 redelivery, even after a broker restart, comes within
  seconds): refused, because an old message sent again is what a replay attack looks
  like. First arrivals are kept per block of `ARRIVAL_BLOCK` seqs (the block's latest
  arrival, so a redelivery is never taken for a replay; a replay is found once it
  comes that long after the block's last message).

Readings without ``seq`` are de-duplicated by (event time, metric), remembering the
last `TS_MEMORY` of them per device.
"""

from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

WINDOW = 1024
_MASK = (1 << WINDOW) - 1
TS_MEMORY = 32
RESTART_SEQ_MAX = 16
REPLAY_MIN_AGE_S = 900.0
ARRIVAL_BLOCK_BITS = 4
ARRIVAL_BLOCK = 1 << ARRIVAL_BLOCK_BITS
_ARRIVAL_SLOTS = WINDOW // ARRIVAL_BLOCK

Verdict = Literal["new", "late", "duplicate", "reset", "conflict", "replayed"]


@dataclass(slots=True)
class DeviceSequence:
    """Sequence state of one device."""

    last: int
    last_ts: float
    seen: int = 1
    floor: int = -1
    arrivals: "array[float] | None" = None
    """Latest arrival time per block of seqs, ring-indexed (only when arrivals are given)."""

    def arrived(self, seq: int, received_at: float) -> None:
        if self.arrivals is None:
            self.arrivals = array("d", bytes(8 * _ARRIVAL_SLOTS))
        self.arrivals[(seq >> ARRIVAL_BLOCK_BITS) % _ARRIVAL_SLOTS] = received_at

    def first_arrival_bound(self, seq: int) -> float | None:
        """No earlier than the seq's first arrival (None when unknown)."""
        if self.arrivals is None:
            return None
        at = self.arrivals[(seq >> ARRIVAL_BLOCK_BITS) % _ARRIVAL_SLOTS]
        return at if at > 0.0 else None


@dataclass(slots=True)
class SequenceTracker:
    """Classifies each (device, seq, ts) and counts the gaps it reveals."""

    devices: dict[str, DeviceSequence] = field(default_factory=dict)
    unsequenced: dict[str, deque[tuple[float, str]]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)

    def seed(self, device_id: str, high_water_seq: int, high_water_ts: float) -> None:
        """Start from what the store already holds: everything up to the mark counts as seen."""
        self.devices[device_id] = DeviceSequence(
            high_water_seq, high_water_ts, _MASK, floor=high_water_seq
        )

    def forget(self, device_id: str) -> None:
        """Drop what is known of a device's sequence (another receiver may have taken
        its messages meanwhile): its next message starts it afresh."""
        self.devices.pop(device_id, None)
        self.unsequenced.pop(device_id, None)
        self.missing.pop(device_id, None)

    def check(
        self, device_id: str, seq: int, ts: float, received_at: float | None = None
    ) -> tuple[Verdict, int]:
        """Classify one sequenced message; return (verdict, messages newly found missing).

        ``received_at`` is when it arrived (the receiver's clock); without it a message
        seen before is always a harmless duplicate.
        """
        state = self.devices.get(device_id)
        if state is None:
            state = self.devices[device_id] = DeviceSequence(seq, ts)
            if received_at is not None:
                state.arrived(seq, received_at)
            return "new", 0
        if seq > state.last:
            if received_at is not None:
                state.arrived(seq, received_at)
            jump = seq - state.last
            state.seen = ((state.seen << jump) | 1) & _MASK if jump < WINDOW else 1
            state.last = seq
            state.last_ts = max(state.last_ts, ts)
            gap = jump - 1
            if gap:
                self.missing[device_id] = self.missing.get(device_id, 0) + gap
            return "new", gap
        if ts > state.last_ts:
            if seq <= RESTART_SEQ_MAX:
                state = self.devices[device_id] = DeviceSequence(seq, ts)
                if received_at is not None:
                    state.arrived(seq, received_at)
                return "reset", 0
            state.last_ts = ts
            return "conflict", 0
        back = state.last - seq
        if back < WINDOW:
            bit = 1 << back
            if state.seen & bit:
                first = state.first_arrival_bound(seq)
                if (
                    received_at is not None
                    and first is not None
                    and seq > state.floor
                    and received_at - first > REPLAY_MIN_AGE_S
                ):
                    return "replayed", 0
                return "duplicate", 0
            state.seen |= bit
            self.missing[device_id] = max(0, self.missing.get(device_id, 0) - 1)
            return "late", 0
        if seq <= state.floor:
            return "duplicate", 0
        return "replayed", 0

    def advance(
        self,
        device_id: str,
        seqs: Sequence[int],
        newest_ts: float,
        received_at: Sequence[float] | None = None,
    ) -> int:
        """Take a run of messages that are all ``new``, as `check` on each would.

        For bulk replays (a backtest's file): the state ends as it would after `check`
        on every message, at a cost that stops growing with the run past its last
        `WINDOW` seqs (usually; with arrival times, once every arrival slot is written).

        Args:
            device_id: a device `check` has seen.
            seqs: strictly increasing, the first above the device's highest seq.
            newest_ts: the latest event time among the run's messages.
            received_at: when each message arrived, or None.

        Returns:
            Messages newly found missing (the sum of the gaps `check` would return).

        Raises:
            ValueError: the device is unknown or the run does not start above its highest.
        """
        state = self.devices.get(device_id)
        if state is None or not seqs or seqs[0] <= state.last:
            raise ValueError(f"{device_id}: not a run of new seqs")
        top = seqs[-1]
        jump = top - state.last
        seen = (state.seen << jump) & _MASK if jump < WINDOW else 0
        for seq in reversed(seqs):
            back = top - seq
            if back >= WINDOW:
                break
            seen |= 1 << back
        if received_at is not None:
            # each slot keeps its last writer: walk back until every slot has one
            written: set[int] = set()
            for seq, at in zip(reversed(seqs), reversed(received_at), strict=True):
                slot = (seq >> ARRIVAL_BLOCK_BITS) % _ARRIVAL_SLOTS
                if slot not in written:
                    written.add(slot)
                    state.arrived(seq, at)
                    if len(written) == _ARRIVAL_SLOTS:
                        break
        gap = jump - len(seqs)
        state.seen = seen
        state.last = top
        state.last_ts = max(state.last_ts, newest_ts)
        if gap:
            self.missing[device_id] = self.missing.get(device_id, 0) + gap
        return gap

    def check_unsequenced(self, device_id: str, ts: float, metric: str) -> Verdict:
        """Classify one reading of a message that has no seq."""
        recent = self.unsequenced.get(device_id)
        if recent is None:
            recent = self.unsequenced[device_id] = deque(maxlen=TS_MEMORY)
        key = (ts, metric)
        if key in recent:
            return "duplicate"
        recent.append(key)
        return "new"
