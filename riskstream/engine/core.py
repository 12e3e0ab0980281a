"""The risk engine core: a pure, synchronous step from readings to alert changes.

``process(batch)`` feeds readings in event time; ``tick(now)`` runs timers (deadman).
Both return the alerts that were opened, updated or resolved by that step. No I/O
happens here; the only outside input is ``wall_clock``, used for ``detected_at``.

Borrowers are scored (`borrower_risk`) when their alerts change, every
``models.snapshot_every`` of event time, and when asked; loan outcomes
(`record_outcome`) train the tenant's outcome model.
"""

import math
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from devices.model import DeviceKind, Fleet
from devices.reading import Reading
from ingest.integrity import OFFLINE, IntegritySignal
from riskstream.detectors.data_integrity import (
    DataIntegrityDetector,
    DataIntegrityRule,
    MessagesLostRule,
)
from riskstream.detectors.deadman import DeadmanDetector, DeadmanRule
from riskstream.detectors.registry import REGISTRY, DetectorSpec
from riskstream.engine.alarm import Alarm
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.checkpoint import apply_state, read_state, state_of, write_state
from riskstream.engine.coverage import LatestCoverage
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.schema import Rules, RuleSet
from riskstream.rules.scope import RuleScope
from riskstream.scoring import alert_score
from riskstream.scoring.borrower_risk import BorrowerRisk, BorrowerScoring
from riskstream.scoring.outcome_model import LoanEvent

Handler = Callable[[Reading, DeviceContext, float, dict[str, Alert]], None]
"""What one reading goes through: (reading, its device, wall time, changed alerts by id)."""


class Route:
    """A device as the engine sees it, and the handler of each metric it has sent."""

    __slots__ = ("device", "handlers", "last_seen")

    def __init__(self, device: DeviceContext | None, handlers: dict[str, Handler | None]) -> None:
        self.device = device
        self.handlers = handlers
        # the latest event time of its readings this engine saw (the deadman's own
        # `last_seen` is the authority: its first tick dates devices never heard from)
        self.last_seen = -math.inf


def _run_two(
    first: Handler,
    second: Handler,
    reading: Reading,
    device: DeviceContext,
    wall: float,
    changed: dict[str, Alert],
) -> None:
    first(reading, device, wall, changed)
    second(reading, device, wall, changed)


def _run_steps(
    steps: tuple[Handler, ...],
    reading: Reading,
    device: DeviceContext,
    wall: float,
    changed: dict[str, Alert],
) -> None:
    for step in steps:
        step(reading, device, wall, changed)


