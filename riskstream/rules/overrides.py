"""Per-tenant and per-loan overrides of the ``[rules.*]`` thresholds.

An ``[[overrides]]`` entry of the rules file names a ``tenant``, a ``loan`` or both, and
a ``rules`` table holding a subset of the ``[rules.*]`` keys. For readings of that
scope those keys replace the file's values; keys not named keep them. Precedence, from
weakest to strongest: the file's ``[rules.*]``, tenant-only overrides, overrides that
name a loan; among overrides of the same level a later one wins.

Every override is checked against the file's rules when the file is read: an unknown
rule or key, a wrong type or an out-of-range value fails with the override's index and
the key (``overrides.1.rules.inventory_below_pledge.coverage_below``).
"""

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

M = TypeVar("M", bound=BaseModel)


class OverrideError(ValueError):
    """An override that does not fit the rules it overrides.

    Attributes:
        loc: path of the offending key, e.g. ``["overrides", "0", "rules", "x", "for"]``.
        reason: what is wrong.
    """

    def __init__(self, loc: list[str], reason: str) -> None:
        self.loc = loc
        self.reason = reason
        super().__init__(f"{'.'.join(loc)}: {reason}")


class Override(BaseModel):
    """One ``[[overrides]]`` entry: ``[rules.*]`` keys replaced for a lender, a loan or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str | None = Field(None, min_length=1, description="tenant (lender) id")
    loan: str | None = Field(None, min_length=1, description="loan id")
    rules: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="subset of the [rules.*] tables: rule → key → value"
    )

    @model_validator(mode="after")
    def _names_a_scope(self) -> "Override":
        if self.tenant is None and self.loan is None:
            raise ValueError("an override needs `tenant`, `loan` or both")
        return self

    def applies_to(self, tenant: str, loan_id: str | None) -> bool:
        """Whether this override covers readings of ``loan_id`` of ``tenant``."""
        if self.tenant is not None and self.tenant != tenant:
            return False
        return self.loan is None or self.loan == loan_id


def _describe(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling against config/rules.toml)"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{message} (got {error.get('input')!r})"


def apply_override(base: M, patch: dict[str, dict[str, Any]], index: int) -> M:
    """``base`` (the ``[rules.*]`` model) with the keys of ``patch`` replaced.

    Args:
        base: the rules being overridden.
        patch: rule name → key → value, as written in the override.
        index: position of the override in the file (for error paths).

    Raises:
        OverrideError: naming the override, the rule and the key at fault.
    """
    where = ["overrides", str(index), "rules"]
    merged = base.model_dump(by_alias=True)
    for section, values in patch.items():
        if section == "custom":
            raise OverrideError(
                [*where, section],
                "custom rules choose their scope with tenants, devices and sites; "
                "they cannot be overridden",
            )
        if section not in merged:
            raise OverrideError(
                [*where, section], "unknown rule (check the spelling against config/rules.toml)"
            )
        # keys a table's model marks as the whole service's (`RuleTable.service_wide`)
        service_wide: frozenset[str] = getattr(getattr(base, section), "service_wide", frozenset())
        fixed = sorted(service_wide & values.keys())
        if fixed:
            raise OverrideError(
                [*where, section, fixed[0]], "applies to the whole service; set it in [rules.*]"
            )
        merged[section] = {**merged[section], **values}
    try:
        return type(base).model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise OverrideError([*where, *(str(p) for p in first["loc"])], _describe(first)) from exc
