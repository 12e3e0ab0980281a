"""The risk engine core: a pure, synchronous step from readings to alert changes.

``process(batch)`` feeds readings in event time; ``tick(now)`` runs timers (deadman).
Both return the alerts that were opened, updated or resolved by that step. No I/O
happens here; the only outside input is ``wall_clock``, used for ``detected_at``.

`Engine` assembles the parts, each in its own module: the detectors of the registry,
the routes of readings to them (`riskstream.engine.routing`), the rules in force per
device (`riskstream.engine.scoping`), the clock-driven work and when it is next due
(`riskstream.engine.timers`), and which borrowers are scored when
(`riskstream.engine.rescoring`): borrowers are scored (`borrower_risk`) when their
alerts change, every ``models.snapshot_every`` of event time, and when asked; loan
outcomes (`record_outcome`) train the tenant's outcome model. It keeps what they
learned in one state for checkpoints.
"""

import importlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from devices.model import Fleet
from devices.reading import Reading
from ingest.integrity import OFFLINE, IntegritySignal
from riskstream.detectors.data_integrity import DataIntegrityDetector
from riskstream.detectors.deadman import DeadmanDetector
from riskstream.detectors.registry import REGISTRY
from riskstream.engine.alarm import Alarm
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.checkpoint import apply_state, read_state, state_of, write_state
from riskstream.engine.coverage import LatestCoverage
from riskstream.engine.fleet_index import FleetIndex
from riskstream.engine.rescoring import Rescoring
from riskstream.engine.routing import Router
from riskstream.engine.scoping import Scoping
from riskstream.engine.timers import Timers
from riskstream.rules.schema import RuleSet
from riskstream.rules.scope import RuleScope
from riskstream.scoring.borrower_risk import BorrowerRisk, BorrowerScoring
from riskstream.scoring.outcome_model import LoanEvent

__all__ = ["Engine", "check_meta", "import_models"]

MODEL_MODULES = ("river.anomaly", "river.drift", "river.linear_model", "river.stats")


def import_models() -> None:
    """Import the river modules the detectors build their models from.

    The detectors import them where they build a model, so a command that builds no
    engine starts without them (about a second sooner); an engine imports them when it
    is built, so a live service does not stall for that second at the first production
    hour it closes or the first borrower it scores.
    """
    for name in MODEL_MODULES:
        importlib.import_module(name)


