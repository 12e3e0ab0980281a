"""Hysteresis for conditions that must hold for a while before they count.

`Condition.observe(ts, breached)` tracks one subject in event time: it reports
``"open"`` once the breach has lasted ``for_s``, ``"hold"`` while it continues,
and ``"clear"`` once a raised condition has been clear for ``clear_after_s``.
"""

from dataclasses import dataclass
from typing import Literal

Transition = Literal["none", "open", "hold", "clear"]


@dataclass(slots=True)
class Condition:
    """State of one (rule, subject) pair."""

    breach_since: float | None = None
    clear_since: float | None = None
    raised: bool = False

    def observe(self, ts: float, breached: bool, for_s: float, clear_after_s: float) -> Transition:
        """Feed one evaluation at event time ``ts``; return what should happen."""
        if breached:
            self.clear_since = None
            if self.breach_since is None:
                self.breach_since = ts
            if self.raised:
                return "hold"
            if ts - self.breach_since >= for_s:
                self.raised = True
                return "open"
            return "none"
        if not self.raised:
            self.breach_since = None
            return "none"
        if self.clear_since is None:
            self.clear_since = ts
        if ts - self.clear_since >= clear_after_s:
            self.raised = False
            self.breach_since = None
            self.clear_since = None
            return "clear"
        return "none"
