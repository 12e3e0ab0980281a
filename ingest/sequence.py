"""Per-device ``seq`` bookkeeping: duplicates, replays, gaps and device restarts.

Each device keeps its highest ``seq``, the event time of that message and a bit mask
of which of the `WINDOW` sequence numbers up to it were seen (1,024: deliveries out of
order by more than that per device, e.g. after a broker restart, are refused as replays
and so show up in the dead-letter store). A message is:

- ``new`` when its seq is above the highest (the jump minus one is a gap);
- ``late`` when it fills a hole inside the window (a gap shrinks);
- ``duplicate`` when its seq was already seen in the window (QoS 1 redelivery,
  a gateway resend): dropped and counted, not an error;
- ``reset`` when its seq is lower but its event time is newer than anything seen (the
  device restarted its counter): accepted, the window starts over;
- ``duplicate`` too when its seq is at or below the high-water mark the store held
  at start (a redelivery after an ingest restart);
- ``replayed`` when its seq is older than the window and its event time is not newer:
  refused, because an old message sent again is what a replay attack looks like.

Readings without ``seq`` are de-duplicated by (event time, metric), remembering the
last `TS_MEMORY` of them per device.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

WINDOW = 1024
_MASK = (1 << WINDOW) - 1
TS_MEMORY = 32

Verdict = Literal["new", "late", "duplicate", "reset", "replayed"]


@dataclass(slots=True)
class DeviceSequence:
    """Sequence state of one device."""

    last: int
    last_ts: float
    seen: int = 1
    floor: int = -1


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

    def check(self, device_id: str, seq: int, ts: float) -> tuple[Verdict, int]:
        """Classify one sequenced message; return (verdict, messages newly found missing)."""
        state = self.devices.get(device_id)
        if state is None:
            self.devices[device_id] = DeviceSequence(seq, ts)
            return "new", 0
        if seq > state.last:
            jump = seq - state.last
            state.seen = ((state.seen << jump) | 1) & _MASK if jump < WINDOW else 1
            state.last = seq
            state.last_ts = max(state.last_ts, ts)
            gap = jump - 1
            if gap:
                self.missing[device_id] = self.missing.get(device_id, 0) + gap
            return "new", gap
        if ts > state.last_ts:
            self.devices[device_id] = DeviceSequence(seq, ts)
            return "reset", 0
        back = state.last - seq
        if back < WINDOW:
            bit = 1 << back
            if state.seen & bit:
                return "duplicate", 0
            state.seen |= bit
            self.missing[device_id] = max(0, self.missing.get(device_id, 0) - 1)
            return "late", 0
        if seq <= state.floor:
            return "duplicate", 0
        return "replayed", 0

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
