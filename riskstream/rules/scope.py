"""Which ``[rules.*]`` apply to each device: the file's, or an override's for its tenant or loan.

Built once per rule set (`Engine.set_rules`), so the hot path pays one dict lookup per
reading, and only when the file has overrides: ``by_device`` holds the effective rules
of every registered device whose tenant or loan an override covers. Loans sharing the
same overrides share one rules object.
"""

from typing import TYPE_CHECKING

from devices.reading import Reading
from riskstream.engine.fleet_index import FleetIndex
from riskstream.rules.overrides import apply_override

if TYPE_CHECKING:
    from riskstream.rules.schema import Rules, RuleSet


class RuleScope:
    """Effective rules per (tenant, loan) and per device, precomputed."""

    def __init__(self, ruleset: "RuleSet", index: FleetIndex) -> None:
        self.base: Rules = ruleset.rules
        self.by_loan: dict[tuple[str, str | None], Rules] = {}
        self.by_device: dict[str, Rules] = {}
        self.warnings: list[str] = []
        overrides = ruleset.overrides
        if not overrides:
            return
        loans = {(d.tenant, d.loan_id) for d in index.devices.values()}
        loans |= {(c.tenant, c.loan_id) for c in index.collateral.values()}
        merged: dict[tuple[int, ...], Rules] = {}
        for tenant, loan_id in loans:
            ranked = sorted(
                (o.loan is not None, i)
                for i, o in enumerate(overrides)
                if o.rules and o.applies_to(tenant, loan_id)
            )
            if not ranked:
                continue
            chain = tuple(i for _, i in ranked)
            if chain not in merged:
                rules = self.base
                for i in chain:
                    rules = apply_override(rules, overrides[i].rules, i)
                merged[chain] = rules
            self.by_loan[(tenant, loan_id)] = merged[chain]
        for device in index.devices.values():
            scoped = self.by_loan.get((device.tenant, device.loan_id))
            if scoped is not None:
                self.by_device[device.device_id] = scoped
        tenants = set(index.borrowers.values())
        for i, override in enumerate(overrides):
            if override.tenant is not None and override.tenant not in tenants:
                continue  # another lender's engine judges it (`LenderEngines.warnings`)
            if not any(override.applies_to(t, loan) for t, loan in loans):
                scope = ", ".join(
                    f"{k} {v!r}"
                    for k, v in (("tenant", override.tenant), ("loan", override.loan))
                    if v is not None
                )
                self.warnings.append(f"overrides.{i} ({scope}) matches no registered loan")

    def of(self, tenant: str, loan_id: str | None) -> "Rules":
        """The rules in force for ``loan_id`` of ``tenant``."""
        if not self.by_loan:
            return self.base
        return self.by_loan.get((tenant, loan_id), self.base)

    def of_reading(self, reading: Reading) -> "Rules":
        """The rules in force for the device of ``reading``."""
        return self.by_device.get(reading.device_id, self.base)
