"""The earliest clock time a timer asked for since the engine last worked out its next
due time.

`Engine.next_due` is costly to work out afresh (it asks every timer), so the engine
keeps it between ticks. Readings only push most due times later (a device that
reported is due later), which leaves the kept value a safe lower bound; the few state
changes a reading makes that bring a due time *earlier* without changing an alert (a
``missing_for`` series seen for the first time, a silent device reporting again) are
rung on the engine's `Alarm` by the detector that makes them.
"""

import math

__all__ = ["Alarm"]


class Alarm:
    """The earliest due time rung since `reset` (inf: none)."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = math.inf

    def ring_by(self, at: float) -> None:
        """Ask for a tick at or before clock time ``at``."""
        if at < self.at:
            self.at = at

    def reset(self) -> None:
        """Forget what was rung (the engine has just asked every timer)."""
        self.at = math.inf
