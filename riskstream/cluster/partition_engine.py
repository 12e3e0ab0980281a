"""One partition's risk engine: the borrowers of one partition of every lender.

The same `LenderEngines` as the single-process service, built over the fleets cut down to
the borrowers whose (tenant, borrower) hash to this partition.

Readings reach a partition from several ingest workers (each owns some devices), so a
borrower's readings arrive interleaved in an order no one device chose: while the
stream is replayed fast, one ingest partition can run minutes of event time ahead of
another, and the engine would take the devices behind for silent. Each risk message
therefore carries the telemetry stream's sequence number of its device message, and
each ingest worker tells every risk partition, in one heartbeat for all its ingest
partitions, up to which telemetry sequence number each has handed everything on
(``through``: the last message it handed on, or the stream's end when it has nothing
pending), as soon as that changes (at most every `HEARTBEAT_S` of the ingest worker)
and at least every few seconds. A reading is fed only once every
ingest partition has come that far, so nothing older can still be on its way, whatever
the load; readings are fed in event-time order and the timers run at every `STEP_S`
boundary, as `riskstream backtest` does. An ingest partition not heard of for
`SOURCE_TIMEOUT_S` (no worker owns it) no longer holds the others.

Double pledge pairs a lot's loss with a gain at another borrower's lot, which may sit in
another partition: each partition hands the candidate moves of its own lots on
(`take_moves`, sent on the moves stream) and takes those of the lender's other
partitions (`apply_moves`); the alert is raised by the origin's partition (see
`riskstream.detectors.double_pledge`).

Its checkpoint is the service's authenticated checkpoint, tied to those borrowers and
to the partition, with the risk-stream sequence number of the last message taken, the
moves-stream sequence number of the last move taken and the readings still held back:
the owner that takes the partition over restores it and reads on from the next message
of each.
"""

import base64
import heapq
import itertools
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import msgspec

from devices.model import Fleet
from devices.reading import Reading
from riskstream.cluster.layout import partition_of
from riskstream.cluster.messages import MoveMessage, RiskMessage
from riskstream.detectors.double_pledge import DoublePledgeDetector
from riskstream.detectors.lot_moves import Move
from riskstream.engine.alerts import Alert
from riskstream.engine.checkpoint import read_state
from riskstream.engine.clock import StreamClock
from riskstream.engine.core import Engine
from riskstream.engine.fleet_index import CollateralContext, FleetIndex
from riskstream.engine.lenders import LenderEngines
from riskstream.engine.resume import fleets_digest
from riskstream.errors import RulesFileError
from riskstream.rules.lender import source_name
from riskstream.rules.schema import RuleSet, parse_rules
from riskstream.rules.tenancy import LenderScopeError, check_own_rules

log = logging.getLogger(__name__)

STEP_S = 60.0
SOURCE_TIMEOUT_S = 30.0
MAX_TICKS_PER_GAP = 10_000
"""Across a longer gap in event time the timers run once, at its end."""

_held_encoder = msgspec.msgpack.Encoder()
_held_decoder = msgspec.msgpack.Decoder(list[tuple[int, Reading]])


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


LenderLots = dict[str, Mapping[str, CollateralContext]]
"""tenant -> every lot of that lender, by collateral id."""


