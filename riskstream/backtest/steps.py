"""The readings of a telemetry file in event-time steps, as the replay feeds them.

A step is `STEP_S` of event time (aligned to the first reading's minute); the engine's
timers run at the step boundaries between steps (`Ticks`). `batches` yields one step (or
one `CHUNK` of a big step) at a time; `step_groups` cuts a whole chunk of rows into its
steps with numpy and gives each step the time up to which no timer falls after it, so
`riskstream.engine.core.Engine.process_steps` can take steps between which nothing is
due in one call.
"""

import itertools
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from devices.reading import Reading
from ingest.integrity import IntegritySignal
from riskstream.backtest.outcomes_file import LoanOutcome
from riskstream.backtest.telemetry_file import Telemetry

STEP_S = 60.0
CHUNK = 65_536


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


class Group(Protocol):
    """Consecutive steps as `Engine.process_steps` takes them, and the ticks after each."""

    readings: list[Reading]
    ends: list[int]
    quiet: list[float]

    def ticks(self, i: int) -> Ticks:
        """The clock times to tick after step ``i``."""


@dataclass(slots=True)
class _BatchGroup:
    """Batches (`batches`) gathered into one group."""

    readings: list[Reading] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    quiet: list[float] = field(default_factory=list)
    after: list[Ticks] = field(default_factory=list)

    def ticks(self, i: int) -> Ticks:
        """The clock times to tick after step ``i``."""
        return self.after[i]


def _handed_at(until: float, signals: Sequence[float], cursor: int) -> int:
    """The cursor past the times in ``signals`` (from ``cursor``) at or before ``until``."""
    while cursor < len(signals) and signals[cursor] <= until:
        cursor += 1
    return cursor


def batch_groups(
    work: Iterable[Batch], signals: Sequence[IntegritySignal], outcomes: Sequence[LoanOutcome]
) -> Iterator[Group]:
    """Batches gathered up to `CHUNK` readings, each with the time up to which no tick
    falls after it; a batch after which a signal or outcome is handed over, and the
    last, end a merge (quiet until inf)."""
    signal_at = [s.at for s in signals]
    outcome_at = [o.ts for o in outcomes]
    signal, outcome = 0, 0
    group = _BatchGroup()
    for batch, ticks in work:
        group.readings += batch
        group.ends.append(len(group.readings))
        group.after.append(ticks)
        if ticks.at is not None:
            quiet = math.inf
        elif ticks.first > ticks.last:  # more of the same step follows: no tick between
            quiet = batch[-1].ts if batch else -math.inf
        else:
            quiet = ticks.origin + ticks.last * ticks.step_s
        if batch:
            moved = (
                _handed_at(batch[-1].ts, signal_at, signal),
                _handed_at(batch[-1].ts, outcome_at, outcome),
            )
            if moved != (signal, outcome):
                signal, outcome = moved
                quiet = math.inf
        group.quiet.append(quiet)
        if len(group.readings) >= CHUNK:
            yield group
            group = _BatchGroup()
    if group.ends:
        yield group


@dataclass(slots=True)
class _StepGroup:
    """Rows of a telemetry file cut into steps with numpy (`step_groups`)."""

    readings: list[Reading]
    ends: list[int]
    quiet: list[float]
    first_tick: list[int]
    last_tick: list[int]
    origin: float
    step_s: float
    at: float | None

    def ticks(self, i: int) -> Ticks:
        """The clock times to tick after step ``i``."""
        if self.at is not None and i == len(self.ends) - 1:
            return Ticks(at=self.at)
        return Ticks(self.origin, self.step_s, self.first_tick[i], self.last_tick[i])


def step_groups(
    telemetry: Telemetry,
    tenant: str | None,
    step_s: float = STEP_S,
    chunk: int = CHUNK,
    handed: Sequence[float] = (),
) -> Iterator[Group]:
    """The steps of `batches`, ``chunk`` rows at a time, cut with numpy rather than one
    batch at a time (a sparse file has a step per reading or two).

    Args:
        telemetry: the columns, sorted by event time.
        tenant: the tenant of every reading; None to take the file's ``tenant`` column.
        step_s: event time between timer runs.
        chunk: rows per group.
        handed: event times (sorted) of the signals and outcomes handed to the engine
            after the step whose last reading reaches them: those steps end a merge.
    """
    n = len(telemetry)
    if n == 0:
        return
    words = Words.of(telemetry)
    ts = telemetry.ts
    origin = float(np.floor(ts[0] / step_s) * step_s)
    step = np.floor((ts - origin) / step_s).astype(np.int64)
    handed_at = np.asarray(handed, dtype=np.float64)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        ends = np.append(np.flatnonzero(np.diff(step[lo:hi])) + 1, hi - lo)
        k = step[lo + ends - 1]
        after = np.append(k[1:], step[hi] if hi < n else k[-1])
        last_ts = ts[lo + ends - 1]
        # the last tick before the next step; a step cut by the chunk has none after it
        quiet = np.where(after > k, origin + after * step_s, last_ts)
        if hi == n:
            quiet[-1] = math.inf
        marks = np.searchsorted(last_ts, handed_at, side="left")
        quiet[marks[marks < len(ends)]] = math.inf
        yield _StepGroup(
            readings(telemetry, lo, hi, tenant, words),
            ends.tolist(),
            quiet.tolist(),
            (k + 1).tolist(),
            after.tolist(),
            origin,
            step_s,
            telemetry.end if hi == n else None,
        )
