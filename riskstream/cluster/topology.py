"""The streams and buckets of `riskstream.cluster.layout` on a JetStream cluster, made
idempotently, and the cluster's partition count.

`ensure_topology` may run any number of times: what exists is left as it is (a stream
whose subjects, sources, subject transform, replicas or de-duplication window differ is
updated), and the partition count, once written, never changes: asking for another one
is refused before anything is touched. The subject transform of the telemetry stream's
source uses the partition count, so it is fixed with it.

The telemetry stream sources what MQTT clients publish from nats-server's own
`MQTT_STREAM` through a durable consumer made here, before the telemetry stream: that
stream keeps a message (interest retention) only while a consumer wants it, so the
consumer must exist before the first device publishes. A telemetry stream of an older
`riskstream cluster up` (capturing the core subject ``rs.v1.*.*.telemetry``) is updated
in place into this one: its messages and sequence numbers stay.
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
import nats.js.kv
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamConsumerSource,
    StreamSource,
    SubjectTransform,
)

from riskstream.cluster.connection import connect_cluster
from riskstream.cluster.errors import ClusterSettingsError
from riskstream.cluster.layout import (
    ALERTS_STREAM,
    ALERTS_SUBJECT_PREFIX,
    CHECKPOINTS_BUCKET,
    DEFAULT_PARTITIONS,
    DUPLICATE_WINDOW_S,
    LEASE_TTL_S,
    LEASES_BUCKET,
    LIVE_BUCKET,
    LIVE_MAX_BYTES,
    LIVE_MAX_VALUE_BYTES,
    MOVES_STREAM,
    MOVES_SUBJECT_PREFIX,
    MQTT_STREAM,
    MQTT_SUBJECT_PREFIX,
    QOS0_SUBJECT_PREFIX,
    RISK_STREAM,
    RISK_SUBJECT_PREFIX,
    RULES_BUCKET,
    SETTINGS_BUCKET,
    TELEMETRY_SOURCE_CONSUMER,
    TELEMETRY_SOURCE_DELIVER,
    TELEMETRY_STREAM,
    TELEMETRY_SUBJECT,
    qos0_transform,
    telemetry_transform,
)
from riskstream.cluster.logins import NatsLogin

PARTITIONS_KEY = "partitions"
MAX_PARTITIONS = 4096
SETTLE_TIMEOUT_S = 20.0
"""How long to retry while JetStream is still electing leaders (a fresh or degraded
cluster answers "temporarily unavailable" or not at all for a few seconds)."""
API_TIMEOUT_S = 1.0
"""Timeout of one JetStream API request made on a client given to `ensure_topology`:
short, as a stream without a leader yet does not answer and each step is retried (every
step is idempotent, so a request that did land is harmless to repeat)."""

SOURCE_MAX_ACK_PENDING = 10_000
"""Messages the source consumer sends ahead of the telemetry stream's acknowledgement (a
flow-control reply, sent once what came before it is replicated)."""
SOURCE_HEARTBEAT_S = 1.0
"""nats-server requires exactly 1 s for a consumer with flow-control acknowledgements."""
UNAVAILABLE = 10008
NO_PEERS = 10005
"""nats-server's "no suitable peers for placement, peer offline": a replicated stream
asked for while the meta leader has not heard from a node lately (a fresh cluster, or
a busy machine), so again until `SETTLE_TIMEOUT_S`."""
STREAM_NAME_IN_USE = 10058
"""nats-server's error code for a stream created with another configuration than the
existing one of that name."""

T = TypeVar("T")


def mqtt_stream_config(replicas: int) -> StreamConfig:
    """`MQTT_STREAM` as nats-server makes it when the first MQTT client of the account
    connects (``server/mqtt.go``), made here first when no client has connected yet."""
    return StreamConfig(
        name=MQTT_STREAM,
        subjects=[MQTT_SUBJECT_PREFIX + ">"],
        retention=RetentionPolicy.INTEREST,
        storage=StorageType.FILE,
        num_replicas=replicas,
    )


def source_consumer_config() -> ConsumerConfig:
    """The durable consumer on `MQTT_STREAM` the telemetry stream sources through.

    Its acknowledgements are the telemetry stream's flow-control replies, which the
    stream's leader sends through its replication log, after the messages before them: a
    message leaves `MQTT_STREAM` only once the telemetry stream's replicas have it. Being
    durable and replicated like `MQTT_STREAM` (the replica count left unset: the
    stream's, which nats-server requires of an interest stream's consumers), it keeps the
    messages while the telemetry stream elects a leader, and the new leader resets it to
    what it has stored."""
    return ConsumerConfig(
        durable_name=TELEMETRY_SOURCE_CONSUMER,
        deliver_subject=TELEMETRY_SOURCE_DELIVER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.FLOW_CONTROL,
        flow_control=True,
        idle_heartbeat=SOURCE_HEARTBEAT_S,
        max_ack_pending=SOURCE_MAX_ACK_PENDING,
        filter_subject=MQTT_SUBJECT_PREFIX + TELEMETRY_SUBJECT,
    )


def stream_configs(replicas: int, partitions: int) -> list[StreamConfig]:
    """The four streams, file-backed with ``replicas`` replicas; the telemetry stream
    sources from `MQTT_STREAM` and files each device's messages under its ingest
    partition (`telemetry_transform`), and captures the QoS 0 messages the ingest
    workers relay, filed under the same partition (`qos0_transform`)."""

    def stream(name: str, subjects: list[str], duplicate_window: float = 0) -> StreamConfig:
        return StreamConfig(
            name=name,
            subjects=subjects,
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=duplicate_window,
        )

    telemetry = stream(TELEMETRY_STREAM, [f"{QOS0_SUBJECT_PREFIX}.*.*"], DUPLICATE_WINDOW_S)
    telemetry.subject_transform = SubjectTransform(*qos0_transform(partitions))
    telemetry.sources = [
        StreamSource(
            name=MQTT_STREAM,
            subject_transforms=[SubjectTransform(*telemetry_transform(partitions))],
            consumer=StreamConsumerSource(TELEMETRY_SOURCE_CONSUMER, TELEMETRY_SOURCE_DELIVER),
        )
    ]
    return [
        telemetry,
        stream(RISK_STREAM, [f"{RISK_SUBJECT_PREFIX}.>"], DUPLICATE_WINDOW_S),
        stream(ALERTS_STREAM, [f"{ALERTS_SUBJECT_PREFIX}.>"], DUPLICATE_WINDOW_S),
        stream(MOVES_STREAM, [f"{MOVES_SUBJECT_PREFIX}.>"], DUPLICATE_WINDOW_S),
    ]


def check_partitions(partitions: int) -> int:
    """``partitions`` if it is a whole number from 1 to `MAX_PARTITIONS`."""
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise ClusterSettingsError(f"partitions must be a whole number, not {partitions!r}")
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ClusterSettingsError(f"partitions must be 1 to {MAX_PARTITIONS}, not {partitions}")
    return partitions


async def ensure_topology(
    nc_or_js: Client | JetStreamContext, replicas: int, partitions: int | None = None
) -> int:
    """Create whatever of the streams and buckets is missing; write the partition count
    of a new cluster (`DEFAULT_PARTITIONS` when ``partitions`` is None) and return the
    cluster's. ClusterSettingsError if the cluster has another partition count."""
    if partitions is not None:
        check_partitions(partitions)
    js = nc_or_js.jetstream(timeout=API_TIMEOUT_S) if isinstance(nc_or_js, Client) else nc_or_js
    existing = await _settled(lambda: _partitions_if_any(js))
    if existing is not None and partitions is not None and existing != partitions:
        raise _refused(existing, partitions)
    wanted = existing or partitions or DEFAULT_PARTITIONS
    await _settled(lambda: _ensure_mqtt_stream(js, replicas))
    await _settled(lambda: _ensure_source_consumer(js))
    for config in stream_configs(replicas, wanted):
        await _settled(functools.partial(_ensure_stream, js, config))
    await _settled(lambda: _ensure_key_value(js, LEASES_BUCKET, replicas, ttl=LEASE_TTL_S))
    await _settled(lambda: _ensure_object_store(js, CHECKPOINTS_BUCKET, replicas))
    await _settled(lambda: _ensure_key_value(js, RULES_BUCKET, replicas))
    await _settled(lambda: _ensure_live_bucket(js, replicas))
    settings = await _settled(lambda: _ensure_key_value(js, SETTINGS_BUCKET, replicas))
    try:
        await _settled(lambda: settings.create(PARTITIONS_KEY, str(wanted).encode()))
    except nats.js.errors.KeyWrongLastSequenceError:  # there already, or written meanwhile
        written = await read_partitions(js)
        if written != wanted:
            raise _refused(written, wanted) from None
    return wanted