class Engine:
    """Turns readings into alert changes for the registered fleets under a rule set."""

    def __init__(
        self,
        fleets: Iterable[Fleet],
        rules: RuleSet,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        import_models()
        self.index = FleetIndex(fleets)
        self.rules = rules
        self.wall_clock = wall_clock
        self.book = AlertBook(update_every_s=rules.alerts.update_every, settings=rules.alerts)
        self.detectors: dict[str, Any] = {
            spec.name: spec.make(self.index, rules) for spec in REGISTRY
        }
        # used on the hot path or by name elsewhere
        self.deadman: DeadmanDetector = self.detectors["deadman"]
        self.integrity_detector: DataIntegrityDetector = self.detectors["data_integrity"]
        self.inventory = self.detectors["inventory"]
        self.movement = self.detectors["movement"]
        self.operations = self.detectors["operations"]
        self.custom = self.detectors["custom"]
        self.coverage = LatestCoverage(self.index)
        self.scoring = BorrowerScoring(self.coverage, rules)
        self.rescoring = Rescoring(self.index, self.book, self.scoring, rules)
        self.timers = Timers(self.detectors, self.book, self.rescoring.due)
        self.alarm: Alarm = self.timers.alarm
        self.scoping = Scoping(rules, self.index, self.detectors)
        self.router = Router(
            self.index, self.detectors, self, self.book, self.coverage, self.scoping, self.timers
        )
        self.watermark: float | None = None
        self.readings_processed = 0

    @property
    def scope(self) -> RuleScope:
        """The effective rules per device of the rule set in force."""
        return self.scoping.scope

    @property
    def readings_unmatched(self) -> int:
        """Readings of devices (or tenants) not in the fleets, ignored."""
        return self.router.unmatched

    def set_rules(self, rules: RuleSet) -> None:
        """Apply a new rule set; open alerts and detector state are kept."""
        self.rules = rules
        self.book.update_every_s = rules.alerts.update_every
        for spec in REGISTRY:
            spec.use_rules(self.detectors[spec.name], rules)
        self.scoring.set_rules(rules)
        self.rescoring.rules = rules
        self.book.settings = rules.alerts
        self.scoping.apply(rules)
        self.router.reset()  # the watched metrics may differ
        self.timers.invalidate()

    def detector(self, name: str) -> Any:
        """The detector registered as ``name`` (`riskstream.detectors.registry`)."""
        return self.detectors[name]

    def process(self, batch: Sequence[Reading]) -> list[Alert]:
        """Feed readings (in event-time order per device); return changed alerts."""
        return self.process_steps(batch, (len(batch),), (math.inf,))[0]

    def process_steps(
        self,
        batch: Sequence[Reading],
        ends: Sequence[int],
        quiet_until: Sequence[float],
        first: int = 0,
    ) -> tuple[list[Alert], int]:
        """Feed consecutive steps of readings in one call while nothing falls due between
        them; return the changed alerts and the index of the first step not fed.

        Step ``i`` is ``batch[ends[i - 1]:ends[i]]`` (from 0 for the first), fed from
        step ``first`` on. Between step ``i`` and the next, no timer would run before
        ``quiet_until[i]`` (the last tick time between them; inf: stop there). After
        each step but the last the call stops when an alert changed or a timer is due by
        ``quiet_until[i]``, so the caller can run its ticks. What the engine does is then
        what one `process` per step would do: the same readings in the same order, the
        same alerts emitted, the end-of-step scoring at the same event time.
        """
        changed: dict[str, Alert] = {}
        began = ends[first - 1] if first else 0
        seen = -math.inf if self.watermark is None else self.watermark
        i, seen = self.router.feed(
            batch, ends, quiet_until, first, changed, self.wall_clock(), seen
        )
        if seen > -math.inf:
            self.watermark = seen
        self.readings_processed += ends[i - 1] - began
        alerts = list(changed.values())
        if alerts:
            self.timers.invalidate()  # open, resolved, cooling or escalating alerts move timers
        if self.watermark is not None and self.rescoring.rescore(alerts, self.watermark):
            self.timers.invalidate()  # the periodic scoring moved on
        self.rescoring.price(alerts)
        return alerts, i

    def integrity(self, signals: Sequence[IntegritySignal]) -> list[Alert]:
        """Take ingest's data-integrity signals (replays, seq conflicts, bad signatures,
        lost messages); return changed alerts."""
        offline = [s for s in signals if s.kind == OFFLINE]
        if offline:
            for signal in offline:
                self.deadman.declared_offline(signal.tenant, signal.device_id)
            signals = [s for s in signals if s.kind != OFFLINE]
        self.timers.invalidate()  # windows filled, devices declared offline
        alerts = self.integrity_detector.observe(signals, self.book, self.wall_clock())
        if alerts:
            self._settle(alerts, max(s.at for s in signals))
        return alerts

    def next_due(self, *, recheck: bool = False) -> float:
        """The earliest clock time a `tick` may change anything (timers, alert updates
        and escalations, the periodic scoring); ticks before it change nothing, so a
        replay skips them. A lower bound: -inf when it cannot tell.

        The value is kept between calls and worked out anew after something that may
        bring it earlier (a tick, an alert change, ingest's signals, new rules). Readings
        since may have put it later (a device that reported is due later), never earlier
        (`riskstream.engine.alarm`); ``recheck`` asks again the timers kept as due by
        then.
        """
        return self.timers.next_due(recheck=recheck)

    def due_by(self, at: float) -> bool:
        """Whether a tick at or before clock time ``at`` may change anything."""
        return self.timers.due_by(at)

    def tick(self, now: float) -> list[Alert]:
        """Run timers as of clock time ``now`` (event time while data flows)."""
        alerts = self.timers.tick(now, self.wall_clock())
        self._settle(alerts, now)
        return alerts

    def settle(self, alerts: list[Alert], now: float) -> None:
        """Score and price alerts changed outside `process` and `tick` (the platform's
        cross-lender match) as those steps do."""
        self._settle(alerts, now)

    def _settle(self, alerts: list[Alert], now: float) -> None:
        if alerts:
            self.timers.invalidate()  # open, resolved, cooling or escalating alerts move timers
        if self.rescoring.rescore(alerts, now):
            self.timers.scoring_moved()
        self.rescoring.price(alerts)

    def score_all(self, now: float) -> list[BorrowerRisk]:
        """Score every registered borrower as of event time ``now``."""
        return self.rescoring.score_all(now)

    def borrower_risk(self, borrower_id: str) -> BorrowerRisk:
        """Score one borrower now (event time: the watermark); KeyError if unknown."""
        return self.rescoring.borrower_risk(borrower_id, self.watermark, self.wall_clock)

    def record_outcome(self, borrower_id: str, event: LoanEvent, ts: float) -> int:
        """Feed a loan outcome to the tenant's model; return the snapshots it labelled."""
        tenant = self.index.borrowers[borrower_id]
        self.timers.invalidate()
        return self.scoring.outcome(tenant, borrower_id, event, ts)

    def expect_outcomes(self, borrower_ids: Iterable[str]) -> None:
        """Tell the engine which of its borrowers loan outcomes will name (a backtest's
        outcome file), so the outcome model snapshots them from the start, with or
        without a loan (`BorrowerScoring.learns_from`); other ids are ignored."""
        borrowers = self.index.borrowers
        self.scoring.expect_outcomes(b for b in borrower_ids if b in borrowers)

    def open_alerts(self) -> list[Alert]:
        """Alerts currently open or acknowledged."""
        return self.book.open_alerts()

    def keep_learning_of(self, previous: "Engine") -> None:
        """Take over the outcome models and score histories of the engine this one
        replaces (after the fleets changed), so learned loan outcomes are not lost."""
        self.scoring.models = previous.scoring.models
        self.scoring.models.set_settings(self.rules.models)
        self.scoring.history = previous.scoring.history
        self.scoring.matrix_inputs = previous.scoring.matrix_inputs
        self.scoring.outcome_borrowers = previous.scoring.outcome_borrowers

    def _components(self) -> dict[str, object]:
        return {
            "book": self.book,
            **self.detectors,
            "coverage": self.coverage,
            "scoring": self.scoring,
            "models": self.scoring.models,
        }

    def state(self) -> dict[str, Any]:
        """What the engine learned (detectors, open alerts, scores, models), picklable."""
        parts: dict[str, Any] = {name: state_of(c) for name, c in self._components().items()}
        parts["scoring"].pop("models")
        parts["engine"] = {
            "watermark": self.watermark,
            "next_scoring": self.rescoring.next_scoring,
            "readings_processed": self.readings_processed,
            "readings_unmatched": self.readings_unmatched,
        }
        return parts

    def load(self, parts: dict[str, Any]) -> None:
        """Take over a `state` of an engine built from the same fleet; the current rules
        stay in force. A detector the state has no part for (one added since it was
        written) starts afresh."""
        for name, component in self._components().items():
            if name in self.detectors and name not in parts:
                continue
            state = parts[name]
            if name == "scoring":  # checkpoints of before scorings went unexplained
                state = {k: v for k, v in state.items() if k != "latest"}
            apply_state(component, state)
        self.router.reset()  # routes cache what the detectors held before
        self.book.update_every_s = self.rules.alerts.update_every
        self.custom.set_rules(self.rules.rules.custom)  # its caches follow the rules in force
        self.scoping.refresh()
        for model in self.scoring.models.by_tenant.values():
            model.settings = self.rules.models
        engine = parts["engine"]
        self.watermark = engine["watermark"]
        self.rescoring.next_scoring = engine["next_scoring"]
        self.readings_processed = engine["readings_processed"]
        self.router.unmatched = engine["readings_unmatched"]
        self.timers.invalidate()

    def checkpoint(
        self, path: Path | str, meta: dict[str, str] | None = None, *, key: bytes
    ) -> None:
        """Write `state` to a file, authenticated with ``key`` (see `riskstream.engine.checkpoint`).

        ``meta`` (e.g. a digest of the fleets) is stored with it for `restore` to check.
        """
        write_state(path, {**self.state(), "meta": dict(meta or {})}, key=key)

    def restore(self, path: Path | str, meta: dict[str, str] | None = None, *, key: bytes) -> None:
        """Resume from a `checkpoint` of an engine built from the same fleets.

        A file not written with ``key``, or altered, is refused (`CheckpointError`, a
        ValueError) before anything is unpickled. With ``meta``, a checkpoint written with
        other meta values is refused (ValueError) before anything is changed.
        """
        parts = read_state(path, key=key)
        check_meta(path, parts, meta)
        self.load(parts)


def check_meta(path: Path | str, parts: dict[str, Any], meta: dict[str, str] | None) -> None:
    """ValueError if the checkpoint ``parts`` were written with other ``meta`` values."""
    saved = parts.get("meta", {})
    for name, value in (meta or {}).items():
        if saved.get(name) != value:
            raise ValueError(f"{path}: checkpoint was written for another {name}")
