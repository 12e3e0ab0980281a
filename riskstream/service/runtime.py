"""The running service: ingest feeding the engine, alerts stored and announced.

`Runtime` owns the clients (store, MQTT subscriber) for the lifetime of an
``async with`` block (the FastAPI lifespan, or the `riskstream demo` command) and
hands them down; nothing is created at import time.
"""

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from devices.model import Fleet
from devices.reading import Reading
from devices.registry import Registry
from devices.sparkplug.mapping import sparkplug_map
from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table, seed_sequences
from ingest.integrity import IntegritySignal
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.sparkplug.session_store import SessionStore, sessions_file_beside
from ingest.stores import TelemetryStore, open_resilient_store
from ingest.subscriber import BrokerAddress, IngestRunner, MqttOptions
from riskstream.cluster.api_link import ClusterLink
from riskstream.cluster.logins import NatsLogin, chosen_login
from riskstream.engine.alerts import Alert
from riskstream.engine.checkpoint_key import load_key
from riskstream.engine.clock import StreamClock
from riskstream.engine.lenders import LenderEngines
from riskstream.engine.platform_key import load_platform_key
from riskstream.engine.resume import fleets_digest
from riskstream.engine.resume import restore as restore_engine
from riskstream.engine.resume import save as save_engine
from riskstream.rules.history import RulesHistory, RulesVersion
from riskstream.rules.keeper import RulesKeeper
from riskstream.rules.lender import LenderRules
from riskstream.rules.schema import RuleSet
from riskstream.rules.watch import watch_rules
from riskstream.service.alert_store import AlertStore
from riskstream.service.audit import AuditLog
from riskstream.service.database import open_service_database
from riskstream.service.loan_events import LoanEventStore
from riskstream.service.login_guard import LoginGuard
from riskstream.service.notifier import ChangeNotifier
from riskstream.service.notify.channels import Notifications
from riskstream.service.notify.secret_box import configured_webhook_key
from riskstream.service.password_slots import PasswordSlots
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 1.0
RATE_WINDOW_S = 5.0


def cluster_login(settings: ServiceSettings) -> NatsLogin | None:
    """The NATS login of ``serve --nats``: the login file, else user and password."""
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    return chosen_login(settings.nats_login, settings.nats_user, password)


