"""The platform's matcher of pledged lots across lenders: the same goods pledged twice.

It knows every lender's lots only as opaque handles with keyed hashes of their facts
(`riskstream.engine.pledge_facts`): the hashed serials of their devices, their hashed
RFID tags, their hashed location cell and its neighbours, and the hashed signatures of
their recent weight changes. It holds no lender, borrower, loan, site or lot id, nor any
value, in the clear; which lender a handle belongs to it knows only as another opaque
handle, so that a lender's lots are never matched with its own.

Two lots of different lenders share a fact when they have

- ``device_serial``: a device serial in common;
- ``rfid_tags``: at least ``min_shared_tags`` tags in common, and at least
  ``min_tag_share`` of the smaller tag set;
- ``site_location``: location cells next to each other (within about 50 m, never more than
  about 141 m apart: see `riskstream.engine.pledge_facts`);
- ``weight_changes``: at least ``min_comoving_changes`` weight changes of each that match
  one of the other's (same time bucket and size, one bucket or one size step apart at
  most), and at least ``min_comoving_share`` of the changes of the lot with fewer, among
  the changes of the last ``window`` seconds (warehouses on one shift pattern with
  standard truck loads often move at the same times by chance; the same goods move
  together nearly every time).

Location alone is a weak fact (neighbouring warehouses share it), so a lot is judged
"pledged elsewhere too" only with at least one strong fact (serial, tags, weight
changes) and at least ``min_facts`` (≥ 2) facts in all. The verdict of a pair is the
same seen from either side, so both lenders are told.
"""

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from riskstream.engine.pledge_facts import Near, Token

STRONG = frozenset({"device_serial", "rfid_tags", "weight_changes"})
MAX_CHANGES_PER_LOT = 500  # the newest kept, so a busy lot's memory stays bounded


@dataclass(frozen=True, slots=True)
class LotPrint:
    """What the matcher knows of one lot's registration: hashes only."""

    lender: str
    serials: frozenset[Token]
    tags: frozenset[Token]
    place: Near | None


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """The platform's thresholds (the service's rules, never a lender's own)."""

    min_facts: int
    min_shared_tags: int
    min_tag_share: float
    min_comoving_changes: int
    min_comoving_share: float
    window_s: float


@dataclass(frozen=True, slots=True)
class Match:
    """Which of a lot's own facts another lender's lot shares; nothing of the other lot.

    Attributes:
        facts: the facts shared, in the order of `riskstream.engine.cross_lender`.
        serials: the lot's own serial tokens that are shared.
        shared_tags: how many of the lot's own tags are shared.
        changes: the lot's own weight-change tokens that moved with the other lot's.
    """

    facts: tuple[str, ...]
    serials: frozenset[Token] = frozenset()
    shared_tags: int = 0
    changes: frozenset[Token] = frozenset()


@dataclass(slots=True)
class _Lot:
    print: LotPrint
    changes: deque[tuple[float, Near]] = field(
        default_factory=lambda: deque(maxlen=MAX_CHANGES_PER_LOT)
    )
    # how many of its changes have each token in their neighbourhood
    around: dict[Token, int] = field(default_factory=dict)