class Engine:
    """Turns readings into alert changes for the registered fleets under a rule set."""

    def __init__(
        self,
        fleets: Iterable[Fleet],
        rules: RuleSet,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
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
        # the next due time of the timers, kept between ticks (`next_due`); detectors
        # that bring a due time earlier on a reading ring the alarm
        self._due: float | None = None
        self._dues: list[float] = []  # of each part (`_due_of`) when last asked
        self.alarm = Alarm()
        for detector in self.detectors.values():
            if hasattr(detector, "alarm"):
                detector.alarm = self.alarm
        self._timed: list[tuple[DetectorSpec, Any]] = [
            (spec, self.detectors[spec.name]) for spec in REGISTRY if spec.tick is not None
        ]
        self.coverage = LatestCoverage(self.index)
        self.scoring = BorrowerScoring(self.coverage, rules)
        self._next_scoring: float | None = None
        self.watermark: float | None = None
        self.readings_processed = 0
        self.readings_unmatched = 0
        self.scope = RuleScope(rules, self.index)
        self.operations.set_scope(self.scope)
        self._apply_scope()
        # each device's handlers, built on its first reading of each metric
        self._routes: dict[str, Route] = {}
        self._tables: dict[tuple[DeviceKind, bool] | None, dict[str, Handler | None]] = {}

    def set_rules(self, rules: RuleSet) -> None:
        """Apply a new rule set; open alerts and detector state are kept."""
        self.rules = rules
        self.book.update_every_s = rules.alerts.update_every
        for spec in REGISTRY:
            spec.use_rules(self.detectors[spec.name], rules)
        self.scoring.set_rules(rules)
        self.book.settings = rules.alerts
        self.scope = RuleScope(rules, self.index)
        self.operations.set_scope(self.scope)
        self._apply_scope()
        self._routes, self._tables = {}, {}  # the watched metrics may differ
        self._due = None

    def detector(self, name: str) -> Any:
        """The detector registered as ``name`` (`riskstream.detectors.registry`)."""
        return self.detectors[name]

    def _use_rules(self, rules: Rules) -> None:
        """Point the detectors that take per-scope rules at ``rules`` (a scope's)."""
        for spec in REGISTRY:
            if spec.scoped is not None:
                self.detectors[spec.name].rule = getattr(rules, spec.scoped)

    def _apply_scope(self) -> None:
        """Precomputed per-device overrides for the detectors not driven by readings: the
        deadman (timers) and data integrity (ingest's signals)."""
        base = self.scope.base
        self.deadman.overrides = {
            device_id: rules.table(DeadmanRule)
            for device_id, rules in self.scope.by_device.items()
            if rules.table(DeadmanRule) != base.table(DeadmanRule)
        }
        self.integrity_detector.overrides = {
            device_id: (rules.table(DataIntegrityRule), rules.table(MessagesLostRule))
            for device_id, rules in self.scope.by_device.items()
            if (rules.table(DataIntegrityRule), rules.table(MessagesLostRule))
            != (base.table(DataIntegrityRule), base.table(MessagesLostRule))
        }

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
        i = self._feed(batch, ends, quiet_until, first, changed, self.wall_clock())
        self.readings_processed += ends[i - 1] - began
        alerts = list(changed.values())
        if alerts:
            self._due = None  # open, resolved, cooling or escalating alerts move timers
        if self.watermark is not None:
            self._rescore(alerts, self.watermark)
        self._price(alerts)
        return alerts, i

    def _feed(
        self,
        batch: Sequence[Reading],
        ends: Sequence[int],
        quiet_until: Sequence[float],
        i: int,
        changed: dict[str, Alert],
        wall: float,
    ) -> int:
        """Route the readings of steps ``i`` on to their handlers, noting alert changes in
        ``changed``, until `process_steps` says stop; return the first step not fed."""
        routes = self._routes
        watermark = -math.inf if self.watermark is None else self.watermark
        scoped = self.scope.by_device
        base_rules = self.scope.base
        in_force: Rules | None = None
        last_seen, silent = self.deadman.last_seen, self.deadman.silent
        never = -math.inf
        alarm = self.alarm
        start = ends[i - 1] if i else 0
        last = len(ends) - 1
        while True:
            end = ends[i]
            for reading in batch[start:end] if start or end < len(batch) else batch:
                device_id = reading.device_id
                route = routes.get(device_id)
                if route is None:
                    route = self._route(device_id)
                device = route.device
                if device is None or device.tenant != reading.tenant:
                    self.readings_unmatched += 1
                    continue
                if scoped:
                    effective = scoped.get(device_id, base_rules)
                    if effective is not in_force:
                        self._use_rules(effective)
                        in_force = effective
                ts = reading.ts
                if ts > watermark:
                    watermark = ts
                # the deadman's bookkeeping, inline; a device's readings often share a time
                if ts > route.last_seen:
                    route.last_seen = ts
                    if ts > last_seen.get(device_id, never):
                        last_seen[device_id] = ts
                if device_id in silent:
                    alert = self.deadman.seen(reading, device, self.book)
                    if alert is not None:
                        changed[alert.id] = alert
                try:
                    handler = route.handlers[reading.metric]
                except KeyError:
                    handler = route.handlers[reading.metric] = self._handler(device, reading.metric)
                if handler is not None:
                    handler(reading, device, wall, changed)
            start = end
            i += 1
            if i > last or changed:
                break
            quiet = quiet_until[i - 1]
            # `due_by` in short: nothing is due before the kept due time and the alarm
            due = self._due
            if due is None or quiet >= due or quiet >= alarm.at:
                if in_force is not None and in_force is not base_rules:
                    self._use_rules(base_rules)  # the timers read the service's rules
                    in_force = base_rules
                if self.due_by(quiet):
                    break
        if in_force is not None and in_force is not base_rules:
            self._use_rules(base_rules)
        if watermark > -math.inf:
            self.watermark = watermark
        return i

    def _route(self, device_id: str) -> Route:
        device = self.index.devices.get(device_id)
        # a handler depends only on the device's kind and whether it weighs a lot: devices
        # alike share one table
        profile = None if device is None else (device.kind, device.collateral_id is not None)
        handlers = self._tables.setdefault(profile, {})
        route = self._routes[device_id] = Route(device, handlers)
        return route

    def _handler(self, device: DeviceContext, metric: str) -> Handler | None:
        """What a reading of ``metric`` from ``device`` goes through, in registry order."""
        steps: list[Handler] = []
        if metric == "weight_kg" and device.collateral_id is not None:
            steps.append(self._on_weight)
        for spec in REGISTRY:
            detector = self.detectors[spec.name]
            for route in spec.routes:
                if route.watches(detector, device, metric):
                    steps.append(partial(route.step, detector, self))
        if not steps:
            return None
        if len(steps) == 1:
            return steps[0]
        if len(steps) == 2:
            return partial(_run_two, steps[0], steps[1])
        return partial(_run_steps, tuple(steps))

    def _on_weight(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        """The lot's latest weight, for coverage and the borrower score."""
        self.coverage.observe(reading.device_id, reading.value)

    def integrity(self, signals: Sequence[IntegritySignal]) -> list[Alert]:
        """Take ingest's data-integrity signals (replays, seq conflicts, bad signatures,
        lost messages); return changed alerts."""
        offline = [s for s in signals if s.kind == OFFLINE]
        if offline:
            for signal in offline:
                self.deadman.declared_offline(signal.tenant, signal.device_id)
            signals = [s for s in signals if s.kind != OFFLINE]
        self._due = None  # windows filled, devices declared offline
        alerts = self.integrity_detector.observe(signals, self.book, self.wall_clock())
        if alerts:
            self._rescore(alerts, max(s.at for s in signals))
            self._price(alerts)
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
        if self._due is None:
            self._dues = [self._due_of(part) for part in range(len(self._timed) + 2)]
        elif recheck:
            by = min(self._due, self.alarm.at)
            rang = self.alarm.at < math.inf
            dues = self._dues
            for part, due in enumerate(dues):
                if rang or due <= by:
                    dues[part] = self._due_of(part)
        else:
            return min(self._due, self.alarm.at)
        self.alarm.reset()
        self._due = min(self._dues)
        return self._due

    def due_by(self, at: float) -> bool:
        """Whether a tick at or before clock time ``at`` may change anything."""
        if at == math.inf:
            return True
        return self.next_due() <= at and self.next_due(recheck=True) <= at

    def _due_of(self, part: int) -> float:
        """The next due time of the periodic scoring (0), the alert book (1) or a timed
        detector (2 on)."""
        if part == 0:
            return -math.inf if self._next_scoring is None else self._next_scoring
        if part == 1:
            return self.book.next_due()
        spec, detector = self._timed[part - 2]
        return -math.inf if spec.next_due is None else spec.next_due(detector, self.book)

    def tick(self, now: float) -> list[Alert]:
        """Run timers as of clock time ``now`` (event time while data flows)."""
        wall = self.wall_clock()
        alerts: list[Alert] = []
        for spec, detector in self._timed:
            assert spec.tick is not None
            alerts += spec.tick(detector, now, self.book, wall)
        alerts += self.book.escalate(now, wall)
        self._rescore(alerts, now)
        self._price(alerts)
        self._due = None
        return alerts

    def settle(self, alerts: list[Alert], now: float) -> None:
        """Score and price alerts changed outside `process` and `tick` (the platform's
        cross-lender match) as those steps do."""
        self._rescore(alerts, now)
        self._price(alerts)

    def _price(self, alerts: list[Alert]) -> None:
        """Give each emitted alert its money at risk and alert score as of its own last
        change (so a replay gives the same scores however its readings are batched; the
        API ages them to the event time it serves them at)."""
        for alert in alerts:
            alert_score.apply(alert, self.index, alert.updated_at)

    def _rescore(self, changed: list[Alert], now: float) -> None:
        """Score borrowers whose alerts changed; everyone once per ``snapshot_every``."""
        if self._next_scoring is None or now >= self._next_scoring:
            self._next_scoring = now + self.rules.models.snapshot_every
            self._due = None
            self.scoring.models.expire(now)
            grouped = self._open_by_borrower()
            for borrower_id, tenant in self.index.borrowers.items():
                self.scoring.rescore(tenant, borrower_id, grouped.get(borrower_id, ()), now)
            return
        if not changed:
            return
        grouped = self._open_by_borrower()
        for tenant, borrower_id in {(a.tenant, a.borrower_id) for a in changed}:
            self.scoring.rescore(tenant, borrower_id, grouped.get(borrower_id, ()), now)

    def _open_by_borrower(self) -> dict[str, list[Alert]]:
        grouped: dict[str, list[Alert]] = {}
        for alert in self.book.open_alerts():
            grouped.setdefault(alert.borrower_id, []).append(alert)
        return grouped

    def score_all(self, now: float) -> list[BorrowerRisk]:
        """Score every registered borrower as of event time ``now``."""
        grouped = self._open_by_borrower()
        return [
            self.scoring.score(tenant, borrower_id, grouped.get(borrower_id, []), now)
            for borrower_id, tenant in self.index.borrowers.items()
        ]

    def borrower_risk(self, borrower_id: str) -> BorrowerRisk:
        """Score one borrower now (event time: the watermark); KeyError if unknown."""
        tenant = self.index.borrowers[borrower_id]
        alerts = [a for a in self.book.open_alerts() if a.borrower_id == borrower_id]
        if self.watermark is None:  # no data yet: a wall-clock point would not fit the history
            return self.scoring.score(tenant, borrower_id, alerts, self.wall_clock(), record=False)
        return self.scoring.score(tenant, borrower_id, alerts, self.watermark)

    def record_outcome(self, borrower_id: str, event: LoanEvent, ts: float) -> int:
        """Feed a loan outcome to the tenant's model; return the snapshots it labelled."""
        tenant = self.index.borrowers[borrower_id]
        self._due = None
        return self.scoring.outcome(tenant, borrower_id, event, ts)

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
            "next_scoring": self._next_scoring,
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
        self._routes, self._tables = {}, {}  # they cache what the detectors held before
        self.book.update_every_s = self.rules.alerts.update_every
        self.custom.set_rules(self.rules.rules.custom)  # its caches follow the rules in force
        self._apply_scope()
        for model in self.scoring.models.by_tenant.values():
            model.settings = self.rules.models
        engine = parts["engine"]
        self.watermark = engine["watermark"]
        self._next_scoring = engine["next_scoring"]
        self.readings_processed = engine["readings_processed"]
        self.readings_unmatched = engine["readings_unmatched"]
        self._due = None

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
