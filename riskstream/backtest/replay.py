"""Run the risk engine over recorded telemetry in event time, as fast as it goes.

The engine's clock is the telemetry's event time. Readings are fed in order, in
batches that never cross a step boundary (every `STEP_S` of event time, aligned to the
epoch), and after each step the engine's timers run at the step's end
(`Engine.tick`), so deadman alerts rise as they would live; across a gap in the data
they run at every step boundary in it, as the live clock keeps running when the stream
goes quiet (a tick costs about 1 µs per device). The last tick is at the last
reading's time. The batch size (`CHUNK`) does not change the alerts: the engine sees
the same readings in the same order and the timers run at the same event times.
Boundaries before `Engine.next_due` are skipped (nothing is due there), so a file of
hourly readings over years costs what happens in it, not a tick per minute.

Each alert is kept in its final state (the last change the engine emitted, or its
current state if it is still open at the end), with ``raised_at``: the event time at
which the engine first raised it (``opened_at`` is the time of the evidence, which
for rules with a duration is earlier by that duration).
"""

import gc
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from devices.reading import Reading
from ingest.integrity import IntegritySignal
from riskstream.backtest.outcomes_file import LoanOutcome
from riskstream.backtest.steps import (
    CHUNK,
    STEP_S,
    Batch,
    Group,
    Ticks,
    batch_groups,
    batches,
    readings,
    step_groups,
)
from riskstream.backtest.telemetry_file import Telemetry
from riskstream.engine.alerts import Alert
from riskstream.scoring.outcome_model import LoanEvent

PROGRESS_ROWS = 200_000
__all__ = [
    "CHUNK",
    "STEP_S",
    "AlertLog",
    "ReplayResult",
    "Steps",
    "Ticks",
    "batches",
    "feed",
    "feed_groups",
    "integrity_signals",
    "readings",
    "replay",
    "run_ticks",
    "step_groups",
]


class Steps(Protocol):
    """What a replay drives: an `Engine`, or a `LenderEngines` of several lenders."""

    @property
    def readings_unmatched(self) -> int:
        """Readings of devices (or tenants) not in the fleets."""

    def process(self, batch: Sequence[Reading]) -> list[Alert]:
        """Feed readings; return changed alerts."""

    def process_steps(
        self,
        batch: Sequence[Reading],
        ends: Sequence[int],
        quiet_until: Sequence[float],
        first: int = 0,
    ) -> tuple[list[Alert], int]:
        """Feed steps of readings while nothing falls due (`Engine.process_steps`)."""

    def integrity(self, signals: Sequence[IntegritySignal]) -> list[Alert]:
        """Take integrity signals; return changed alerts."""

    def tick(self, now: float) -> list[Alert]:
        """Run timers as of ``now``; return changed alerts."""

    def next_due(self, *, recheck: bool = False) -> float:
        """The earliest clock time a tick may change anything."""

    def record_outcome(self, borrower_id: str, event: LoanEvent, ts: float) -> int:
        """Learn a loan outcome."""

    def expect_outcomes(self, borrower_ids: Iterable[str]) -> None:
        """Borrowers that loan outcomes will name (`Engine.expect_outcomes`)."""

    def open_alerts(self) -> list[Alert]:
        """Alerts open or acknowledged."""


Progress = Callable[[int, float], None]


@dataclass
class AlertLog:
    """The final state of every alert the engine changed, and when it was first raised."""

    latest: dict[str, Alert] = field(default_factory=dict)
    raised_at: dict[str, float] = field(default_factory=dict)

    def add(self, changed: Iterable[Alert]) -> None:
        """Record alert snapshots emitted by the engine."""
        for alert in changed:
            self.latest[alert.id] = alert
            self.raised_at.setdefault(alert.id, alert.updated_at)

    def final(self, still_open: Iterable[Alert]) -> list[dict[str, Any]]:
        """Every alert in its final state, oldest evidence first, with ``raised_at``."""
        latest = dict(self.latest)
        for alert in still_open:
            if alert.id in latest:
                latest[alert.id] = replace(alert)
        out = []
        for alert in sorted(latest.values(), key=lambda a: (a.opened_at, a.id)):
            record = alert.to_dict()
            record["raised_at"] = self.raised_at[alert.id]
            out.append(record)
        return out


def feed(
    engine: Steps,
    work: Iterable[Batch],
    log: AlertLog,
    on_progress: Progress | None = None,
    signals: Sequence[IntegritySignal] = (),
    outcomes: Sequence[LoanOutcome] = (),
) -> int:
    """Run ``engine`` over batches; record changes in ``log``; return readings fed.

    ``signals`` (in arrival order) go to `Engine.integrity` after the batch whose last
    reading is at or after their arrival time, as ingest hands them over live; loan
    ``outcomes`` (in time order) go to `Engine.record_outcome` the same way.
    """
    groups = batch_groups(work, signals, outcomes)
    return feed_groups(engine, groups, log, on_progress, signals, outcomes)


def feed_groups(
    engine: Steps,
    groups: Iterable[Group],
    log: AlertLog,
    on_progress: Progress | None = None,
    signals: Sequence[IntegritySignal] = (),
    outcomes: Sequence[LoanOutcome] = (),
) -> int:
    """`feed` over groups of steps (`step_groups`, marked for these signals and
    outcomes): the steps between which nothing falls due go to the engine in one call.
    The borrowers the outcomes name are in the outcome model's population from the
    start (`Engine.expect_outcomes`)."""
    if outcomes:
        engine.expect_outcomes({o.borrower_id for o in outcomes})
    # What exists now (the fleets, the engine's lookups, the telemetry) lives as long
    # as the replay: frozen, the cycle collector no longer walks it on every full
    # collection (a fifth of the time with 100,000 devices). Refcounting still frees it.
    gc.freeze()
    try:
        return _feed(engine, groups, log, on_progress, signals, outcomes)
    finally:
        gc.unfreeze()