@dataclass
class RateMeter:
    """Readings per second over the last `RATE_WINDOW_S` of wall time."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0

    def add(self, n: int, now: float) -> None:
        self.total += n
        self.samples.append((now, self.total))
        while self.samples and now - self.samples[0][0] > RATE_WINDOW_S:
            self.samples.popleft()

    def rate(self, now: float) -> float:
        if not self.samples:
            return 0.0
        first_t, first_total = self.samples[0]
        span = max(now - first_t, 1.0)
        return (
            (self.total - first_total) / span if now - self.samples[-1][0] < RATE_WINDOW_S else 0.0
        )


def settle_heap() -> None:
    """Freeze what lives now (fleets, the engine's lookups and learned state) out of the
    cycle collector's full scans, which with 100,000 devices would walk all of it again
    and again while readings flow. Refcounting still frees it; the cyclic garbage made
    so far is collected first, and an engine replaced later is unfrozen with the rest."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Runtime:
    """Wires registry, store, ingest, engine, alert store and the change notifier."""

    def __init__(
        self, settings: ServiceSettings, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.metrics_registry = registry or CollectorRegistry()
        self.db = open_service_database(
            settings.database, configured_webhook_key(settings.webhook_key)
        )
        self.registry = Registry(self.db)
        self.alerts = AlertStore(self.db)
        self.users = UserStore(self.db, token_lifetime_s=settings.token_lifetime_s)
        self.login_guard = LoginGuard()
        self.password_slots = PasswordSlots()
        self.audit = AuditLog(self.db)
        self.loan_events = LoanEventStore(self.db)
        self.notify = Notifications(self.db, self.alerts, settings)
        self.rules_history = RulesHistory(self.db)
        self.lender_rules = LenderRules(self.rules_history, self.audit)
        self.rules_keeper = RulesKeeper(
            settings.rules,
            self.rules_history,
            self.audit,
            self.set_rules,
            self._lenders_on_service_rules,
        )
        self.rules: RuleSet = self.rules_keeper.ruleset
        fleets = self.registry.fleets()
        self.fleets_digest = fleets_digest(fleets)
        self.platform_key = load_platform_key(settings.platform_key, settings.checkpoint_path)
        self.engines = self._engines(fleets, self.lender_rules.rulesets)
        self.rules_keeper.warnings = self.engines.default_warnings()
        self.clock = StreamClock()
        self.notifier = ChangeNotifier(self.alerts.last_seq())
        self.rate = RateMeter()
        self.tenant_rates: dict[str, RateMeter] = {}
        self.alert_changes = Counter(
            "riskstream_alert_changes",
            "alert changes emitted, by kind",
            ["kind"],
            registry=self.metrics_registry,
        )
        self.ingest_metrics = IngestMetrics.create(self.metrics_registry)
        self.deadletter = DeadLetterStore(settings.deadletter, limits=settings.deadletter_limits)
        self.pipeline = IngestPipeline(
            device_table(fleets),
            self.deadletter,
            self.ingest_metrics,
            prefix=settings.prefix,
            oldest_ts=settings.oldest_ts,
            retention_s=settings.retention_s,
            sparkplug=sparkplug_map(fleets),
        )
        self.store: TelemetryStore | None = None
        self.ingest: IngestRunner | None = None
        self.cluster: ClusterLink | None = (
            ClusterLink([u.strip() for u in settings.nats.split(",")], cluster_login(settings))
            if settings.nats
            else None
        )
        if self.cluster is not None:
            self.rules_keeper.on_applied = functools.partial(self.cluster.offer_rules, "")
        self.stop = asyncio.Event()
        self.failed = asyncio.Event()
        self.ingest_failed: str | None = None
        self.started_at = time.time()

    def reload_fleets(self) -> None:
        """Rebuild the engine's view of devices after the registry changed."""
        previous = self.engines
        fleets = self.registry.fleets()
        self.fleets_digest = fleets_digest(fleets)
        self.engines = self._engines(fleets, previous.own_rules)
        self.engines.keep_learning_of(previous)
        self.pipeline.set_known_devices(device_table(fleets))
        self.pipeline.set_sparkplug(sparkplug_map(fleets))
        del previous
        settle_heap()

    def _engines(self, fleets: list[Fleet], own_rules: dict[str, RuleSet]) -> LenderEngines:
        return LenderEngines(fleets, self.rules, own_rules, platform_key=self.platform_key)

    def set_rules(self, rules: RuleSet) -> list[str]:
        """Put the service's ``rules`` in force for every lender without rules of its own
        (the `RulesKeeper` calls this); return their warnings."""
        self.rules = rules
        self.engines.set_default_rules(rules)
        return self.engines.default_warnings()

    def _lenders_on_service_rules(self) -> list[str]:
        return [t for t in self.registry.tenants() if not self.lender_rules.has_own(t)]

    def save_own_rules(self, tenant: str, text: str, actor: str) -> RulesVersion:
        """Validate, record, audit and put in force ``tenant``'s own rules.

        Raises:
            RulesFileError, LenderScopeError: refused; nothing changed.
        """
        own_loans = (
            {loan.id for b in self.registry.fleet(tenant).borrowers for loan in b.loans}
            if tenant in self.registry.tenants()
            else set()
        )
        version, ruleset = self.lender_rules.save(tenant, text, actor, own_loans)
        self.engines.set_own_rules(tenant, ruleset)
        if self.cluster is not None:
            self.cluster.offer_rules(tenant, version)
        return version

    @functools.cached_property
    def checkpoint_key(self) -> bytes:
        """The key of the engine checkpoint (`riskstream.engine.checkpoint_key`), found or
        made once.

        Raises:
            CheckpointKeyError: the key file cannot be used (the service does not start).
        """
        path = self.settings.checkpoint_path
        if path is None:
            raise RuntimeError("checkpoints are off (checkpoint_enabled=false): no key")
        return load_key(self.settings.checkpoint_key, path)

    def restore_checkpoint(self) -> bool:
        """Resume the engine from the checkpoint file if it fits the fleets; else start fresh.

        A checkpoint refused (other fleets, altered, another key, old format) is logged
        with the reason; a key file that cannot be used raises `CheckpointKeyError`.
        """
        path = self.settings.checkpoint_path
        if path is None:
            return False
        why = restore_engine(self.engines, path, self.fleets_digest, self.checkpoint_key)
        if why is None:
            opened = len(self.engines.open_alerts())
            log.info("engine resumed from %s (%d open alerts)", path, opened)
            return True
        if why != "no checkpoint":
            log.warning("engine checkpoint %s not used, starting fresh: %s", path, why)
            self.engines = self._engines(self.registry.fleets(), self.engines.own_rules)
        return False

    def save_checkpoint(self) -> None:
        """Write the engine checkpoint (if configured); log, never raise, on failure."""
        path = self.settings.checkpoint_path
        if path is None:
            return
        try:
            save_engine(self.engines, path, self.fleets_digest, self.checkpoint_key)
        except OSError as exc:  # a CheckpointKeyError too
            log.error("cannot write engine checkpoint %s: %s", path, exc)

    async def _checkpoint_forever(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.settings.checkpoint_every_s)
            if not self.stop.is_set():
                self.save_checkpoint()

    def on_batch(self, batch: list[Reading]) -> None:
        """Sink of ingest: run the engine step and publish the alert changes."""
        changed = self.engines.process(batch)
        self.clock.advance(self.engines.watermark)
        now = self.clock.now()
        if now is not None:
            changed.extend(self.engines.tick(now))
        now_mono = time.monotonic()
        self.rate.add(len(batch), now_mono)
        for tenant, n in Tally(r.tenant for r in batch).items():
            meter = self.tenant_rates.get(tenant)
            if meter is None:
                meter = self.tenant_rates[tenant] = RateMeter()
            meter.add(n, now_mono)
        self.publish(changed)

    def on_signals(self, signals: list[IntegritySignal]) -> None:
        """Sink of ingest's data-integrity signals (replays, seq conflicts, lost messages)."""
        self.publish(self.engines.integrity(signals))

    def publish(self, changed: list[Alert]) -> None:
        """Store alert changes and wake the live feed."""
        if not changed:
            return
        seq = self.alerts.save(changed)
        for alert in changed:
            self.alert_changes.labels(kind=alert.kind).inc()
        if seq is not None:
            self.notifier.notify(seq)

    async def _tick_forever(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), TICK_INTERVAL_S)
            now = self.clock.now()
            if now is not None:
                self.publish(self.engines.tick(now))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["Runtime"]:
        """Open the store, subscribe to the broker, run the timers; undo all on exit.

        The engine resumes from its checkpoint, the rules file is watched for changes,
        and a checkpoint is written every ``checkpoint_every_s`` and on exit. On a NATS
        cluster (``settings.nats``) the service runs neither ingest nor the engine: it
        stores the alert changes of the cluster's risk workers (`ClusterLink`).
        """
        if self.cluster is not None:
            async with self._serving_cluster(self.cluster):
                yield self
            return
        self.restore_checkpoint()
        self.store = open_resilient_store(
            self.settings.store, self.settings.spool_dir, self.settings.spool_max_bytes
        )
        seed_sequences(self.pipeline, self.store)
        self.sparkplug_sessions = SessionStore(
            self.settings.sparkplug_sessions or sessions_file_beside(self.settings.spool_dir)
        )
        settle_heap()
        self.ingest = IngestRunner(
            self.pipeline,
            self.store,
            BrokerAddress.parse(self.settings.broker),
            sink=self.on_batch,
            signal_sink=self.on_signals,
            retention_s=self.settings.retention_s,
            options=MqttOptions(
                client_id=self.settings.client_id,
                prefix=self.settings.prefix,
                sparkplug_host_id=self.settings.sparkplug_host_id,
            ),
            sessions=self.sparkplug_sessions,
        )
        ingest_task = asyncio.create_task(self.ingest.run(self.stop), name="ingest")
        ingest_task.add_done_callback(self._ingest_ended)
        tick_task = asyncio.create_task(self._tick_forever(), name="engine-ticks")
        helpers = [
            asyncio.create_task(watch_rules(self.rules_keeper, self.stop), name="rules-watch"),
            asyncio.create_task(self._checkpoint_forever(), name="engine-checkpoints"),
            *self.notify.tasks(self.stop, self.notifier),
        ]
        try:
            yield self
        finally:
            self.stop.set()
            await asyncio.gather(ingest_task, tick_task, *helpers, return_exceptions=True)
            self.save_checkpoint()
            await asyncio.to_thread(self.store.close)
            self.sparkplug_sessions.close()
            self.deadletter.close()
            self.db.dispose()
            gc.unfreeze()

    @contextlib.asynccontextmanager
    async def _serving_cluster(self, cluster: ClusterLink) -> AsyncIterator[None]:
        # the rules in force are the cluster's: sent unless the rules bucket has them
        cluster.offer_rules("", self.rules_keeper.current)
        for tenant, version in self.lender_rules.current.items():
            cluster.offer_rules(tenant, version)
        link = asyncio.create_task(
            cluster.run(self.stop, self.alerts.get, self.publish), name="cluster-alerts"
        )
        link.add_done_callback(self._ingest_ended)
        rules = asyncio.create_task(watch_rules(self.rules_keeper, self.stop), name="rules-watch")
        notify = self.notify.tasks(self.stop, self.notifier, mqtt=False)
        try:
            yield
        finally:
            self.stop.set()
            await asyncio.gather(link, rules, *notify, return_exceptions=True)
            self.deadletter.close()
            self.db.dispose()

    def _ingest_ended(self, task: "asyncio.Task[None]") -> None:
        """Ingest must run as long as the service does: if it ends on its own, say why and
        set `failed`, so that the service stops and exits non-zero (never stays up blind)."""
        if self.stop.is_set() and (task.cancelled() or task.exception() is None):
            return
        why = "cancelled" if task.cancelled() else repr(task.exception() or "it returned")
        self.ingest_failed = f"ingest stopped: {why}"[:300]
        log.critical("%s; the service stops so that its supervisor can start it again", why)
        self.failed.set()

    def tenant_stats(self, tenant: str, borrowers: frozenset[str] | None) -> dict[str, object]:
        """`stats` as one lender sees them: its readings, alerts, refusals, devices and
        borrowers (of ``borrowers`` only, for a loan officer's alerts); the service's
        connection and liveness; nothing that depends on another lender's data."""
        now = time.monotonic()
        meter = self.tenant_rates.get(tenant)
        engine = self.engines.of(tenant)
        return {
            "readings_total": meter.total if meter else 0,
            "readings_per_s": round(meter.rate(now), 1) if meter else 0.0,
            "open_alerts_by_severity": self.alerts.counts_by_severity(
                tenant=tenant, borrowers=borrowers
            ),
            "rejected_total": self.deadletter.refused(tenant),
            "event_time": engine.watermark,
            "devices": len(engine.index.devices),
            "borrowers": len(engine.index.borrowers),
            "broker_connected": bool(self.ingest and self.ingest.connected.is_set()),
            "ingest_loop_alive": bool(
                self.ingest and self.ingest.loop_alive and not self.ingest_failed
            ),
        }

    def stats(self) -> dict[str, object]:
        """Figures for the dashboard header and the demo's terminal summary."""
        now = time.monotonic()
        return {
            "readings_total": self.ingest.readings_written if self.ingest else 0,
            "readings_per_s": round(self.rate.rate(now), 1),
            "open_alerts_by_severity": self.alerts.counts_by_severity(),
            "rejected_total": int(
                sum(
                    s.value
                    for m in self.ingest_metrics.rejected.collect()
                    for s in m.samples
                    if s.name.endswith("_total")
                )
            ),
            "event_time": self.engines.watermark,
            "devices": sum(len(e.index.devices) for e in self.engines.by_tenant.values()),
            "borrowers": sum(len(e.index.borrowers) for e in self.engines.by_tenant.values()),
            "broker_connected": bool(self.ingest and self.ingest.connected.is_set()),
            "ingest_loop_alive": bool(
                self.ingest and self.ingest.loop_alive and not self.ingest_failed
            ),
            "ingest_last_message_age_seconds": (
                round(self.ingest.last_message_age(), 3) if self.ingest else None
            ),
        }
