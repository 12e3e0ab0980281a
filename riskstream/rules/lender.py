"""Lenders' own rules: each lender's risk admins keep rules of their own, in the database.

A lender's rules are a whole rules text, like the service's file, applied to that
lender's engine alone. Its versions are numbered from 1 in `RulesHistory` under the
lender's scope, and every change is audited in that lender's log only. A lender with no
rules of its own runs on the service's (the file, or the built-in rules).

`LenderRules` validates and records; the runtime puts the rule set in force.
"""

import logging
from collections.abc import Collection

from riskstream.errors import RulesFileError
from riskstream.rules.history import RulesHistory, RulesVersion, digest
from riskstream.rules.schema import RuleSet, parse_rules
from riskstream.rules.tenancy import check_own_rules
from riskstream.service.audit import AuditLog

log = logging.getLogger(__name__)


def source_name(tenant: str) -> str:
    """What error messages call a lender's rules text (in place of a file name)."""
    return f"<rules of lender {tenant}>"


class LenderRules:
    """The own rules of every lender that has them."""

    def __init__(self, history: RulesHistory, audit: AuditLog) -> None:
        """Load each lender's newest version. A version the current code refuses (its
        schema changed) is logged and left out: that lender runs on the service's rules
        until its risk admin saves rules again."""
        self.history = history
        self.audit = audit
        self.rulesets: dict[str, RuleSet] = {}
        self.current: dict[str, RulesVersion] = {}
        for tenant in history.scopes():
            latest = history.latest(tenant)
            if latest is None:
                continue
            try:
                self.rulesets[tenant] = parse_rules(latest.text, source_name(tenant))
            except RulesFileError as exc:
                log.error(
                    "lender %s's rules version %d no longer valid, the service's rules "
                    "apply until its risk admin saves new ones: %s",
                    tenant,
                    latest.version,
                    exc,
                )
                continue
            self.current[tenant] = latest

    def has_own(self, tenant: str) -> bool:
        """Whether ``tenant`` runs on rules of its own."""
        return tenant in self.rulesets

    def check(self, tenant: str, text: str, own_loans: Collection[str]) -> RuleSet:
        """Validate ``text`` as ``tenant``'s rules.

        Raises:
            RulesFileError: not a valid rules text (file, line, field, reason).
            LenderScopeError: it names another lender or a loan not ``tenant``'s.
        """
        ruleset = parse_rules(text, source_name(tenant))
        check_own_rules(ruleset, tenant, own_loans)
        return ruleset

    def save(
        self, tenant: str, text: str, actor: str, own_loans: Collection[str]
    ) -> tuple[RulesVersion, RuleSet]:
        """Validate, record as ``tenant``'s next version and audit; unchanged text is not a
        new version. The caller puts the returned rule set in force.

        Raises:
            RulesFileError, LenderScopeError: see `check`; nothing changed.
        """
        ruleset = self.check(tenant, text, own_loans)
        previous = self.current.get(tenant)
        if previous is not None and previous.sha256 == digest(text):
            return previous, self.rulesets[tenant]
        version = self.history.record(text, "api", actor, scope=tenant)
        self.audit.record(
            tenant=tenant,
            actor=actor,
            action="rules_applied",
            target="rules",
            detail={
                "scope": "lender",
                "version": version.version,
                "sha256": version.sha256,
                "source": "api",
                "previous_version": previous.version if previous is not None else None,
            },
        )
        self.rulesets[tenant] = ruleset
        self.current[tenant] = version
        log.info("lender %s's rules version %d applied by %s", tenant, version.version, actor)
        return version, ruleset
