"""One engine per lender: a lender's ids, rules and learned state are its own.

Borrower, loan, site, collateral and device ids are unique only within a lender, so two
lenders may both have a borrower ``b001``. `LenderEngines` keeps one `Engine` per
registered lender, each built from that lender's fleet alone and run under that lender's
rules (its own, or the service's default), and routes every reading and integrity signal
to the engine of its tenant. Timers, checkpoints and the learned outcome models go
through all of them. Nothing one engine holds is visible to another.

The one thing the platform tells lenders across engines is that goods look pledged to
another lender too (`riskstream.engine.platform_match`): with several lenders, after every
step the platform matches their lots' hashed facts, keyed with ``platform_key``, and each
engine raises ``pledged_elsewhere`` on its own matched lots.
"""

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from devices.model import Fleet
from devices.reading import Reading
from ingest.integrity import IntegritySignal
from riskstream.detectors.pledged_elsewhere import PledgedElsewhereRule
from riskstream.engine.alerts import Alert
from riskstream.engine.checkpoint import read_state, write_state
from riskstream.engine.core import Engine, check_meta
from riskstream.engine.platform_match import PlatformMatch
from riskstream.rules.schema import RuleSet
from riskstream.scoring.outcome_model import LoanEvent


class LenderEngines:
    """The engines of every registered lender, behind the calls the service makes."""

    def __init__(
        self,
        fleets: Iterable[Fleet],
        default_rules: RuleSet,
        own_rules: dict[str, RuleSet] | None = None,
        wall_clock: Callable[[], float] = time.time,
        platform_key: bytes | None = None,
        match_across_lenders: bool = True,
    ) -> None:
        """Build one engine per fleet; ``platform_key`` keys the cross-lender match's
        hashes (`riskstream.engine.platform_key`; None: a random key of this object).
        ``match_across_lenders`` false: no cross-lender match (a cluster partition, which
        sees only some lenders' borrowers)."""
        self.default_rules = default_rules
        self.own_rules: dict[str, RuleSet] = dict(own_rules or {})
        self.wall_clock = wall_clock
        self.by_tenant: dict[str, Engine] = {
            fleet.tenant.id: Engine([fleet], self.rules_of(fleet.tenant.id), wall_clock)
            for fleet in fleets
        }
        self.readings_without_lender = 0
        self._empty: Engine | None = None
        self.platform_key = platform_key if platform_key is not None else secrets.token_bytes(32)
        self.platform = PlatformMatch(
            self.by_tenant if match_across_lenders else {},
            self.platform_key,
            default_rules.rules.table(PledgedElsewhereRule),
        )

    def rules_of(self, tenant: str) -> RuleSet:
        """The rules in force for ``tenant``: its own if it has them, else the default."""
        return self.own_rules.get(tenant, self.default_rules)

    def of(self, tenant: str) -> Engine:
        """The engine of ``tenant``; an empty one (no devices) for a lender with no fleet."""
        engine = self.by_tenant.get(tenant)
        if engine is not None:
            return engine
        if self._empty is None:
            self._empty = Engine([], self.default_rules, self.wall_clock)
        return self._empty

    @property
    def watermark(self) -> float | None:
        """The latest event time any engine has seen."""
        marks = [e.watermark for e in self.by_tenant.values() if e.watermark is not None]
        return max(marks) if marks else None

    @property
    def readings_processed(self) -> int:
        return sum(e.readings_processed for e in self.by_tenant.values())

    @property
    def readings_unmatched(self) -> int:
        unmatched = sum(e.readings_unmatched for e in self.by_tenant.values())
        return unmatched + self.readings_without_lender

    def process(self, batch: Sequence[Reading]) -> list[Alert]:
        """Feed each reading to its lender's engine; return the changed alerts."""
        engines = self.by_tenant
        if len(engines) == 1:
            # that engine counts another tenant's reading as unmatched
            return next(iter(engines.values())).process(batch)
        by_tenant: dict[str, list[Reading]] = {}
        for reading in batch:
            readings = by_tenant.get(reading.tenant)
            if readings is None:
                readings = by_tenant[reading.tenant] = []
            readings.append(reading)
        changed: list[Alert] = []
        for tenant, readings in by_tenant.items():
            engine = engines.get(tenant)
            if engine is None:
                self.readings_without_lender += len(readings)
            else:
                changed += engine.process(readings)
        watermark = self.watermark
        if watermark is not None:
            changed += self.platform.step(watermark)
        return changed

    def process_steps(
        self,
        batch: Sequence[Reading],
        ends: Sequence[int],
        quiet_until: Sequence[float],
        first: int = 0,
    ) -> tuple[list[Alert], int]:
        """Feed steps of ``batch`` (see `Engine.process_steps`): one lender's engine takes
        them as it would alone; with several, the platform's match runs after every
        step, so one step per call."""
        if len(self.by_tenant) == 1:
            engine = next(iter(self.by_tenant.values()))
            return engine.process_steps(batch, ends, quiet_until, first)
        start = ends[first - 1] if first else 0
        return self.process(batch[start : ends[first]]), first + 1

    def integrity(self, signals: Sequence[IntegritySignal]) -> list[Alert]:
        """Ingest's data-integrity signals, each to its lender's engine."""
        changed: list[Alert] = []
        for tenant, engine in self.by_tenant.items():
            own = [s for s in signals if s.tenant == tenant]
            if own:
                changed += engine.integrity(own)
        return changed

    def tick(self, now: float) -> list[Alert]:
        """Run every engine's timers as of ``now``."""
        changed: list[Alert] = []
        for engine in self.by_tenant.values():
            changed += engine.tick(now)
        changed += self.platform.step(now)
        return changed

    def next_due(self, *, recheck: bool = False) -> float:
        """The earliest clock time a `tick` may change anything (see `Engine.next_due`)."""
        engines = self.by_tenant.values()
        return min([self.platform.next_due(), *(e.next_due(recheck=recheck) for e in engines)])

    def record_outcome(self, borrower_id: str, event: LoanEvent, ts: float) -> int:
        """Feed a loan outcome to the lender that has ``borrower_id``; KeyError if none
        or several have it (ids are the lenders' own)."""
        owners = [e for e in self.by_tenant.values() if borrower_id in e.index.borrowers]
        if len(owners) != 1:
            raise KeyError(borrower_id)
        return owners[0].record_outcome(borrower_id, event, ts)

    def expect_outcomes(self, borrower_ids: Iterable[str]) -> None:
        """`Engine.expect_outcomes` on every lender (each takes its own borrowers)."""
        named = list(borrower_ids)
        for engine in self.by_tenant.values():
            engine.expect_outcomes(named)

    def open_alerts(self) -> list[Alert]:
        """Every lender's open (or acknowledged) alerts."""
        return [a for e in self.by_tenant.values() for a in e.open_alerts()]

    def set_default_rules(self, rules: RuleSet) -> None:
        """Put the service's rules in force for every lender without rules of its own."""
        self.default_rules = rules
        self.platform.set_rule(rules.rules.table(PledgedElsewhereRule))
        for tenant, engine in self.by_tenant.items():
            if tenant not in self.own_rules:
                engine.set_rules(rules)

    def set_own_rules(self, tenant: str, rules: RuleSet) -> None:
        """Put ``tenant``'s own rules in force for its engine."""
        self.own_rules[tenant] = rules
        engine = self.by_tenant.get(tenant)
        if engine is not None:
            engine.set_rules(rules)

    def warnings_of(self, tenant: str) -> list[str]:
        """What ``tenant``'s engine found doubtful in its rules (overrides that match no
        loan of that lender)."""
        engine = self.by_tenant.get(tenant)
        return list(engine.scope.warnings) if engine is not None else []

    def default_warnings(self) -> list[str]:
        """The warnings of the service's rules, from every engine that runs them, plus
        overrides naming a lender that has no fleet."""
        warnings: dict[str, None] = {}
        for tenant, engine in self.by_tenant.items():
            if tenant not in self.own_rules:
                warnings.update(dict.fromkeys(engine.scope.warnings))
        for i, override in enumerate(self.default_rules.overrides):
            if override.tenant is not None and override.tenant not in self.by_tenant:
                scope = ", ".join(
                    f"{k} {v!r}"
                    for k, v in (("tenant", override.tenant), ("loan", override.loan))
                    if v is not None
                )
                warnings[f"overrides.{i} ({scope}) matches no registered loan"] = None
        return list(warnings)

    def keep_learning_of(self, previous: "LenderEngines") -> None:
        """Take over what the engines this set replaces learned of loan outcomes."""
        for tenant, engine in self.by_tenant.items():
            old = previous.by_tenant.get(tenant)
            if old is not None:
                engine.keep_learning_of(old)

    def checkpoint(self, path: Path | str, meta: dict[str, str], *, key: bytes) -> None:
        """Write every engine's state to one authenticated file."""
        lenders = {tenant: engine.state() for tenant, engine in self.by_tenant.items()}
        state = {"meta": dict(meta), "lenders": lenders, "platform": self.platform.state()}
        write_state(path, state, key=key)

    def restore(self, path: Path | str, meta: dict[str, str], *, key: bytes) -> None:
        """Resume every engine from a `checkpoint` of the same fleets (see
        `Engine.restore` for what is refused); ValueError if a lender is missing."""
        parts = read_state(path, key=key)
        check_meta(path, parts, meta)
        lenders: dict[str, Any] = parts.get("lenders", {})
        missing = sorted(set(self.by_tenant) - set(lenders))
        if missing:
            raise ValueError(f"{path}: checkpoint has no state of lender {missing[0]!r}")
        for tenant, engine in self.by_tenant.items():
            engine.load(lenders[tenant])
        if "platform" in parts:  # a checkpoint of an older riskstream has none
            self.platform.load(parts["platform"])