def _feed(
    engine: Steps,
    groups: Iterable[Group],
    log: AlertLog,
    on_progress: Progress | None,
    signals: Sequence[IntegritySignal],
    outcomes: Sequence[LoanOutcome],
) -> int:
    done = 0
    next_report = PROGRESS_ROWS
    pending = 0
    learned = 0
    for group in groups:
        step = 0
        while step < len(group.ends):
            start = group.ends[step - 1] if step else 0
            changed, step = engine.process_steps(group.readings, group.ends, group.quiet, step)
            log.add(changed)
            end = group.ends[step - 1]
            done += end - start
            if end > start:
                until = group.readings[end - 1].ts
                while learned < len(outcomes) and outcomes[learned].ts <= until:
                    outcome = outcomes[learned]
                    engine.record_outcome(outcome.borrower_id, outcome.event, outcome.ts)
                    learned += 1
                if pending < len(signals):
                    first = pending
                    while pending < len(signals) and signals[pending].at <= until:
                        pending += 1
                    if pending > first:
                        log.add(engine.integrity(signals[first:pending]))
                if on_progress is not None and done >= next_report:
                    on_progress(done, until)
                    next_report = done + PROGRESS_ROWS
            run_ticks(engine, group.ticks(step - 1), log)
    if pending < len(signals):
        log.add(engine.integrity(signals[pending:]))
    for outcome in outcomes[learned:]:
        engine.record_outcome(outcome.borrower_id, outcome.event, outcome.ts)
    return done


def run_ticks(engine: Steps, ticks: Ticks, log: AlertLog) -> None:
    """Run the engine's timers at the times of ``ticks``, skipping those before
    `Engine.next_due` (they would change nothing), so a long quiet stretch costs what is
    due in it, not one tick per step; the last tick (``at``) always runs."""
    if ticks.at is not None:
        log.add(engine.tick(ticks.at))
    k = ticks.first
    while k <= ticks.last:
        now = ticks.origin + k * ticks.step_s
        due = engine.next_due()
        if due <= now:  # kept from before the readings since, which may have put it later
            due = engine.next_due(recheck=True)
        if due > now:
            if due == math.inf:
                return
            # the first step boundary at or after `due`, computed as the boundaries are
            # (a rounded division could step over a boundary exactly at `due`)
            k = max(k + 1, math.floor((due - ticks.origin) / ticks.step_s))
            while ticks.origin + k * ticks.step_s < due:
                k += 1
            continue
        log.add(engine.tick(now))
        k += 1


def integrity_signals(telemetry: Telemetry, tenant: str | None) -> list[IntegritySignal]:
    """The file's sequence-check signals, with their tenant (chosen as in `readings`)."""
    ids, tenants = telemetry.device_ids, telemetry.tenants

    def tenant_of(code: int) -> str:
        if tenant is None and code >= 0:
            return tenants[code]
        return tenant or "default"

    return [
        IntegritySignal(tenant_of(s.tenant), ids[s.device], s.kind, s.at, s.ts, s.count)
        for s in telemetry.signals
    ]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a backtest found, and how fast.

    Attributes:
        alerts: every alert in its final state (alert contract fields plus ``raised_at``).
        readings: readings fed to the engine.
        unmatched: readings of devices (or tenants) not in the fleet, ignored.
        seconds: wall time of the replay (reading the file excluded).
    """

    alerts: list[dict[str, Any]]
    readings: int
    unmatched: int
    seconds: float

    def by_kind(self) -> dict[str, int]:
        """Number of alerts per kind, most frequent first."""
        return dict(Counter(a["kind"] for a in self.alerts).most_common())


def replay(
    engine: Steps,
    telemetry: Telemetry,
    tenant: str | None,
    step_s: float = STEP_S,
    chunk: int = CHUNK,
    on_progress: Progress | None = None,
    outcomes: Sequence[LoanOutcome] = (),
) -> ReplayResult:
    """Feed all of ``telemetry`` to ``engine`` in event time; return the final alerts.

    Args:
        engine: a fresh engine for the telemetry's fleet.
        telemetry: the columns, sorted by event time.
        tenant: the tenant of every reading; None to take the file's ``tenant`` column.
        step_s: event time between timer runs.
        chunk: at most this many readings per `Engine.process` call.
        on_progress: called now and then with (readings fed, event time reached).
        outcomes: loan outcomes in time order, learned by the outcome model as they come.
    """
    began = time.perf_counter()
    unmatched_before = engine.readings_unmatched
    log = AlertLog()
    signals = integrity_signals(telemetry, tenant)
    handed = sorted([s.at for s in signals] + [o.ts for o in outcomes])
    groups = step_groups(telemetry, tenant, step_s, chunk, handed)
    fed = feed_groups(engine, groups, log, on_progress, signals, outcomes)
    return ReplayResult(
        alerts=log.final(engine.open_alerts()),
        readings=fed,
        unmatched=engine.readings_unmatched - unmatched_before,
        seconds=time.perf_counter() - began,
    )