async def prepare_cluster(
    urls: list[str], replicas: int, partitions: int | None = None, login: NatsLogin | None = None
) -> int:
    """Connect to the cluster at ``urls`` (as ``login``, the ``admin`` user of a cluster
    with users), `ensure_topology`, disconnect; the cluster's partition count."""
    nc = await connect_cluster(urls, "riskstream-cluster-setup", first_attempts=10, login=login)
    try:
        return await ensure_topology(nc, replicas, partitions)
    finally:
        await nc.close()


async def read_partitions(js: JetStreamContext) -> int:
    """The cluster's partition count; ClusterSettingsError if it is missing or malformed."""
    partitions = await _partitions_if_any(js)
    if partitions is None:
        raise ClusterSettingsError(
            f"the cluster has no {PARTITIONS_KEY!r} in bucket {SETTINGS_BUCKET!r}; "
            "riskstream cluster up writes it"
        )
    return partitions


async def _partitions_if_any(js: JetStreamContext) -> int | None:
    try:
        settings = await js.key_value(SETTINGS_BUCKET)
        entry = await settings.get(PARTITIONS_KEY)
    except nats.js.errors.NotFoundError:  # the bucket, the key, or a deleted key
        return None
    raw = entry.value or b""
    text = raw[:12].decode("ascii", errors="replace")
    if len(raw) > 12 or not text.isdigit():
        raise ClusterSettingsError(
            f"{SETTINGS_BUCKET}/{PARTITIONS_KEY} is {text!r}, not a whole number"
        )
    try:
        return check_partitions(int(text))
    except ClusterSettingsError as exc:
        raise ClusterSettingsError(f"{SETTINGS_BUCKET}/{PARTITIONS_KEY}: {exc}") from None


