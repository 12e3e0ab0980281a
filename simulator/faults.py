"""What happens to a device's messages rather than to what it measures.

Harmless glitches, on every device unless turned off, at random times that depend only
on the seed and the device (so a scenario never moves them):
- a dropped message: sent (its ``seq`` is used) but lost on the way, about every
  `DROP_EVERY_S`;
- a reboot: the device is off for `REBOOT_DOWN_S`, then sends a birth message
  (``online``) and counts ``seq`` from 1 again, about every `REBOOT_EVERY_S`;
- a brief spike: one reading off in the harmless direction (the model's ``spike``),
  about every `SPIKE_EVERY_S`.

Data-integrity scenarios, set by `simulator.effects`:
- ``stuck_values``: from the window's start every message repeats the values of the
  first one in it, exactly;
- ``replay``: messages sent in a capture window are sent again, byte for byte (old
  ``ts`` and ``seq``, the original signature), ``lag`` seconds later;
- ``spoof``: in the window, half an interval after each genuine message, a forged
  message takes the device's next ``seq`` with the values of the window's first
  message; the publisher signs it with a wrong key.
"""

import heapq
import math
import random

from simulator.message import Message
from simulator.signals import DeviceModel

DROP_EVERY_S = 2 * 86_400.0
SPIKE_EVERY_S = 3 * 86_400.0
REBOOT_EVERY_S = 12 * 86_400.0
REBOOT_DOWN_S = (60.0, 180.0)
KEEPALIVE_S = 90.0  # the broker publishes a silent device's last will after this


class SideQueue:
    """Messages sent at a time other than their own ``ts``, ordered by send time."""

    __slots__ = ("_count", "heap")

    def __init__(self) -> None:
        """An empty queue."""
        self.heap: list[tuple[float, int, Message]] = []
        self._count = 0

    def push(self, send_ts: float, message: Message) -> None:
        """Send ``message`` at ``send_ts``."""
        self._count += 1
        heapq.heappush(self.heap, (send_ts, self._count, message))


class DeviceFaults:
    """Glitch schedule and integrity scenarios of one device.

    Attributes:
        next_ts: the generator takes the slow path (`report`) for reports at or after this.
        stuck: (from, to) window of stuck values, or None.
        capture: (from, to, lag) of a replay, or None.
        spoof: (from, to) window of forged messages, or None.
    """

    __slots__ = (
        "_down_until",
        "_frozen",
        "_rebooted",
        "_spoofed",
        "capture",
        "drop_at",
        "glitches",
        "next_ts",
        "reboot_at",
        "rng",
        "spike_at",
        "spoof",
        "stuck",
    )

    def __init__(self, device_id: str, seed: int, start_ts: float, glitches: bool) -> None:
        """Schedule the first glitches of ``device_id`` after ``start_ts``."""
        self.rng = random.Random(f"{seed}:{device_id}:faults")
        self.glitches = glitches
        self.drop_at = self._after(start_ts, DROP_EVERY_S)
        self.spike_at = self._after(start_ts, SPIKE_EVERY_S)
        self.reboot_at = self._after(start_ts, REBOOT_EVERY_S)
        self._down_until = -math.inf
        self._rebooted = False
        self._frozen: dict[str, float] | None = None
        self._spoofed: dict[str, float] | None = None
        self.stuck: tuple[float, float] | None = None
        self.capture: tuple[float, float, float] | None = None
        self.spoof: tuple[float, float] | None = None
        self.next_ts = -math.inf
        self.update(start_ts)

    def _after(self, ts: float, mean_s: float) -> float:
        if not self.glitches:
            return math.inf
        return ts + self.rng.expovariate(1.0 / mean_s)

    def update(self, ts: float) -> None:
        """Recompute `next_ts` after the report at ``ts``."""
        nxt = min(self.drop_at, self.spike_at, self.reboot_at)
        if self._down_until > ts:
            nxt = ts
        for window in (self.stuck, self.spoof, self.capture):
            if window is not None and window[1] > ts:
                nxt = min(nxt, window[0])
        self.next_ts = nxt

    def report(self, model: DeviceModel, ts: float, side: SideQueue) -> list[Message]:
        """The messages of ``model``'s report at ``ts`` (slow path), in send order."""
        out: list[Message] = []
        if self._down_until > ts:
            self.update(ts)
            return out
        if self.reboot_at <= ts:
            self._down_until = ts + self.rng.uniform(*REBOOT_DOWN_S)
            self.reboot_at = self._after(ts, REBOOT_EVERY_S)
            self._rebooted = True
            self.update(ts)
            return out
        values = model.values(ts)
        device = model.device_id
        if self._rebooted:
            self._rebooted = False
            model.seq = 0
            out.append(Message(ts, device, 0, {}, "online"))
        model.seq += 1
        if self.stuck is not None and self.stuck[0] <= ts < self.stuck[1]:
            if self._frozen is None:
                self._frozen = values
            values = self._frozen
        elif self.spike_at <= ts:
            values = model.spike(values)
            self.spike_at = self._after(ts, SPIKE_EVERY_S)
        message = Message(ts, device, model.seq, values)
        if self.capture is not None and self.capture[0] <= ts < self.capture[1]:
            side.push(ts + self.capture[2], message)
        if self.spoof is not None and self.spoof[0] <= ts < self.spoof[1]:
            if self._spoofed is None:
                self._spoofed = values
            at = round(ts + model.interval / 2.0, 3)
            side.push(at, Message(at, device, model.seq + 1, self._spoofed, "forged"))
        if self.drop_at <= ts:
            self.drop_at = self._after(ts, DROP_EVERY_S)
        else:
            out.append(message)
        self.update(ts)
        return out
