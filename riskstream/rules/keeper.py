"""The service's rules in force: applied from the file or the API, versioned and audited.

`RulesKeeper` validates a rules text before anything changes; a valid text is applied
to the engine (through the ``apply`` callback the runtime hands in), recorded as the
next version in `RulesHistory` and written to the audit log (one entry per registered
tenant, as the rules apply to all of them). An invalid file edit changes nothing: the
last good rules stay in force and the error (file, line, field, reason) is kept in
``last_error`` for ``GET /api/rules``, logged, and audited as ``rules_rejected``.
"""

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from riskstream.errors import RulesFileError
from riskstream.rules.history import RulesHistory, RulesVersion, Source, digest
from riskstream.rules.schema import RuleSet, parse_rules
from riskstream.service.audit import AuditLog

log = logging.getLogger(__name__)

BUILT_IN = "<built-in rules>"


def built_in_text() -> str:
    """The packaged default rules file (identical to ``config/rules.toml``)."""
    return resources.files("riskstream").joinpath("data/rules.toml").read_text(encoding="utf-8")


class NoRulesFileError(RuntimeError):
    """The service runs on built-in rules, so there is no file to save rules to."""


@dataclass(frozen=True)
class RulesRejection:
    """Why a rules text was not applied.

    Attributes:
        at: wall time of the attempt.
        source: ``file`` (the watched file changed) or ``api``.
        file: the rules file named in the message.
        line: 1-based line of the problem, when known.
        field: dotted field, e.g. ``rules.inventory_below_pledge.for``, when known.
        reason: what is wrong.
        message: the whole message, ``file:line: field: reason``.
        sha256: digest of the rejected text (None when the file could not be read).
    """

    at: float
    source: Source
    file: str
    line: int | None
    field: str | None
    reason: str
    message: str
    sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def rejection(exc: RulesFileError, source: Source, text: str | None) -> RulesRejection:
    """A `RulesRejection` from a `RulesFileError`."""
    return RulesRejection(
        at=time.time(),
        source=source,
        file=str(exc.path),
        line=exc.line,
        field=exc.field,
        reason=exc.reason,
        message=str(exc),
        sha256=digest(text) if text is not None else None,
    )


class RulesKeeper:
    """Owns the rules in force for a running service."""

    def __init__(
        self,
        path: Path | None,
        history: RulesHistory,
        audit: AuditLog,
        apply: Callable[[RuleSet], list[str]],
        tenants: Callable[[], list[str]],
    ) -> None:
        """Read the rules (the file, or the built-in ones) and record them if new.

        Args:
            path: the rules file, or None for the built-in rules.
            history: where versions are recorded.
            audit: where changes are audited.
            apply: puts a rule set in force; returns warnings (e.g. overrides that
                match no registered loan).
            tenants: the registered tenants (audit entries go to each).

        Raises:
            RulesFileError: the file cannot be used (the service must not start on it).
        """
        self.path = path
        self.history = history
        self.audit = audit
        self._apply = apply
        self._tenants = tenants
        self.last_error: RulesRejection | None = None
        self.on_applied: Callable[[RulesVersion], None] | None = None
        """Told of every version put in force after the first (a cluster's API tier
        sends it to the risk workers)."""
        text = path.read_text(encoding="utf-8") if path is not None else built_in_text()
        self.ruleset = parse_rules(text, path or BUILT_IN)
        self.warnings: list[str] = []
        latest = history.latest()
        if latest is not None and latest.sha256 == digest(text):
            self.current = latest
        else:
            self.current = history.record(text, "startup", path=self._path_text())
            self._audit("system", "rules_applied", self._detail(self.current, latest))

    def _path_text(self) -> str | None:
        return str(self.path) if self.path is not None else None

    def _audit(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        for tenant in self._tenants() or ["-"]:
            self.audit.record(
                tenant=tenant, actor=actor, action=action, target="rules", detail=detail
            )

    @staticmethod
    def _detail(version: RulesVersion, previous: RulesVersion | None) -> dict[str, Any]:
        return {
            "version": version.version,
            "sha256": version.sha256,
            "source": version.source,
            "path": version.path,
            "previous_version": previous.version if previous is not None else None,
        }

    def check(self, text: str) -> RuleSet:
        """Validate ``text`` as this service's rules file; `RulesFileError` if unusable."""
        return parse_rules(text, self.path or BUILT_IN)

    def apply_text(self, text: str, source: Source, actor: str | None = None) -> RulesVersion:
        """Validate and put ``text`` in force; unchanged text is not a new version.

        Raises:
            RulesFileError: the text is not valid; nothing changed.
        """
        try:
            ruleset = self.check(text)
        except RulesFileError as exc:
            self._reject(exc, source, actor, text)
            raise
        self.last_error = None
        if digest(text) == self.current.sha256:
            return self.current
        self.warnings = self._apply(ruleset)
        self.ruleset = ruleset
        previous = self.current
        self.current = self.history.record(text, source, actor, self._path_text())
        self._audit(actor or "system", "rules_applied", self._detail(self.current, previous))
        if self.on_applied is not None:
            self.on_applied(self.current)
        log.info(
            "rules version %d applied (%s%s)",
            self.current.version,
            source,
            f" by {actor}" if actor else "",
        )
        for warning in self.warnings:
            log.warning("rules version %d: %s", self.current.version, warning)
        return self.current

    def _reject(
        self, exc: RulesFileError, source: Source, actor: str | None, text: str | None
    ) -> None:
        if source == "api":
            return  # the caller gets the error in its response; the live rules are untouched
        self.last_error = rejection(exc, source, text)
        log.warning("rules file rejected, version %d stays in force: %s", self.current.version, exc)
        self._audit(
            actor or "system",
            "rules_rejected",
            {**self.last_error.to_dict(), "kept_version": self.current.version},
        )

    def reload_file(self) -> RulesVersion | None:
        """Re-read the watched file and apply it; None if it was refused (see last_error)."""
        if self.path is None:
            return None
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            error = RulesFileError(self.path, f"cannot read: {exc.strerror or exc}", None, None)
            if self.last_error is None or self.last_error.message != str(error):
                self._reject(error, "file", None, None)
            return None
        try:
            return self.apply_text(text, "file")
        except RulesFileError:
            return None

    def save(self, text: str, actor: str) -> RulesVersion:
        """Validate, write the rules file atomically, apply and audit (``PUT /api/rules``).

        Raises:
            RulesFileError: the text is not valid; nothing changed.
            NoRulesFileError: the service runs on built-in rules.
        """
        if self.path is None:
            raise NoRulesFileError(
                "the service runs on its built-in rules; start it with --rules FILE to edit them"
            )
        self.check(text)
        tmp = self.path.with_name(f".{self.path.name}.saving")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        return self.apply_text(text, "api", actor)

    def status(self) -> dict[str, Any]:
        """What ``GET /api/rules`` shows."""
        return {
            **self.current.to_dict(),
            "editable": self.path is not None,
            "last_error": self.last_error.to_dict() if self.last_error is not None else None,
            "warnings": list(self.warnings),
        }
