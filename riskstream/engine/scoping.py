"""The rules in force per device: a lender's or a loan's ``[[overrides]]`` over the file's.

Detectors registered with ``scoped`` read their ``[rules.*]`` table as ``rule``; the
engine's feed puts a device's effective rules in force before its reading (`use`) and
the file's back after. The detectors not driven by readings, the deadman (timers) and
data integrity (ingest's signals), get their per-device overrides precomputed.
"""

from collections.abc import Mapping
from typing import Any

from riskstream.detectors.data_integrity import DataIntegrityRule, MessagesLostRule
from riskstream.detectors.deadman import DeadmanRule
from riskstream.detectors.registry import REGISTRY
from riskstream.engine.fleet_index import FleetIndex
from riskstream.rules.schema import Rules, RuleSet
from riskstream.rules.scope import RuleScope

__all__ = ["Scoping"]


class Scoping:
    """A rule set's `RuleScope` over a fleet index, applied to the engine's detectors."""

    def __init__(self, rules: RuleSet, index: FleetIndex, detectors: Mapping[str, Any]) -> None:
        self.index = index
        self.detectors = detectors
        self._scoped = [(spec.name, spec.scoped) for spec in REGISTRY if spec.scoped is not None]
        self.scope: RuleScope
        self.apply(rules)

    def apply(self, rules: RuleSet) -> None:
        """Put ``rules`` in force: its scope, and the overrides of the detectors not
        driven by readings."""
        self.scope = RuleScope(rules, self.index)
        self.detectors["operations"].set_scope(self.scope)
        self.refresh()

    def refresh(self) -> None:
        """Precompute the per-device overrides of the deadman and data integrity (again:
        after a checkpoint's state replaced what they held)."""
        base = self.scope.base
        self.detectors["deadman"].overrides = {
            device_id: rules.table(DeadmanRule)
            for device_id, rules in self.scope.by_device.items()
            if rules.table(DeadmanRule) != base.table(DeadmanRule)
        }
        self.detectors["data_integrity"].overrides = {
            device_id: (rules.table(DataIntegrityRule), rules.table(MessagesLostRule))
            for device_id, rules in self.scope.by_device.items()
            if (rules.table(DataIntegrityRule), rules.table(MessagesLostRule))
            != (base.table(DataIntegrityRule), base.table(MessagesLostRule))
        }

    def use(self, rules: Rules) -> None:
        """Point the detectors that take per-scope rules at ``rules`` (a scope's)."""
        detectors = self.detectors
        for name, table in self._scoped:
            detectors[name].rule = getattr(rules, table)
