"""The platform between the lenders' engines and the cross-lender matcher.

It takes each lender's lot facts and weight changes from that lender's
`PledgedElsewhereDetector`, hashes them with the platform key (`FactHasher`), hands the
hashes to the `CrossLenderMatcher` under opaque handles, and hands each verdict back to
the engine of the lender that owns the lot, which maps it to its own facts and raises
or clears its ``pledged_elsewhere`` alert. The handle → lot maps live in each lender's
detector; the matcher sees hashes and handles only.
"""

import math
from typing import Any

from riskstream.detectors.pledged_elsewhere import (
    KIND,
    PledgedElsewhereDetector,
    PledgedElsewhereRule,
)
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.engine.cross_lender import CrossLenderMatcher, LotPrint, MatchSettings
from riskstream.engine.pledge_facts import FactHasher


def match_settings(rule: PledgedElsewhereRule) -> MatchSettings:
    """The matcher's thresholds from the service's ``[rules.pledged_elsewhere]``."""
    return MatchSettings(
        min_facts=rule.min_facts,
        min_shared_tags=rule.min_shared_tags,
        min_tag_share=rule.min_tag_share,
        min_comoving_changes=rule.min_comoving_changes,
        min_comoving_share=rule.min_comoving_share,
        window_s=rule.window,
    )


class PlatformMatch:
    """Feeds the matcher from the lenders' engines and tells them its verdicts."""

    def __init__(self, engines: dict[str, Engine], key: bytes, rule: PledgedElsewhereRule) -> None:
        self.engines = engines
        self.hasher = FactHasher(key)
        self.matcher = CrossLenderMatcher(match_settings(rule))
        self._owner: dict[str, str] = {}  # lender handle → tenant, to hand verdicts back
        active = len(engines) > 1
        for tenant, engine in engines.items():
            side = _side(engine)
            side.matching, side.tracking = rule, active
            if active:
                self._register(tenant, side)

    def _register(self, tenant: str, side: PledgedElsewhereDetector) -> None:
        lender = self.hasher.handle("lender", tenant)
        self._owner[lender] = tenant
        view = side.platform_view
        for facts in side.lot_facts():
            handle = self.hasher.handle("lot", tenant, facts.lot_id)
            view.lots[handle] = facts.lot_id
            serials = frozenset(self.hasher.serial(s) for _, s in facts.serials)
            for pair in facts.serials:
                view.serials[self.hasher.serial(pair[1])] = pair
            place = None if facts.location is None else self.hasher.place(*facts.location)
            tags = frozenset(self.hasher.tag(t) for t in facts.tags)
            self.matcher.set_lot(handle, LotPrint(lender, serials, tags, place))

    def set_rule(self, rule: PledgedElsewhereRule) -> None:
        """Put the service's new thresholds in force (changes kept)."""
        self.matcher.settings = match_settings(rule)
        for engine in self.engines.values():
            _side(engine).matching = rule

    def step(self, now: float) -> list[Alert]:
        """Hash the weight changes the engines found, match, and raise or clear alerts as
        of event time ``now``; return the changed alerts."""
        if not self._owner:
            return []
        for tenant, engine in self.engines.items():
            side = _side(engine)
            scale = math.log1p(side.matching.change_tolerance)
            floor_kg = side.matching.min_change_kg
            for change in side.take_changes():
                size = round(math.log(abs(change.change_kg) / floor_kg) / scale)
                steps = size + 1 if change.change_kg > 0 else -size - 1  # no step 0: signs apart
                near = self.hasher.weight_change(change.bucket, steps)
                side.note_change(near.own, change)
                handle = self.hasher.handle("lot", tenant, change.lot_id)
                self.matcher.add_change(handle, change.at, near)
        self.matcher.expire(now)
        changed: list[Alert] = []
        verdicts = self.matcher.changed_verdicts()
        if not verdicts:
            return changed
        lenders = {tenant: _side(e).platform_view.lots for tenant, e in self.engines.items()}
        for handle, match in verdicts.items():
            for tenant, lots in lenders.items():
                if handle not in lots:
                    continue
                engine = self.engines[tenant]
                side = _side(engine)
                side.forget_changes(now - self.matcher.settings.window_s)
                # the lender's own event time, so its alert tells nothing of the other's
                at = engine.watermark if engine.watermark is not None else now
                alert = side.report(handle, match, at, engine.book, engine.wall_clock())
                if alert is not None:
                    engine.settle([alert], at)
                    changed.append(alert)
        return changed

    def next_due(self) -> float:
        """The earliest event time a `step` without new readings may change anything."""
        return self.matcher.next_expiry() if self._owner else math.inf

    def state(self) -> dict[str, Any]:
        """The matcher's state, for the platform's part of a checkpoint."""
        return self.matcher.state()

    def load(self, state: dict[str, Any]) -> None:
        """Take over a `state` written under the same platform key and fleets."""
        self.matcher.load(state)


def _side(engine: Engine) -> PledgedElsewhereDetector:
    side: PledgedElsewhereDetector = engine.detector(KIND)
    return side