class CrossLenderMatcher:
    """Finds lots of different lenders that share enough hashed facts."""

    def __init__(self, settings: MatchSettings) -> None:
        self.settings = settings
        self._lots: dict[str, _Lot] = {}
        self._by_token: dict[Token, set[str]] = {}  # serial, tag, cell or change → lots
        self._verdicts: dict[str, Match] = {}
        self._dirty: set[str] = set()
        self._oldest = math.inf  # no change is older: `expire` has nothing to do before
        # lots that share a registered fact (built once all are registered) or that
        # have had a change near one of the other's
        self._static: dict[str, set[str]] | None = None
        self._moved_with: dict[str, set[str]] = {}
        self._shared: dict[tuple[str, str], tuple[frozenset[Token], int, bool]] = {}

    def set_lot(self, handle: str, lot: LotPrint) -> None:
        """Register a lot's facts (its weight changes are added with `add_change`)."""
        self._lots[handle] = _Lot(lot)
        own_cell = () if lot.place is None else (lot.place.own,)
        for token in (*lot.serials, *lot.tags, *own_cell):
            self._by_token.setdefault(token, set()).add(handle)
        self._dirty.add(handle)
        self._static = None
        self._shared = {}

    def add_change(self, handle: str, at: float, change: Near) -> None:
        """A weight change of the lot ``handle`` at event time ``at``."""
        lot = self._lots.get(handle)
        if lot is None:
            return
        if len(lot.changes) == lot.changes.maxlen:
            self._unindex(handle, lot, lot.changes[0][1])
        lot.changes.append((at, change))
        self._oldest = min(self._oldest, at)
        self._by_token.setdefault(change.own, set()).add(handle)
        for token in change.around:
            lot.around[token] = lot.around.get(token, 0) + 1
            for other in self._by_token.get(token, ()):
                if other != handle:
                    self._moved_with.setdefault(handle, set()).add(other)
                    self._moved_with.setdefault(other, set()).add(handle)
        self._dirty.add(handle)

    def _unindex(self, handle: str, lot: _Lot, change: Near) -> None:
        holders = self._by_token.get(change.own)
        if holders is not None:
            holders.discard(handle)
            if not holders:
                del self._by_token[change.own]
        for token in change.around:
            left = lot.around[token] - 1
            if left:
                lot.around[token] = left
            else:
                del lot.around[token]

    def expire(self, now: float) -> None:
        """Forget weight changes older than the window before ``now``."""
        horizon = now - self.settings.window_s
        if horizon <= self._oldest:
            return
        for handle, lot in self._lots.items():
            while lot.changes and lot.changes[0][0] < horizon:
                self._unindex(handle, lot, lot.changes.popleft()[1])
                self._dirty.add(handle)
        self._oldest = self.next_expiry() - self.settings.window_s

    def next_expiry(self) -> float:
        """The earliest event time `expire` may forget a change (inf: none to forget)."""
        firsts = [lot.changes[0][0] for lot in self._lots.values() if lot.changes]
        return min(firsts) + self.settings.window_s if firsts else math.inf

    def _static_links(self) -> dict[str, set[str]]:
        """Lots sharing a serial, tag or location cell neighbourhood, per lot."""
        if self._static is None:
            links: dict[str, set[str]] = {}
            for handle, lot in self._lots.items():
                tokens: list[Token] = [*lot.print.serials, *lot.print.tags]
                if lot.print.place is not None:
                    tokens += lot.print.place.around
                found: set[str] = set()
                for token in tokens:
                    found |= self._by_token.get(token, set())
                links[handle] = found
            self._static = links
        return self._static

    def _candidates(self, handle: str) -> set[str]:
        lender = self._lots[handle].print.lender
        found = self._static_links().get(handle, set()) | self._moved_with.get(handle, set())
        return {h for h in found if self._lots[h].print.lender != lender}

    def changed_verdicts(self) -> dict[str, Match | None]:
        """The lots whose verdict changed since last asked: their match, or None when
        they no longer match."""
        todo = set(self._dirty)
        for handle in self._dirty:
            todo |= self._candidates(handle)
        self._dirty = set()
        out: dict[str, Match | None] = {}
        for handle in sorted(todo):
            best = self._best(handle)
            if best != self._verdicts.get(handle):
                out[handle] = best
                if best is None:
                    self._verdicts.pop(handle, None)
                else:
                    self._verdicts[handle] = best
        return out

    def _best(self, handle: str) -> Match | None:
        best: Match | None = None
        for other in sorted(self._candidates(handle)):
            match = self._compare(handle, other)
            if match is not None and (
                best is None
                or (len(match.facts), len(match.changes)) > (len(best.facts), len(best.changes))
            ):
                best = match
        return best

    def _registered(self, mine: str, theirs: str) -> tuple[frozenset[Token], int, bool]:
        """What two lots' registrations share: serials, how many tags, the place."""
        shared = self._shared.get((mine, theirs))
        if shared is None:
            a, b = self._lots[mine].print, self._lots[theirs].print
            near = a.place is not None and b.place is not None and a.place.own in b.place.around
            shared = (a.serials & b.serials, len(a.tags & b.tags), near)
            self._shared[(mine, theirs)] = shared
        return shared

    def _compare(self, handle: str, other: str) -> Match | None:
        s, mine, theirs = self.settings, self._lots[handle], self._lots[other]
        a, b = mine.print, theirs.print
        facts: list[str] = []
        serials, shared_tags, near = self._registered(handle, other)
        if serials:
            facts.append("device_serial")
        if shared_tags >= max(1, s.min_shared_tags) and shared_tags >= s.min_tag_share * min(
            len(a.tags), len(b.tags)
        ):
            facts.append("rfid_tags")
        if near:
            facts.append("site_location")
        my_moves = _moving_with(mine, theirs)
        together = min(len(my_moves), len(_moving_with(theirs, mine)))
        if together >= s.min_comoving_changes and together >= s.min_comoving_share * min(
            len(mine.changes), len(theirs.changes)
        ):
            facts.append("weight_changes")
        if len(facts) < s.min_facts or not STRONG.intersection(facts):
            return None
        return Match(
            facts=tuple(facts),
            serials=serials,
            shared_tags=shared_tags if "rfid_tags" in facts else 0,
            changes=my_moves if "weight_changes" in facts else frozenset(),
        )

    def state(self) -> dict[str, Any]:
        """The weight changes and verdicts, for a checkpoint (the lots' registrations are
        rebuilt from the fleets)."""
        return {
            "changes": {h: list(lot.changes) for h, lot in self._lots.items() if lot.changes},
            "verdicts": dict(self._verdicts),
        }

    def load(self, state: dict[str, Any]) -> None:
        """Take over a `state` of a matcher of the same lots under the same key (changes
        of lots no longer registered are dropped)."""
        for handle, changes in state["changes"].items():
            for at, change in changes:
                self.add_change(handle, at, change)
        self._verdicts = {h: m for h, m in state["verdicts"].items() if h in self._lots}
        self._dirty |= set(self._verdicts)


def _moving_with(mine: _Lot, theirs: _Lot) -> frozenset[Token]:
    """``mine``'s own change tokens that lie in the neighbourhood of one of ``theirs``."""
    around = theirs.around
    if not around:
        return frozenset()
    return frozenset(change.own for _, change in mine.changes if change.own in around)
