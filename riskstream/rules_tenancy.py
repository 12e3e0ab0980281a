"""What one lender's risk admin may change in the service's rules, and may be told of them.

The rules file is the service's: its ``[rules.*]``, ``[alerts]``, ``[scorecard]`` and
other tables apply to every lender, and ``[[overrides]]`` tailor them per lender or loan.
While one lender is registered its risk admins edit the whole file. Once several are,
a lender's admin changes only what is its own: overrides that name its tenant (and, if
they name a loan, one of its loans). The default tables and other lenders' overrides
must come back exactly as they are in force; anything else is refused naming the field,
and no refusal or warning tells whether another lender's loan or tenant exists.
"""

import re
from collections.abc import Collection

from riskstream.rules_file import RuleSet
from riskstream.rules_overrides import Override

_OVERRIDE_WARNING = re.compile(r"^overrides\.(\d+) ")


class LenderScopeError(ValueError):
    """A rules change reaching beyond the lender's own scope.

    Attributes:
        field: dotted path of what may not change, e.g. ``overrides.2.tenant``.
        reason: what the lender may do instead.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _not_own(overrides: list[Override], tenant: str) -> list[Override]:
    return [o for o in overrides if o.tenant != tenant]


def check_lender_change(
    current: RuleSet,
    proposed: RuleSet,
    tenant: str,
    lenders: Collection[str],
    own_loans: Collection[str],
) -> None:
    """Raise `LenderScopeError` if ``proposed`` changes what ``tenant`` does not own."""
    if set(lenders) <= {tenant}:
        return
    for name in RuleSet.model_fields:
        if name != "overrides" and getattr(proposed, name) != getattr(current, name):
            raise LenderScopeError(
                name,
                "the service's default rules apply to other lenders too; write your "
                f'values as [[overrides]] with tenant = "{tenant}"',
            )
    kept = _not_own(current.overrides, tenant)
    for i, override in enumerate(proposed.overrides):
        if override.tenant == tenant:
            if override.loan is not None and override.loan not in own_loans:
                raise LenderScopeError(f"overrides.{i}.loan", "not a loan of your lender")
        elif override not in kept:
            if override.tenant is None:
                raise LenderScopeError(
                    f"overrides.{i}.tenant", f'name your lender: tenant = "{tenant}"'
                )
            raise LenderScopeError(
                f"overrides.{i}.tenant",
                "overrides of other lenders must stay as they are in force; change only yours",
            )
    if _not_own(proposed.overrides, tenant) != kept:
        raise LenderScopeError(
            "overrides",
            "overrides of other lenders must stay as they are in force; change only yours",
        )


def warnings_for(warnings: list[str], ruleset: RuleSet, tenant: str) -> list[str]:
    """The warnings a user of ``tenant`` may read: those about its own overrides."""
    shown = []
    for warning in warnings:
        match = _OVERRIDE_WARNING.match(warning)
        if match is None:
            continue
        index = int(match[1])
        if index < len(ruleset.overrides) and ruleset.overrides[index].tenant == tenant:
            shown.append(warning)
    return shown
