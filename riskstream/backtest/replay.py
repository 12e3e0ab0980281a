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
import itertools
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from devices.reading import Reading
from ingest.integrity import IntegritySignal
from riskstream.backtest.outcomes_file import LoanOutcome
from riskstream.backtest.telemetry_file import Telemetry
from riskstream.engine.alerts import Alert
from riskstream.scoring.outcome_model import LoanEvent

STEP_S = 60.0
CHUNK = 65_536
PROGRESS_ROWS = 200_000


class Steps(Protocol):
    """What a replay drives: an `Engine`, or a `LenderEngines` of several lenders."""

    @property
    def readings_unmatched(self) -> int:
        """Readings of devices (or tenants) not in the fleets."""

    def process(self, batch: Sequence[Reading]) -> list[Alert]:
        """Feed readings; return changed alerts."""

    def integrity(self, signals: Sequence[IntegritySignal]) -> list[Alert]:
        """Take integrity signals; return changed alerts."""

    def tick(self, now: float) -> list[Alert]:
        """Run timers as of ``now``; return changed alerts."""

    def next_due(self) -> float:
        """The earliest clock time a tick may change anything."""

    def record_outcome(self, borrower_id: str, event: LoanEvent, ts: float) -> int:
        """Learn a loan outcome."""

    def open_alerts(self) -> list[Alert]:
        """Alerts open or acknowledged."""


@dataclass(frozen=True, slots=True)
class Ticks:
    """Clock times ``origin + k * step_s`` for k in ``[first, last]``, or just ``at``."""

    origin: float = 0.0
    step_s: float = STEP_S
    first: int = 0
    last: int = -1
    at: float | None = None

    def __iter__(self) -> Iterator[float]:
        """The times, in order."""
        if self.at is not None:
            yield self.at
        for k in range(self.first, self.last + 1):
            yield self.origin + k * self.step_s


NO_TICKS = Ticks()
Batch = tuple[list[Reading], Ticks]
Progress = Callable[[int, float], None]


@dataclass(frozen=True, slots=True)
class Words:
    """A telemetry file's ids, metric names and tenants as arrays, to look up in bulk."""

    device_ids: npt.NDArray[np.object_]
    metrics: npt.NDArray[np.object_]
    tenants: npt.NDArray[np.object_]

    @classmethod
    def of(cls, telemetry: Telemetry) -> "Words":
        """The words of ``telemetry``."""
        return cls(
            _objects(telemetry.device_ids), _objects(telemetry.metrics), _objects(telemetry.tenants)
        )


def _objects(words: list[str]) -> npt.NDArray[np.object_]:
    out = np.empty(len(words), dtype=object)
    # interned, as the fleet index's keys are: a lookup then matches by identity
    out[:] = [sys.intern(word) for word in words]
    return out


def readings(
    telemetry: Telemetry, start: int, stop: int, tenant: str | None, words: Words | None = None
) -> list[Reading]:
    """Rows ``[start, stop)`` of ``telemetry`` as readings.

    Args:
        telemetry: the columns.
        start: first row.
        stop: row to stop before.
        tenant: the tenant of every reading; None to take the file's ``tenant`` column.
        words: ``Words.of(telemetry)``, when called for many ranges.
    """
    words = words if words is not None else Words.of(telemetry)
    rows = slice(start, stop)
    tenants: Iterable[str] = itertools.repeat(tenant or "default")
    if tenant is None and telemetry.tenant is not None:
        tenants = words.tenants[telemetry.tenant[rows]].tolist()
    columns: list[Iterable[Any]] = [
        tenants,
        words.device_ids[telemetry.device[rows]].tolist(),
        telemetry.ts[rows].tolist(),
        words.metrics[telemetry.metric[rows]].tolist(),
        telemetry.value[rows].tolist(),
    ]
    if telemetry.seq is not None:
        seq = telemetry.seq[rows]
        if seq.size and seq.min() < 0:  # rows without a seq
            some = seq.astype(object)
            some[seq < 0] = None
            columns.append(some.tolist())
        else:
            columns.append(seq.tolist())
    return list(map(Reading, *columns))


def batches(
    telemetry: Telemetry, tenant: str | None, step_s: float = STEP_S, chunk: int = CHUNK
) -> Iterator[Batch]:
    """Readings in event-time batches, each with the clock times to tick after it.

    Args:
        telemetry: the columns, sorted by event time.
        tenant: the tenant of every reading; None to take the file's ``tenant`` column.
        step_s: event time between timer runs.
        chunk: at most this many readings per batch.

    Yields:
        (readings, tick times): no tick inside a step; after a step's last batch every
        step boundary up to the start of the next step that has readings; after the
        last batch the last reading's time.
    """
    n = len(telemetry)
    if n == 0:
        return
    words = Words.of(telemetry)
    origin = float(np.floor(telemetry.ts[0] / step_s) * step_s)
    step = np.floor((telemetry.ts - origin) / step_s).astype(np.int64)
    cuts = (np.flatnonzero(np.diff(step)) + 1).tolist()
    bounds = [0, *cuts, n]
    # rows become readings a chunk at a time (sparse files have a step per row or two)
    made_from: int = 0
    made: list[Reading] = []
    for first, stop in itertools.pairwise(bounds):
        k = int(step[first])
        for lo in range(first, stop, chunk):
            hi = min(lo + chunk, stop)
            if hi < stop:
                ticks = NO_TICKS
            elif stop == n:
                ticks = Ticks(at=telemetry.end)
            else:
                ticks = Ticks(origin, step_s, k + 1, int(step[stop]))
            if hi > made_from + len(made):
                made_from, made = lo, readings(telemetry, lo, min(lo + chunk, n), tenant, words)
            yield made[lo - made_from : hi - made_from], ticks


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
    # What exists now (the fleets, the engine's lookups, the telemetry) lives as long
    # as the replay: frozen, the cycle collector no longer walks it on every full
    # collection (a fifth of the time with 100,000 devices). Refcounting still frees it.
    gc.freeze()
    try:
        return _feed(engine, work, log, on_progress, signals, outcomes)
    finally:
        gc.unfreeze()


def _feed(
    engine: Steps,
    work: Iterable[Batch],
    log: AlertLog,
    on_progress: Progress | None,
    signals: Sequence[IntegritySignal],
    outcomes: Sequence[LoanOutcome],
) -> int:
    done = 0
    next_report = PROGRESS_ROWS
    pending = 0
    learned = 0
    for batch, ticks in work:
        log.add(engine.process(batch))
        while learned < len(outcomes) and batch and outcomes[learned].ts <= batch[-1].ts:
            outcome = outcomes[learned]
            engine.record_outcome(outcome.borrower_id, outcome.event, outcome.ts)
            learned += 1
        if pending < len(signals) and batch:
            until = batch[-1].ts
            first = pending
            while pending < len(signals) and signals[pending].at <= until:
                pending += 1
            if pending > first:
                log.add(engine.integrity(signals[first:pending]))
        run_ticks(engine, ticks, log)
        done += len(batch)
        if on_progress is not None and done >= next_report and batch:
            on_progress(done, batch[-1].ts)
            next_report = done + PROGRESS_ROWS
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
    work = batches(telemetry, tenant, step_s, chunk)
    signals = integrity_signals(telemetry, tenant)
    fed = feed(engine, work, log, on_progress, signals, outcomes)
    return ReplayResult(
        alerts=log.final(engine.open_alerts()),
        readings=fed,
        unmatched=engine.readings_unmatched - unmatched_before,
        seconds=time.perf_counter() - began,
    )
