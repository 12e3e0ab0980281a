"""The engine's clock-driven work, and when it is next due.

The parts that act on the clock rather than on readings are the periodic scoring, the
alert book (ends of cooldowns, escalations) and every detector registered with a
``tick`` (`riskstream.detectors.registry`). `Timers` runs the ticks of the book and the
detectors, and keeps the earliest time any part may change anything (`next_due`), so a
replay skips the ticks before it and a tick costs what is due, not the time elapsed.

Working that time out asks every part, so it is kept between calls: readings only push
due times later (a device that reported is due later), which leaves the kept value a
safe lower bound; the few changes a reading makes that bring a due time earlier ring
the `Alarm`; anything else that may (an alert change, ingest's signals, new rules, loan
outcomes) calls `invalidate`. A tick runs only the detectors kept as due by its time
(the others' ticks would change nothing) and has them asked again, with the book; the
periodic scoring moving on has only itself asked again (`scoring_moved`).
"""

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from riskstream.detectors.registry import REGISTRY, DetectorSpec
from riskstream.engine.alarm import Alarm
from riskstream.engine.alerts import Alert, AlertBook

__all__ = ["Timers"]


def _never_known() -> float:
    return -math.inf


# the places in `Timers._parts` of the periodic scoring, the book and the first detector
_SCORING, _BOOK, _DETECTORS = 0, 1, 2


class Timers:
    """Ticks of the alert book and the timed detectors, and the next due time of every
    clock-driven part (``scoring_due``: the periodic scoring's, given by the engine)."""

    def __init__(
        self,
        detectors: Mapping[str, Any],
        book: AlertBook,
        scoring_due: Callable[[], float],
    ) -> None:
        self.book = book
        self.alarm = Alarm()
        for detector in detectors.values():
            if hasattr(detector, "alarm"):
                detector.alarm = self.alarm
        self.timed: list[tuple[DetectorSpec, Any]] = [
            (spec, detectors[spec.name]) for spec in REGISTRY if spec.tick is not None
        ]
        # each part's next due time, asked afresh: the scoring, the book, the detectors
        self._parts: list[Callable[[], float]] = [scoring_due, book.next_due]
        for spec, detector in self.timed:
            due = spec.next_due
            self._parts.append(_never_known if due is None else partial(due, detector, book))
        self.kept: float | None = None
        """The next due time worked out last (None: to work out anew)."""
        self._dues: list[float] = []  # of each part when last asked

    def invalidate(self) -> None:
        """Work the next due time out anew: something may have brought it earlier."""
        self.kept = None

    def next_due(self, *, recheck: bool = False) -> float:
        """The earliest clock time a tick may change anything; a lower bound, -inf when
        it cannot tell. ``recheck`` asks again the parts kept as due by then (readings
        since may have put them later); the parts a tick ran are asked again anyway."""
        if self.kept is None:
            self._dues = [part() for part in self._parts]
        elif recheck or self.kept == -math.inf:
            by = min(self.kept, self.alarm.at)
            rang = self.alarm.at < math.inf
            dues, parts = self._dues, self._parts
            for i, due in enumerate(dues):
                if rang or due <= by:
                    dues[i] = parts[i]()
        else:
            return min(self.kept, self.alarm.at)
        self.alarm.reset()
        self.kept = min(self._dues)
        return self.kept

    def due_by(self, at: float) -> bool:
        """Whether a tick at or before clock time ``at`` may change anything.

        Asks again only the parts kept as due by ``at`` (all of them when the alarm
        rang): between readings that only push a deadman on, that is one part, once per
        its limit of event time."""
        if at == math.inf:
            return True
        kept, alarm = self.kept, self.alarm
        if kept is None or alarm.at < math.inf:
            if kept is not None and kept > at and alarm.at > at:
                return False
            self._dues = [part() for part in self._parts]
        elif kept > at:
            return False
        else:
            dues, parts = self._dues, self._parts
            for i, due in enumerate(dues):
                if due <= at:
                    dues[i] = parts[i]()
        alarm.reset()
        self.kept = kept = min(self._dues)
        return kept <= at

    def tick(self, now: float, wall: float) -> list[Alert]:
        """Run the book's escalations and the timers of the detectors that may be due by
        clock time ``now`` (all when the due times are not known); return the alerts they
        changed. What ran is asked again before the next due time is told; when an alert
        changed, everything is (`invalidate`)."""
        alerts: list[Alert] = []
        known = self.kept is not None and self.alarm.at == math.inf
        dues = self._dues
        for part, (spec, detector) in enumerate(self.timed, start=_DETECTORS):
            if known:
                if dues[part] > now:
                    continue
                dues[part] = -math.inf
            assert spec.tick is not None
            alerts += spec.tick(detector, now, self.book, wall)
        alerts += self.book.escalate(now, wall)
        if known and not alerts:
            dues[_BOOK] = self.kept = -math.inf  # ask again what ran (`due_by`)
        else:
            self.invalidate()
        return alerts

    def scoring_moved(self) -> None:
        """The periodic scoring ran: ask its due time again, and only it."""
        if self.kept is not None:
            self._dues[_SCORING] = self.kept = -math.inf
