"""What a lender's risk admin may write in its own rules, and may read of the service's.

A lender's own rules apply to its engine alone (`riskstream.rules.lender`), but they must
still not name another lender: every ``[[overrides]]`` names no tenant or the lender's
own, and a ``loan`` only one of the lender's loans. Anything else is refused naming the
field, with the same words whether the other loan or tenant exists or not.

The service's rules (the file) are the default of every lender without its own. A user
reads them without other lenders' ``[[overrides]]`` tables, and with only the warnings
about overrides that are the user's lender's.
"""

import re
from collections.abc import Callable, Collection

from riskstream.errors import RulesFileError
from riskstream.rules.overrides import Override
from riskstream.rules.schema import RuleSet

_OVERRIDE_WARNING = re.compile(r"^overrides\.(\d+) ")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

HIDDEN_NOTE = (
    "# The service's rules as your lender sees them: other lenders' [[overrides]] are left out.\n"
)


class LenderScopeError(ValueError):
    """A rules text reaching beyond the lender's own scope.

    Attributes:
        field: dotted path of what is refused, e.g. ``overrides.2.tenant``.
        reason: what the lender may write instead.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def check_own_rules(proposed: RuleSet, tenant: str, own_loans: Collection[str]) -> None:
    """Raise `LenderScopeError` if ``proposed`` (a lender's own rules) names another lender
    or a loan that is not ``tenant``'s."""
    for i, override in enumerate(proposed.overrides):
        if override.tenant is not None and override.tenant != tenant:
            raise LenderScopeError(
                f"overrides.{i}.tenant",
                f'your rules apply to your lender only: leave tenant out or write "{tenant}"',
            )
        if override.loan is not None and override.loan not in own_loans:
            raise LenderScopeError(f"overrides.{i}.loan", "not a loan of your lender")


def _is_own(override: Override, tenant: str) -> bool:
    return override.tenant is None or override.tenant == tenant


def warnings_for(warnings: list[str], ruleset: RuleSet, tenant: str) -> list[str]:
    """The warnings of the service's rules a user of ``tenant`` may read: those about
    overrides that name its lender."""
    shown = []
    for warning in warnings:
        match = _OVERRIDE_WARNING.match(warning)
        if match is None:
            continue
        index = int(match[1])
        if index < len(ruleset.overrides) and ruleset.overrides[index].tenant == tenant:
            shown.append(warning)
    return shown


def _override_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first line, line after the last) of each ``[[overrides]]`` table with its
    sub-tables, in the order they appear."""
    blocks: list[tuple[int, int]] = []
    start: int | None = None
    for n, line in enumerate(lines):
        match = _HEADER.match(line)
        if match is None:
            continue
        name = match[2].replace(" ", "")
        if start is not None and not (name.startswith("overrides.") and match[1] == "["):
            blocks.append((start, n))
            start = None
        if match[1] == "[[" and name == "overrides":
            start = n
    if start is not None:
        blocks.append((start, len(lines)))
    return blocks


def shown_text(text: str, ruleset: RuleSet, tenant: str, parse: Callable[[str], RuleSet]) -> str:
    """``text`` (the service's rules) without the ``[[overrides]]`` of other lenders.

    The result is checked by parsing it: it must hold exactly the overrides ``tenant``
    may see. When the file writes overrides in a form this cannot cut (inline tables,
    tables out of order), only a note is returned rather than anything of another lender.
    """
    if all(_is_own(o, tenant) for o in ruleset.overrides):
        return text
    lines = text.splitlines(keepends=True)
    blocks = _override_blocks(lines)
    if len(blocks) != len(ruleset.overrides):
        return HIDDEN_NOTE + "# (they are written in a form that cannot be cut out here)\n"
    dropped: set[int] = set()
    for (first, end), override in zip(blocks, ruleset.overrides, strict=True):
        if not _is_own(override, tenant):
            dropped.update(range(first, end))
    kept = HIDDEN_NOTE + "".join(line for n, line in enumerate(lines) if n not in dropped)
    expected = [o for o in ruleset.overrides if _is_own(o, tenant)]
    try:
        if parse(kept).overrides == expected:
            return kept
    except RulesFileError:
        pass
    return HIDDEN_NOTE + "# (they are written in a form that cannot be cut out here)\n"
