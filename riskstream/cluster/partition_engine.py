"""One partition's risk engine: the borrowers of one partition of every lender.

The same `LenderEngines` as the single-process service, built over the fleets cut down to
the borrowers whose (tenant, borrower) hash to this partition.

Readings reach a partition from several ingest workers (each owns some devices), so a
borrower's readings arrive interleaved in an order no one device chose: while the
stream is replayed fast, one ingest partition can run minutes of event time ahead of
another, and the engine would take the devices behind for silent. Each ingest
partition therefore tells every risk partition, twice a second, how far in event time it
has handed readings on and whether it is idle (a heartbeat); the partition holds
readings back until every ingest partition that is not idle has passed them (the low
watermark), then feeds them in event-time order and runs the timers at every `STEP_S`
boundary, as `riskstream backtest` does. An ingest partition not heard of for
`SOURCE_TIMEOUT_S` (its worker died; another takes it over) no longer holds the others.
An idle ingest partition holds nothing back either, so that readings of the busy ones
go on while its devices are silent; for the moment it wakes up (its first readings may
be older than another partition's newest), every reading also waits `HOLD_S` of wall
time, which is enough for readings sent together to arrive together.

Its checkpoint is the service's authenticated checkpoint, tied to those borrowers and
to the partition, with the risk-stream sequence number of the last message taken and
the readings still held back: the owner that takes the partition over restores it and
reads on from the next message.
"""

import base64
import heapq
import itertools
import json
import math
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from devices.model import Fleet
from devices.reading import Reading
from riskstream.cluster.layout import partition_of
from riskstream.cluster.messages import RiskMessage
from riskstream.engine.alerts import Alert
from riskstream.engine.checkpoint import read_state
from riskstream.engine.clock import StreamClock
from riskstream.engine.lenders import LenderEngines
from riskstream.engine.resume import fleets_digest
from riskstream.rules.schema import RuleSet

STEP_S = 60.0
SOURCE_TIMEOUT_S = 30.0
HOLD_S = 1.0
MAX_TICKS_PER_GAP = 10_000
"""Across a longer gap in event time the timers run once, at its end."""

_held_encoder = msgspec.msgpack.Encoder()
_held_decoder = msgspec.msgpack.Decoder(list[Reading])


def fleets_of_partition(fleets: Iterable[Fleet], partition: int, partitions: int) -> list[Fleet]:
    """Every lender's fleet with only the borrowers of ``partition``."""
    return [
        fleet.model_copy(
            update={
                "borrowers": [
                    b
                    for b in fleet.borrowers
                    if partition_of(fleet.tenant.id, b.id, partitions) == partition
                ]
            }
        )
        for fleet in fleets
    ]