def lender_lots(fleets: Iterable[Fleet]) -> LenderLots:
    """Every lender's lots (a worker builds them once for all its partitions)."""
    return {fleet.tenant.id: FleetIndex([fleet]).collateral for fleet in fleets}


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
        sources: int | None = None,
        lots: LenderLots | None = None,
    ) -> None:
        """``sources``: the number of ingest partitions (the cluster's ``partitions``);
        ``lots``: `lender_lots` of ``fleets`` (built here if None)."""
        fleets = list(fleets)
        self.partition = partition
        self.partitions = partitions
        mine = fleets_of_partition(fleets, partition, partitions)
        self.digest = fleets_digest(mine)
        # a partition sees only some lenders' borrowers: no cross-lender match here
        self.engines = LenderEngines(mine, rules, own_rules, match_across_lenders=False)
        self._lots = lots if lots is not None else lender_lots(fleets)
        self._loans = {
            fleet.tenant.id: {loan.id for b in fleet.borrowers for loan in b.loans}
            for fleet in fleets
        }
        for tenant, engine in self.engines.by_tenant.items():
            pledges = _pledges(engine)
            pledges.lender_lots = self._lots.get(tenant, engine.index.collateral)
            pledges.shared = []
        self._keep_coverage_history()
        self.clock = StreamClock(wall_clock)
        self._wall = wall_clock
        self.covered_seq = 0
        """Risk-stream sequence number of the last message taken (0: none)."""
        self.moves_seq = 0
        """Moves-stream sequence number of the last move taken (0: none)."""
        self.moves_refused = 0
        self._pending_rules: list[tuple[int, str, int, str]] = []
        """(telemetry sequence number they follow, lender, version, text) of rules not
        yet in force, in the order they came."""
        self.rules_in_force: dict[str, tuple[int, str]] = {}
        """lender ("" for the service's) -> (version, text) of the rules the stream put in
        force; kept in the checkpoint, so the next owner replays under them."""
        self._held: list[tuple[float, int, int, Reading]] = []
        """(event time, arrival order, telemetry sequence number, reading)."""
        self._order = itertools.count()
        now = wall_clock()
        self._sources: dict[int, tuple[int, float]] = dict.fromkeys(range(partitions), (0, now))
        """ingest partition -> (telemetry sequence number it has handed everything on up
        to, wall time last heard); each holds readings back from its first heartbeat on
        or, if it has none, for `SOURCE_TIMEOUT_S`."""
        self._ticked_step: int | None = None
        self.touched: set[tuple[str, str]] = set()
        """(tenant, borrower) whose readings were fed or whose alerts changed since the
        live states were last looked at (`riskstream.cluster.live_states`)."""

    def _keep_coverage_history(self) -> None:
        """The API tier has no telemetry store: its coverage chart comes from the engines."""
        for engine in self.engines.by_tenant.values():
            engine.coverage.keep_history()

    def _touch(self, readings: Iterable[Reading] = (), alerts: Iterable[Alert] = ()) -> None:
        for reading in readings:
            device = self.engines.of(reading.tenant).index.devices.get(reading.device_id)
            if device is not None:
                self.touched.add((reading.tenant, device.borrower_id))
        self.touched.update((a.tenant, a.borrower_id) for a in alerts)

    def _touch_all(self) -> None:
        for tenant, engine in self.engines.by_tenant.items():
            self.touched.update((tenant, b) for b in engine.index.borrowers)

    @property
    def held(self) -> int:
        """Readings waiting for the slower ingest partitions."""
        return len(self._held)

    def apply(self, message: RiskMessage, stream_seq: int) -> list[Alert]:
        """Take one message; the alert changes of what could be fed so far."""
        now = self._wall()
        changed: list[Alert] = []
        for scope, version, text in message.rules:
            self._pending_rules.append((message.rules_after, scope, version, text))
        for action, tenant, alert_id in message.actions:
            book = self.engines.of(tenant).book
            if action == "acknowledge":
                book.acknowledge(alert_id)
            elif action == "resolve":
                book.forget(alert_id)
        if message.signals:
            changed.extend(self.engines.integrity(message.integrity_signals()))
        if message.source >= 0:
            self._heard(message.source, max(message.through, message.seq), now)
        for source, through in message.throughs.items():
            self._heard(source, through, now)
        for reading in message.readings:
            heapq.heappush(self._held, (reading.ts, next(self._order), message.seq, reading))
        self.covered_seq = stream_seq
        changed.extend(self._feed(self._fed_through(now)))
        self._touch(alerts=changed)
        return changed

    def use_rules(self, scope: str, version: int, text: str) -> bool:
        """Put a lender's rules (``scope``; "" for the service's) in force for its
        engine, keeping what it learned; False (logged) if the text is refused."""
        try:
            if scope:
                ruleset = parse_rules(text, source_name(scope))
                check_own_rules(ruleset, scope, self._loans.get(scope, set()))
            else:
                ruleset = parse_rules(text, "<rules of the service>")
        except (RulesFileError, LenderScopeError) as exc:
            log.error("partition %d: rules version %d refused: %s", self.partition, version, exc)
            return False
        if scope:
            self.engines.set_own_rules(scope, ruleset)
        else:
            self.engines.set_default_rules(ruleset)
        self._touch_all()
        self.rules_in_force[scope] = (version, text)
        log.info(
            "partition %d: rules version %d of %s in force",
            self.partition,
            version,
            f"lender {scope}" if scope else "the service",
        )
        return True

    def take_moves(self) -> list[MoveMessage]:
        """The candidate moves this partition's lots made since the last call, for the
        other partitions."""
        found: list[MoveMessage] = []
        for tenant, engine in self.engines.by_tenant.items():
            for move in _pledges(engine).take_shared():
                lot = engine.index.collateral[move.collateral_id]
                found.append(
                    MoveMessage(
                        tenant,
                        lot.borrower_id,
                        move.collateral_id,
                        move.delta_kg,
                        move.start,
                        move.end,
                        move.seen_at,
                        move.quiet,
                        self.partition,
                    )
                )
        return found

    def apply_moves(self, moves: list[tuple[MoveMessage, int]]) -> list[Alert]:
        """Take (move, moves-stream sequence number) of other partitions; the alert
        changes. A move of this partition, or one whose lender, lot, borrower and
        partition do not agree with the fleets, is refused (counted in
        ``moves_refused``)."""
        changed: list[Alert] = []
        by_tenant: dict[str, list[Move]] = {}
        for message, seq in moves:
            self.moves_seq = max(self.moves_seq, seq)
            if message.partition == self.partition:
                continue  # our own, back from the stream
            if not self._plausible(message):
                self.moves_refused += 1
                continue
            by_tenant.setdefault(message.tenant, []).append(
                Move(
                    message.collateral_id,
                    message.delta_kg,
                    message.start,
                    message.end,
                    message.seen_at,
                    message.quiet,
                )
            )
        for tenant, told in by_tenant.items():
            engine = self.engines.by_tenant[tenant]
            alerts = _pledges(engine).observe_remote(
                told, engine.movement, engine.book, engine.wall_clock()
            )
            if alerts:
                engine.settle(alerts, max(a.updated_at for a in alerts))
                changed.extend(alerts)
        self._touch(alerts=changed)
        return changed

    def _plausible(self, move: MoveMessage) -> bool:
        lot = self._lots.get(move.tenant, {}).get(move.collateral_id)
        return (
            move.tenant in self.engines.by_tenant
            and lot is not None
            and lot.borrower_id == move.borrower_id
            and partition_of(move.tenant, move.borrower_id, self.partitions) == move.partition
        )

    def _heard(self, source: int, through: int, now: float) -> None:
        before, _ = self._sources.get(source, (0, now))
        self._sources[source] = (max(before, through), now)

    def _fed_through(self, now: float) -> int:
        """The telemetry sequence number every ingest partition still heard of has
        handed everything on up to: readings up to it can no longer be overtaken."""
        heard = [through for through, at in self._sources.values() if now - at < SOURCE_TIMEOUT_S]
        return min(heard) if heard else sys.maxsize

    def _feed(self, through: int) -> list[Alert]:
        """Feed what can be fed up to ``through``, putting rules in force on the way once
        every reading they follow has been fed."""
        changed: list[Alert] = []
        while self._pending_rules and self._pending_rules[0][0] <= through:
            after, scope, version, text = self._pending_rules.pop(0)
            changed.extend(self._feed_upto(after))
            self.use_rules(scope, version, text)
        changed.extend(self._feed_upto(through))
        return changed

    def _feed_upto(self, through: int) -> list[Alert]:
        """Feed, in event-time order, the held readings that nothing can overtake any
        more (telemetry sequence number up to ``through``), running the timers at each
        step boundary on the way."""
        changed: list[Alert] = []
        batch: list[Reading] = []
        while self._held and self._held[0][2] <= through:
            ts, _, _, reading = heapq.heappop(self._held)
            step = math.floor(ts / STEP_S)
            if self._ticked_step is None:
                self._ticked_step = step - 1
            if step > self._ticked_step + 1 and batch:
                self._touch(batch)
                changed.extend(self.engines.process(batch))
                batch = []
            if step > self._ticked_step + 1:
                changed.extend(self._ticks_until(step))
            batch.append(reading)
        if batch:
            self._touch(batch)
            changed.extend(self.engines.process(batch))
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
        """The wall-clock side: feed what can be fed now (an ingest partition may have
        stopped holding), then, with nothing held, run the timers at the partition's
        clock (event time, then wall-clock rate)."""
        changed = self._feed(self._fed_through(self._wall()))
        now = self.clock.now()
        if now is not None and not self._held:
            changed.extend(self.engines.tick(now))
        self._touch(alerts=changed)
        return changed

    def _meta(self) -> dict[str, str]:
        return {"fleets": self.digest, "partition": str(self.partition)}

    def checkpoint(self, key: bytes) -> bytes:
        """The authenticated checkpoint of this partition: the engines, `covered_seq`
        and the readings held back."""
        held = [(seq, reading) for _, _, seq, reading in sorted(self._held)]
        meta = {
            **self._meta(),
            "seq": str(self.covered_seq),
            "moves_seq": str(self.moves_seq),
            "rules": json.dumps(self.rules_in_force),
            "pending_rules": json.dumps(self._pending_rules),
            "held": base64.b64encode(_held_encoder.encode(held)).decode(),
            "ticked_step": "" if self._ticked_step is None else str(self._ticked_step),
            "sources": json.dumps({str(k): through for k, (through, _) in self._sources.items()}),
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
        self._keep_coverage_history()  # a checkpoint from before it was kept has none
        self.covered_seq = int(saved.get("seq", 0))
        self.moves_seq = int(saved.get("moves_seq", 0))
        for scope, (version, text) in json.loads(saved.get("rules", "{}")).items():
            self.use_rules(scope, int(version), text)
        for after, scope, version, text in json.loads(saved.get("pending_rules", "[]")):
            self._pending_rules.append((int(after), scope, int(version), text))
        now = self._wall()
        for seq, reading in _held_decoder.decode(base64.b64decode(saved.get("held", "kA=="))):
            heapq.heappush(self._held, (reading.ts, next(self._order), seq, reading))
        for source, through in json.loads(saved.get("sources", "{}")).items():
            self._sources[int(source)] = (int(through), now)
        ticked = saved.get("ticked_step", "")
        self._ticked_step = int(ticked) if ticked else None
        self.clock.advance(self.engines.watermark)


def _pledges(engine: Engine) -> DoublePledgeDetector:
    detector: DoublePledgeDetector = engine.detector("double_pledge")
    return detector