def _refused(existing: int, asked: int) -> ClusterSettingsError:
    return ClusterSettingsError(
        f"the cluster has {existing} partitions and cannot change to {asked}: every "
        "borrower's partition would move; start with --partitions "
        f"{existing} or make a new cluster in another directory"
    )


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        have = (await js.stream_info(config.name)).config
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)
        return
    if (
        sorted(have.subjects or []) != sorted(config.subjects or [])
        or have.sources != config.sources
        or have.subject_transform != config.subject_transform
        or have.num_replicas != config.num_replicas
        or (config.duplicate_window and have.duplicate_window != config.duplicate_window)
    ):
        await js.update_stream(config)


async def _ensure_mqtt_stream(js: JetStreamContext, replicas: int) -> None:
    try:
        await js.stream_info(MQTT_STREAM)
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(mqtt_stream_config(replicas))
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != STREAM_NAME_IN_USE:  # else made meanwhile by an MQTT client
                raise


async def _ensure_source_consumer(js: JetStreamContext) -> None:
    try:
        await js.consumer_info(MQTT_STREAM, TELEMETRY_SOURCE_CONSUMER)
    except nats.js.errors.NotFoundError:
        await js.add_consumer(MQTT_STREAM, source_consumer_config())


async def _ensure_key_value(
    js: JetStreamContext, bucket: str, replicas: int, ttl: float | None = None
) -> nats.js.kv.KeyValue:
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(
            bucket=bucket, replicas=replicas, ttl=ttl, storage=StorageType.FILE
        )


async def _ensure_live_bucket(js: JetStreamContext, replicas: int) -> nats.js.kv.KeyValue:
    try:
        return await js.key_value(LIVE_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(
            bucket=LIVE_BUCKET,
            replicas=replicas,
            storage=StorageType.FILE,
            max_value_size=LIVE_MAX_VALUE_BYTES,
            max_bytes=LIVE_MAX_BYTES,
        )


async def _ensure_object_store(js: JetStreamContext, bucket: str, replicas: int) -> None:
    try:
        await js.object_store(bucket)
    except nats.js.errors.BucketNotFoundError:
        await js.create_object_store(bucket, replicas=replicas, storage=StorageType.FILE)


async def _settled(step: Callable[[], Awaitable[T]]) -> T:
    """Run ``step``, again while JetStream says it is not ready yet (no meta or stream
    leader, a request that timed out), for up to `SETTLE_TIMEOUT_S` seconds."""
    deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT_S
    while True:
        try:
            return await step()
        except (
            nats.js.errors.ServiceUnavailableError,
            nats.js.errors.NoStreamResponseError,  # a new bucket's stream has no leader yet
            nats.errors.TimeoutError,
        ):
            pass
        except nats.js.errors.APIError as exc:
            # 503 or 10008 "temporarily unavailable"; some subclasses carry no codes
            if getattr(exc, "code", None) != 503 and getattr(exc, "err_code", None) not in (
                UNAVAILABLE,
                NO_PEERS,
            ):
                raise
        if asyncio.get_running_loop().time() > deadline:
            return await step()
        await asyncio.sleep(0.2)