class PartitionEngine:
    """The engines of one partition, the stream position they cover, and their clock."""

    def __init__(
        self,
        partition: int,
        partitions: int,
        fleets: Iterable[Fleet],
        rules: RuleSet,
        own_rules: dict[str, RuleSet] | None = None,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.partition = partition
        mine = fleets_of_partition(fleets, partition, partitions)
        self.digest = fleets_digest(mine)
        self.engines = LenderEngines(mine, rules, own_rules)
        self.clock = StreamClock(wall_clock)
        self._wall = wall_clock
        self.covered_seq = 0
        """Risk-stream sequence number of the last message taken (0: none)."""
        self._held: list[tuple[float, int, Reading]] = []
        self._order = itertools.count()
        self._sources: dict[int, tuple[float, bool, float]] = {}
        """ingest partition -> (newest event time handed on, idle, wall time last heard)."""
        self._ticked_step: int | None = None
        self._arrived: deque[tuple[float, float]] = deque()
        """(wall time, newest event time received up to then), to see what has waited
        `HOLD_S`."""
        self._newest = -math.inf
        self._waited = -math.inf
        """The newest event time of the readings that arrived `HOLD_S` ago or earlier."""

    @property
    def held(self) -> int:
        """Readings waiting for the slower ingest partitions."""
        return len(self._held)

    def apply(self, message: RiskMessage, stream_seq: int) -> list[Alert]:
        """Take one message; the alert changes of what could be fed so far."""
        now = self._wall()
        changed: list[Alert] = []
        for action, tenant, alert_id in message.actions:
            book = self.engines.of(tenant).book
            if action == "acknowledge":
                book.acknowledge(alert_id)
            elif action == "resolve":
                book.forget(alert_id)
        if message.signals:
            changed.extend(self.engines.integrity(message.integrity_signals()))
        if message.source >= 0:
            seen, _, _ = self._sources.get(message.source, (-math.inf, False, now))
            newest = max(
                (r.ts for r in message.readings),
                default=message.watermark if message.watermark is not None else -math.inf,
            )
            idle = message.idle and not message.readings
            self._sources[message.source] = (max(seen, newest), idle, now)
        for reading in message.readings:
            heapq.heappush(self._held, (reading.ts, next(self._order), reading))
            self._newest = max(self._newest, reading.ts)
        if message.readings:
            self._arrived.append((now, self._newest))
        self.covered_seq = stream_seq
        changed.extend(self._feed(self._low_watermark(now)))
        return changed

    def _low_watermark(self, now: float) -> float:
        """How far readings may be fed: what every busy ingest partition has passed,
        and what arrived at least `HOLD_S` ago."""
        holding = [
            ts
            for ts, idle, heard in self._sources.values()
            if not idle and now - heard < SOURCE_TIMEOUT_S
        ]
        while self._arrived and self._arrived[0][0] <= now - HOLD_S:
            self._waited = max(self._waited, self._arrived.popleft()[1])
        return min([*holding, self._waited])

    def _feed(self, upto: float) -> list[Alert]:
        """Feed the held readings up to event time ``upto`` in order, running the
        timers at each step boundary on the way."""
        changed: list[Alert] = []
        batch: list[Reading] = []
        while self._held and self._held[0][0] <= upto:
            ts, _, reading = heapq.heappop(self._held)
            step = math.floor(ts / STEP_S)
            if self._ticked_step is None:
                self._ticked_step = step - 1
            if step > self._ticked_step + 1 and batch:
                changed.extend(self.engines.process(batch))
                batch = []
            if step > self._ticked_step + 1:
                changed.extend(self._ticks_until(step))
            batch.append(reading)
        if batch:
            changed.extend(self.engines.process(batch))
        if self._ticked_step is not None and math.isfinite(upto):
            changed.extend(self._ticks_until(math.floor(upto / STEP_S)))
        self.clock.advance(self.engines.watermark)
        return changed

    def _ticks_until(self, step: int) -> list[Alert]:
        """Run the timers at the end of every step before ``step`` not run yet."""
        assert self._ticked_step is not None
        first, last = self._ticked_step + 1, step - 1
        if last < first:
            return []
        changed: list[Alert] = []
        if last - first >= MAX_TICKS_PER_GAP:
            first = last
        for k in range(first, last + 1):
            changed.extend(self.engines.tick((k + 1) * STEP_S))
        self._ticked_step = last
        return changed

    def tick(self) -> list[Alert]:
        """The wall-clock side: feed what the low watermark allows now (an ingest
        partition may have gone quiet), then, with nothing held, run the timers at the
        partition's clock (event time, then wall-clock rate)."""
        changed = self._feed(self._low_watermark(self._wall()))
        now = self.clock.now()
        if now is not None and not self._held:
            changed.extend(self.engines.tick(now))
        return changed

    def _meta(self) -> dict[str, str]:
        return {"fleets": self.digest, "partition": str(self.partition)}

    def checkpoint(self, key: bytes) -> bytes:
        """The authenticated checkpoint of this partition: the engines, `covered_seq`
        and the readings held back."""
        held = [reading for _, _, reading in sorted(self._held)]
        meta = {
            **self._meta(),
            "seq": str(self.covered_seq),
            "held": base64.b64encode(_held_encoder.encode(held)).decode(),
            "ticked_step": "" if self._ticked_step is None else str(self._ticked_step),
            "sources": json.dumps(
                {
                    str(source): [ts if ts > -math.inf else None, idle]
                    for source, (ts, idle, _) in self._sources.items()
                }
            ),
        }
        with tempfile.TemporaryDirectory(prefix="riskstream-partition-") as tmp:
            path = Path(tmp) / "engine.ckpt"
            self.engines.checkpoint(path, meta, key=key)
            return path.read_bytes()

    def restore(self, data: bytes, key: bytes) -> None:
        """Resume from a `checkpoint` of the same borrowers and partition.

        Raises:
            ValueError (or a checkpoint error): another partition's, other fleets',
                altered or foreign-keyed; the caller starts the partition fresh.
        """
        with tempfile.TemporaryDirectory(prefix="riskstream-partition-") as tmp:
            path = Path(tmp) / "engine.ckpt"
            path.write_bytes(data)
            saved = read_state(path, key=key).get("meta", {})
            self.engines.restore(path, self._meta(), key=key)
        self.covered_seq = int(saved.get("seq", 0))
        now = self._wall()
        for reading in _held_decoder.decode(base64.b64decode(saved.get("held", "kA=="))):
            heapq.heappush(self._held, (reading.ts, next(self._order), reading))
            self._newest = max(self._newest, reading.ts)
        if self._held:
            self._arrived.append((now, self._newest))
        for source, (ts, idle) in json.loads(saved.get("sources", "{}")).items():
            self._sources[int(source)] = (-math.inf if ts is None else ts, idle, now)
        ticked = saved.get("ticked_step", "")
        self._ticked_step = int(ticked) if ticked else None
        self.clock.advance(self.engines.watermark)
