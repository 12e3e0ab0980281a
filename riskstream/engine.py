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
from ingest.integrity import IntegritySignal
from riskstream.alerts import Alert, AlertBook
from riskstream.borrower_risk import BorrowerRisk, BorrowerScoring
from riskstream.checkpoint import apply_state, read_state, state_of, write_state
from riskstream.coverage import LatestCoverage
from riskstream.detectors import (
    ColdChainDetector,
    DataIntegrityDetector,
    DeadmanDetector,
    GeofenceDetector,
    InventoryDetector,
    ParkedMovingDetector,
    StuckValuesDetector,
)
from riskstream.detectors.custom import CustomDetector
from riskstream.detectors.double_pledge import DoublePledgeDetector
from riskstream.detectors.movement import MovementDetector
from riskstream.detectors.operations import METRICS as OPERATIONS_METRICS
from riskstream.detectors.operations import OperationsDetector
from riskstream.fleet_index import DeviceContext, FleetIndex
from riskstream.outcome_model import LoanEvent
from riskstream.rule_scope import RuleScope
from riskstream.rules_file import Rules, RuleSet

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
        self.inventory = InventoryDetector(self.index, rules.rules.inventory_below_pledge)
        self.movement = MovementDetector(
            self.index, rules.rules.collateral_moved_out_of_hours, rules.calendar
        )
        self.double_pledge = DoublePledgeDetector(self.index, rules.rules.double_pledge)
        self.geofence = GeofenceDetector(self.index, rules.rules.geofence_exit)
        self.deadman = DeadmanDetector(self.index, rules.rules.device_silent)
        self.cold_chain = ColdChainDetector(self.index, rules.rules.cold_chain_excursion)
        self.parked_moving = ParkedMovingDetector(
            self.index, rules.rules.vehicle_moving_when_parked
        )
        self.stuck = StuckValuesDetector(rules.rules.values_stuck)
        self.integrity_detector = DataIntegrityDetector(
            self.index, rules.rules.data_integrity, rules.rules.messages_lost
        )
        self.operations = OperationsDetector(self.index, rules)
        self.custom = CustomDetector(rules.rules.custom)
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
        self.inventory.rule = rules.rules.inventory_below_pledge
        self.movement.rule = rules.rules.collateral_moved_out_of_hours
        self.movement.calendar = rules.calendar
        self.double_pledge.rule = rules.rules.double_pledge
        self.geofence.rule = rules.rules.geofence_exit
        self.deadman.rule = rules.rules.device_silent
        self.cold_chain.rule = rules.rules.cold_chain_excursion
        self.parked_moving.rule = rules.rules.vehicle_moving_when_parked
        self.stuck.set_rule(rules.rules.values_stuck)
        self.integrity_detector.rule = rules.rules.data_integrity
        self.integrity_detector.lost_rule = rules.rules.messages_lost
        self.custom.set_rules(rules.rules.custom)
        self.scoring.set_rules(rules)
        self.book.settings = rules.alerts
        self.scope = RuleScope(rules, self.index)
        self.operations.set_rules(rules, self.scope)
        self._apply_scope()
        self._routes, self._tables = {}, {}  # the watched metrics may differ

    def _scoped_detectors(self) -> list[tuple[Any, str]]:
        """Reading-driven detectors and the ``[rules.*]`` table each one reads as ``rule``."""
        return [
            (self.inventory, "inventory_below_pledge"),
            (self.movement, "collateral_moved_out_of_hours"),
            (self.double_pledge, "double_pledge"),
            (self.geofence, "geofence_exit"),
            (self.cold_chain, "cold_chain_excursion"),
            (self.parked_moving, "vehicle_moving_when_parked"),
            (self.stuck, "values_stuck"),
        ]

    def _use_rules(self, rules: Rules) -> None:
        """Point the reading-driven detectors at ``rules`` (a scope's effective rules)."""
        for detector, name in self._scoped_detectors():
            detector.rule = getattr(rules, name)

    def _apply_scope(self) -> None:
        """Precomputed per-device overrides for the timer-driven deadman."""
        base = self.scope.base.device_silent
        self.deadman.overrides = {
            device_id: rules.device_silent
            for device_id, rules in self.scope.by_device.items()
            if rules.device_silent != base
        }

    def process(self, batch: Sequence[Reading]) -> list[Alert]:
        """Feed readings (in event-time order per device); return changed alerts."""
        changed: dict[str, Alert] = {}
        wall = self.wall_clock()
        routes = self._routes
        watermark = -math.inf if self.watermark is None else self.watermark
        scoped = self.scope.by_device
        base_rules = self.scope.base
        in_force: Rules | None = None
        last_seen, silent = self.deadman.last_seen, self.deadman.silent
        never = -math.inf
        for reading in batch:
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
        if in_force is not None and in_force is not base_rules:
            self._use_rules(base_rules)
        if watermark > -math.inf:
            self.watermark = watermark
        self.readings_processed += len(batch)
        alerts = list(changed.values())
        if self.watermark is not None:
            self._rescore(alerts, self.watermark)
        return alerts

    def _route(self, device_id: str) -> Route:
        device = self.index.devices.get(device_id)
        # a handler depends only on the device's kind and whether it weighs a lot: devices
        # alike share one table
        profile = None if device is None else (device.kind, device.collateral_id is not None)
        handlers = self._tables.setdefault(profile, {})
        route = self._routes[device_id] = Route(device, handlers)
        return route

    def _handler(self, device: DeviceContext, metric: str) -> Handler | None:
        """What a reading of ``metric`` from ``device`` goes through, in order."""
        steps: list[Handler] = []
        kind = device.kind
        if metric == "weight_kg" and device.collateral_id is not None:
            steps.append(self._on_weight)
        elif metric in ("lat_deg", "lon_deg") and kind is DeviceKind.GPS_TRACKER:
            steps.append(self._on_position)
        elif metric == "speed_kmh" and kind is DeviceKind.GPS_TRACKER:
            steps.append(self._on_speed)
        elif metric == "door_open" and kind is DeviceKind.DOOR:
            steps.append(self._on_door)
        elif metric == "units_out_count" and device.collateral_id is not None:
            steps.append(self._on_gate)
        elif metric == "temperature_c" and kind is DeviceKind.TEMPERATURE:
            steps.append(self._on_temperature)
        if metric in self.stuck.metrics:
            steps.append(self._on_stuck)
        if metric in OPERATIONS_METRICS:
            steps.append(self._on_operations)
        if metric in self.custom.metrics:  # which devices it selects, the detector knows
            steps.append(self._on_custom)
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
        collateral_id = device.collateral_id
        assert collateral_id is not None
        self.coverage.observe(reading.device_id, reading.value)
        alert = self.inventory.observe(reading, collateral_id, self.book, wall)
        if alert is not None:
            changed[alert.id] = alert
        for moved in self.movement.observe(reading, collateral_id, self.book, wall):
            changed[moved.id] = moved
        if self.movement.moves:
            moves = self.movement.take_moves()
            for pledged in self.double_pledge.observe(moves, self.movement, self.book, wall):
                changed[pledged.id] = pledged

    def _on_position(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        alert = self.geofence.observe(reading, device, self.book, wall)
        if alert is not None:
            changed[alert.id] = alert

    def _on_speed(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        # outside its geofence, the vehicle's alert already says more than this one
        if self.book.is_open(device.tenant, device.borrower_id, "geofence_exit", device.device_id):
            return
        alert = self.parked_moving.observe(reading, device, self.book, wall)
        if alert is not None:
            changed[alert.id] = alert

    def _on_door(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        self.movement.door(reading, device)

    def _on_gate(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        assert device.collateral_id is not None
        self.movement.gate(reading, device.collateral_id)

    def _on_temperature(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        alert = self.cold_chain.observe(reading, device, self.book, wall)
        if alert is not None:
            changed[alert.id] = alert

    def _on_stuck(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        alert = self.stuck.observe(reading, device, self.book, wall)
        if alert is not None:
            changed[alert.id] = alert

    def _on_operations(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        for alert in self.operations.observe(reading, device, self.book, wall):
            changed[alert.id] = alert

    def _on_custom(
        self, reading: Reading, device: DeviceContext, wall: float, changed: dict[str, Alert]
    ) -> None:
        for alert in self.custom.observe(reading, device, self.book, wall):
            changed[alert.id] = alert

    def integrity(self, signals: Sequence[IntegritySignal]) -> list[Alert]:
        """Take ingest's data-integrity signals (replays, seq conflicts, bad signatures,
        lost messages); return changed alerts."""
        alerts = self.integrity_detector.observe(signals, self.book, self.wall_clock())
        if alerts:
            self._rescore(alerts, max(s.at for s in signals))
        return alerts

    def next_due(self) -> float:
        """The earliest clock time a `tick` may change anything (timers, alert updates
        and escalations, the periodic scoring); ticks before it change nothing, so a
        replay skips them. A lower bound: -inf when it cannot tell."""
        scoring = -math.inf if self._next_scoring is None else self._next_scoring
        return min(
            scoring,
            self.deadman.next_due(self.book),
            self.integrity_detector.next_due(),
            self.custom.next_due(),
            self.book.next_due(),
        )

    def tick(self, now: float) -> list[Alert]:
        """Run timers as of clock time ``now`` (event time while data flows)."""
        wall = self.wall_clock()
        alerts = self.deadman.tick(now, self.book, wall)
        alerts += self.integrity_detector.tick(now, self.book)
        alerts += self.custom.tick(now, self.book, wall)
        alerts += self.book.escalate(now, wall)
        self._rescore(alerts, now)
        return alerts

    def _rescore(self, changed: list[Alert], now: float) -> None:
        """Score borrowers whose alerts changed; everyone once per ``snapshot_every``."""
        if self._next_scoring is None or now >= self._next_scoring:
            self._next_scoring = now + self.rules.models.snapshot_every
            self.scoring.models.expire(now)
            self.score_all(now)
            return
        for borrower_id in {(a.tenant, a.borrower_id) for a in changed}:
            self._score(*borrower_id, now)

    def _open_by_borrower(self) -> dict[str, list[Alert]]:
        grouped: dict[str, list[Alert]] = {}
        for alert in self.book.open_alerts():
            grouped.setdefault(alert.borrower_id, []).append(alert)
        return grouped

    def _score(self, tenant: str, borrower_id: str, now: float) -> BorrowerRisk:
        alerts = [a for a in self.book.open_alerts() if a.borrower_id == borrower_id]
        return self.scoring.score(tenant, borrower_id, alerts, now)

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
        return self.scoring.models.of(tenant).outcome(borrower_id, ts, event)

    def open_alerts(self) -> list[Alert]:
        """Alerts currently open or acknowledged."""
        return self.book.open_alerts()

    def keep_learning_of(self, previous: "Engine") -> None:
        """Take over the outcome models and score histories of the engine this one
        replaces (after the fleets changed), so learned loan outcomes are not lost."""
        self.scoring.models = previous.scoring.models
        self.scoring.models.set_settings(self.rules.models)
        self.scoring.history = previous.scoring.history

    def _components(self) -> dict[str, object]:
        return {
            "book": self.book,
            "inventory": self.inventory,
            "movement": self.movement,
            "double_pledge": self.double_pledge,
            "geofence": self.geofence,
            "deadman": self.deadman,
            "cold_chain": self.cold_chain,
            "parked_moving": self.parked_moving,
            "stuck": self.stuck,
            "operations": self.operations,
            "custom": self.custom,
            "data_integrity": self.integrity_detector,
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
        stay in force."""
        for name, component in self._components().items():
            apply_state(component, parts[name])
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

    def checkpoint(
        self, path: Path | str, meta: dict[str, str] | None = None, *, key: bytes
    ) -> None:
        """Write `state` to a file, authenticated with ``key`` (see `riskstream.checkpoint`).

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
