"""`riskstream worker risk`: run the risk engine over the partitions this worker owns.

Every `LEASE_TTL_S` / 3 the worker renews its leases (`riskstream.cluster.leases`). For
each partition it gains it restores the partition's checkpoint from the object store (or
starts it fresh) and reads the risk stream's subject of that partition from the message
after the one the checkpoint covers, through an ephemeral consumer of its own. Alert
changes go to the alerts stream with a de-duplication id. Each partition is checkpointed
every ``checkpoint_every_s`` and when it is handed back; a partition lost (another
worker took it: this one was too slow) is dropped without a checkpoint.

Each partition also reads the moves stream (every partition's candidate lot moves, for
double pledge) from the move after the one its checkpoint covers, every `TICK_EVERY_S`,
and publishes the moves of its own lots there, before its checkpoint moves on.

Each partition sends its borrowers' live state (score, matrix, lots' coverage) to the
bucket `LIVE_BUCKET` for the API tier's borrower pages (`riskstream.cluster.live_states`).

A worker killed without warning loses nothing: its leases expire, another worker
restores the last checkpoint and reads on from there; the alert changes it finds again
are the same changes with the same de-duplication ids, which the alerts stream keeps once
within its duplicate window, and the API tier's sink takes each change once.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    NoKeysError,
    NotFoundError,
    ObjectNotFoundError,
)
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from devices.model import Fleet
from riskstream.cluster.connection import connect_cluster
from riskstream.cluster.errors import ClusterSettingsError
from riskstream.cluster.layout import (
    CHECKPOINTS_BUCKET,
    LEASES_BUCKET,
    LIVE_BUCKET,
    MOVES_STREAM,
    MOVES_SUBJECT_PREFIX,
    RISK_STREAM,
    RULES_BUCKET,
    SERVICE_RULES_KEY,
    TRANSIENT_ERRORS,
    alerts_subject,
    live_state_key,
    moves_subject,
    risk_subject,
)
from riskstream.cluster.leases import PartitionLeases
from riskstream.cluster.live_states import LiveStateSender
from riskstream.cluster.logins import NatsLogin
from riskstream.cluster.messages import (
    MoveMessage,
    alert_message_id,
    decode_move,
    decode_risk,
    decode_rules_entry,
    encode_alert,
    encode_move,
    move_message_id,
)
from riskstream.cluster.partition_engine import LenderLots, PartitionEngine, lender_lots
from riskstream.cluster.supervisor import PartitionSupervisor, close_quietly
from riskstream.cluster.topology import read_partitions
from riskstream.engine.alerts import Alert
from riskstream.engine.live_state import BorrowerState, encode_state
from riskstream.rules.lender import source_name
from riskstream.rules.schema import RuleSet, parse_rules

log = logging.getLogger(__name__)

FETCH_BATCH = 256
FETCH_WAIT_S = 0.5
MOVES_FETCH_BATCH = 256
MOVES_WAIT_S = 0.05
STALE_WAIT_S = 0.2
TICK_EVERY_S = 0.5
HAND_BACK_WAIT_S = 60.0
"""How long a partition handed back may take to save its state before it is cancelled."""


@dataclass
class RiskWorkerConfig:
    """What a risk worker needs besides the cluster."""

    fleets: list[Fleet]
    rules: RuleSet
    own_rules: dict[str, RuleSet]
    checkpoint_key: bytes
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    checkpoint_every_s: float = 30.0
    login: NatsLogin | None = None
    """The NATS user ``risk`` of a cluster with users (`riskstream.cluster.permissions`)."""


def checkpoint_name(partition: int) -> str:
    return f"risk.p{partition}"


class RiskWorker:
    """One risk worker: leases, partition engines, checkpoints."""

    def __init__(self, servers: list[str], config: RiskWorkerConfig) -> None:
        self.servers = servers
        self.config = config
        self._supervisor: PartitionSupervisor | None = None
        self.alerts_published = 0
        self.messages_applied = 0
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._leases: PartitionLeases | None = None
        self._checkpoints: ObjectStore | None = None
        self._live: KeyValue | None = None
        self.states_sent = 0
        self._partitions = 0
        self._lots: LenderLots = lender_lots(config.fleets)
        self._work = ThreadPoolExecutor(1, thread_name_prefix="risk-work")
        """The one thread the engines run in, so that the event loop stays free to
        renew leases while they work."""

    @property
    def worker_id(self) -> str:
        return self.config.worker_id

    async def run(self, stop: asyncio.Event) -> None:
        """Own partitions and run their engines until ``stop``; then checkpoint and hand
        every partition back."""
        nc = await connect_cluster(self.servers, f"risk-{self.worker_id}", login=self.config.login)
        self._nc, self._js = nc, nc.jetstream()
        try:
            self._partitions = await read_partitions(self._js)
            try:
                await self._js.stream_info(MOVES_STREAM)
            except NotFoundError:
                raise ClusterSettingsError(
                    f"the cluster has no stream {MOVES_STREAM}, made by a newer riskstream "
                    "cluster up: run it again on this cluster (nothing in it is lost)"
                ) from None
            await self._rules_from_bucket()
            self._checkpoints = await self._js.object_store(CHECKPOINTS_BUCKET)
            try:
                self._live = await self._js.key_value(LIVE_BUCKET)
            except BucketNotFoundError:
                log.error(
                    "the cluster has no bucket %s (made by a newer riskstream cluster up): "
                    "borrower pages of the API show no live state until it runs again",
                    LIVE_BUCKET,
                )
            self._leases = leases = PartitionLeases(
                await self._js.key_value(LEASES_BUCKET), "risk", self.worker_id, self._partitions
            )
            self._supervisor = PartitionSupervisor(leases, self._take, HAND_BACK_WAIT_S)
            await self._supervisor.run(stop, nc)
        finally:
            if self._supervisor is not None:
                for task in self._supervisor.tasks.values():
                    task.cancel()
            await close_quietly(nc)
            self._work.shutdown(wait=True)

    async def _rules_from_bucket(self) -> None:
        """Take the rules the API tier put in the rules bucket over those this worker
        was started with (they are the ones the API shows and edits)."""
        assert self._js is not None
        try:
            bucket = await self._js.key_value(RULES_BUCKET)
            keys = await bucket.keys()
        except (BucketNotFoundError, NoKeysError):
            return
        for key in keys:
            scope = "" if key == SERVICE_RULES_KEY else key.removeprefix("lender.")
            try:
                entry = await bucket.get(key)
                version, _, text = decode_rules_entry(entry.value or b"")
                ruleset = parse_rules(
                    text, source_name(scope) if scope else "<rules of the service>"
                )
            except (KeyNotFoundError, ValueError) as exc:  # a RulesFileError is a ValueError
                log.error("rules %s in bucket %s not used: %s", key, RULES_BUCKET, exc)
                continue
            if scope:
                self.config.own_rules[scope] = ruleset
            else:
                self.config.rules = ruleset
            log.info(
                "worker %s: rules %s version %d from the cluster", self.worker_id, key, version
            )

    @property
    def owned(self) -> dict[int, asyncio.Task[None]]:
        """The partitions this worker works now, and their tasks."""
        return self._supervisor.tasks if self._supervisor is not None else {}

    def _fresh(self, partition: int) -> PartitionEngine:
        config = self.config
        return PartitionEngine(
            partition,
            self._partitions,
            config.fleets,
            config.rules,
            config.own_rules,
            lots=self._lots,
        )

    async def _take(self, partition: int, hand_back: asyncio.Event) -> asyncio.Task[None]:
        engine = self._fresh(partition)
        assert self._checkpoints is not None
        try:
            found = await self._checkpoints.get(checkpoint_name(partition))
        except ObjectNotFoundError:
            found = None
        if found is not None and found.data:
            try:
                engine.restore(found.data, self.config.checkpoint_key)
            except Exception as exc:  # any refusal means: start the partition fresh
                log.warning("partition %d checkpoint not used, starting fresh: %s", partition, exc)
                engine = self._fresh(partition)
        assert self._js is not None
        stream = (await self._js.stream_info(RISK_STREAM)).state
        if engine.covered_seq > stream.last_seq:
            log.warning(
                "partition %d checkpoint covers sequence %d, beyond the risk stream's last "
                "(%d): the stream was made anew; starting the partition fresh",
                partition,
                engine.covered_seq,
                stream.last_seq,
            )
            engine = self._fresh(partition)
        elif engine.covered_seq + 1 < stream.first_seq:
            log.warning(
                "partition %d: messages %d to %d are no longer in the risk stream (its "
                "retention); going on from %d",
                partition,
                engine.covered_seq + 1,
                stream.first_seq - 1,
                stream.first_seq,
            )
        moves = (await self._js.stream_info(MOVES_STREAM)).state
        if engine.moves_seq > moves.last_seq:
            engine.moves_seq = 0  # the moves stream was made anew: read it all
        log.info(
            "worker %s took partition %d from stream sequence %d",
            self.worker_id,
            partition,
            engine.covered_seq + 1,
        )
        return asyncio.create_task(self._run_partition(engine, hand_back), name=f"p{partition}")

    async def _run_partition(self, engine: PartitionEngine, hand_back: asyncio.Event) -> None:
        assert self._js is not None
        config = ConsumerConfig(
            filter_subject=risk_subject(engine.partition),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=engine.covered_seq + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
        )
        subscription = await self._js.pull_subscribe(
            risk_subject(engine.partition), stream=RISK_STREAM, config=config
        )
        moves_config = ConsumerConfig(
            filter_subject=f"{MOVES_SUBJECT_PREFIX}.>",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=engine.moves_seq + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
        )
        told = await self._js.pull_subscribe(
            f"{MOVES_SUBJECT_PREFIX}.>", stream=MOVES_STREAM, config=moves_config
        )
        last_checkpoint = time.monotonic()
        last_tick = time.monotonic()
        sender = LiveStateSender(self.worker_id)
        try:
            while not hand_back.is_set():
                if self._leases is not None and not self._leases.fresh():
                    await asyncio.sleep(STALE_WAIT_S)  # renewals are late: someone may own it now
                    continue
                try:
                    messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                except TRANSIENT_ERRORS as exc:
                    messages = []
                    if not isinstance(exc, TimeoutError | nats.errors.TimeoutError):
                        await asyncio.sleep(STALE_WAIT_S)  # a leader is being elected
                tick = time.monotonic() - last_tick >= TICK_EVERY_S
                moves: list[Msg] = []
                if tick:
                    last_tick = time.monotonic()
                    moves = await _fetch_moves(told)
                changed, found = await asyncio.get_running_loop().run_in_executor(
                    self._work, _apply, engine, messages, moves, tick
                )
                self.messages_applied += len(messages)
                await self._publish(changed)
                await self._publish_moves(engine.partition, found)
                if self._live is not None and sender.due(behind=len(messages) >= FETCH_BATCH):
                    states = await asyncio.get_running_loop().run_in_executor(
                        self._work, sender.pick, engine.engines.by_tenant, engine.touched
                    )
                    await self._send_states(self._live, sender, states)
                if time.monotonic() - last_checkpoint >= self.config.checkpoint_every_s:
                    await self._checkpoint(engine)
                    last_checkpoint = time.monotonic()
            await self._checkpoint(engine)
        finally:
            for sub in (subscription, told):
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _publish_moves(self, partition: int, moves: list[MoveMessage]) -> None:
        assert self._js is not None
        for move in moves:
            await self._js.publish(
                moves_subject(partition),
                encode_move(move),
                headers={"Nats-Msg-Id": move_message_id(move)},
            )

    async def _publish(self, changed: list[Alert]) -> None:
        assert self._js is not None
        for alert in changed:
            await self._js.publish(
                alerts_subject(alert.tenant),
                encode_alert(alert),
                headers={"Nats-Msg-Id": alert_message_id(alert)},
            )
        self.alerts_published += len(changed)

    async def _send_states(
        self, bucket: KeyValue, sender: LiveStateSender, states: list[BorrowerState]
    ) -> None:
        """Put borrowers' live states in the bucket; one not taken is sent at the next
        look (logged once per look)."""
        for state in states:
            try:
                key = live_state_key(state.tenant, state.borrower_id)
                await bucket.put(key, encode_state(state))
            except Exception as exc:  # a timeout or a cluster without quorum: not fatal
                log.warning("live state of %s not sent: %r", state.borrower_id, exc)
                return
            sender.sent(state)
            self.states_sent += 1

    async def _checkpoint(self, engine: PartitionEngine) -> None:
        """Save the partition's state; on failure say so and go on (whoever takes the
        partition next reads on from the checkpoint before)."""
        assert self._checkpoints is not None
        data = await asyncio.get_running_loop().run_in_executor(
            self._work, engine.checkpoint, self.config.checkpoint_key
        )
        try:
            await self._checkpoints.put(checkpoint_name(engine.partition), data)
        except Exception as exc:  # a timeout or a cluster without quorum: not fatal
            log.error("partition %d: checkpoint not saved: %r", engine.partition, exc)


async def _fetch_moves(told: JetStreamContext.PullSubscription) -> list[Msg]:
    """The moves other partitions told since the last fetch (none while a leader is
    elected: they wait in the stream)."""
    try:
        return await told.fetch(MOVES_FETCH_BATCH, timeout=MOVES_WAIT_S)
    except TRANSIENT_ERRORS:
        return []


def _apply(
    engine: PartitionEngine, messages: list[Msg], moves: list[Msg], tick: bool
) -> tuple[list[Alert], list[MoveMessage]]:
    """Run fetched messages and moves (and the timers, when due) through a partition's
    engine: its alert changes and the moves of its lots to tell the others. A message
    that is not a risk message or a move is logged and passed over."""
    changed: list[Alert] = []
    for message in messages:
        try:
            decoded = decode_risk(message.data)
        except ValueError as exc:
            log.warning(
                "partition %d: message %d refused: %s",
                engine.partition,
                message.metadata.sequence.stream,
                str(exc)[:200],
            )
            continue
        changed.extend(engine.apply(decoded, message.metadata.sequence.stream))
    if tick:
        changed.extend(engine.tick())
    told: list[tuple[MoveMessage, int]] = []
    for message in moves:
        seq = message.metadata.sequence.stream
        try:
            told.append((decode_move(message.data), seq))
        except ValueError as exc:
            log.warning("partition %d: move %d refused: %s", engine.partition, seq, str(exc)[:200])
            engine.moves_seq = max(engine.moves_seq, seq)
    changed.extend(engine.apply_moves(told))
    return changed, engine.take_moves()
