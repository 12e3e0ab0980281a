"""The names riskstream uses on a NATS JetStream cluster: streams, subjects, buckets.

Devices publish MQTT to any node exactly as to mosquitto; NATS turns the topic
``rs/v1/{tenant}/{device}/telemetry`` into the subject ``rs.v1.{tenant}.{device}.telemetry``
and acknowledges a QoS 1 message (PUBACK) once its own stream `MQTT_STREAM` holds it
under ``$MQTT.msgs.rs.v1.{tenant}.{device}.telemetry``.

- `TELEMETRY_STREAM` keeps what devices publish until an ingest worker has stored it and
  handed it on. It *sources* it from `MQTT_STREAM` through the durable consumer
  `TELEMETRY_SOURCE_CONSUMER`, so a message acknowledged to a device stays in
  `MQTT_STREAM` (interest retention) until the telemetry stream has stored it, whichever
  node dies meanwhile. The source's subject transform files each device's messages
  under one of `partitions` ingest partitions (`telemetry_transform`); each ingest worker
  owns some of them, so a device's messages meet in one worker. nats-server stores only
  QoS 1 and 2 messages in `MQTT_STREAM`; the ingest workers relay the QoS 0 ones
  (`riskstream.cluster.qos0_relay`) to ``rs.qos0.{tenant}.{device}``, which the
  telemetry stream captures and files under the same ingest partition
  (`qos0_transform`), with a de-duplication id.
- `RISK_STREAM` holds accepted readings, one subject per partition
  (``rs.risk.{partition}``); a partition is a hash of (tenant, borrower), so one borrower's
  readings always meet in one risk worker. Each message carries a de-duplication id, so a
  retried publish is stored once.
- `ALERTS_STREAM` holds alert changes (``rs.alerts.{tenant}``) for the API tier.
- `MOVES_STREAM` holds the lot moves each risk partition found that the lender's other
  partitions may pair (double pledge), one subject per partition that found them
  (``rs.moves.{partition}``), each with a de-duplication id; every risk partition reads
  all of them.
- `RULES_BUCKET` (key-value) holds the rules in force, as the API tier stored them: the
  service's (`SERVICE_RULES_KEY`) and each lender's own (`lender_rules_key`).
- `LIVE_BUCKET` (key-value, one entry per borrower, `live_state_key`) holds each
  borrower's live engine state (score, matrix, lots' coverage) as its risk partition's
  owner last sent it, for the API tier's borrower pages.
- `LEASES_BUCKET` (key-value, entries expire after `LEASE_TTL_S`) says which risk worker
  owns which partition; `CHECKPOINTS_BUCKET` (object store) keeps each partition's engine
  checkpoint with the risk-stream sequence it covers.
"""

import hashlib

import nats.errors
import nats.js.errors

TELEMETRY_STREAM = "RS_TELEMETRY"
TELEMETRY_SUBJECT = "rs.v1.*.*.telemetry"
"""What devices publish (the MQTT topic ``rs/v1/+/+/telemetry``)."""
INGEST_SUBJECT_PREFIX = "rs.ingest"

QOS0_SUBJECT_PREFIX = "rs.qos0"
"""Where ingest workers put the QoS 0 telemetry they relay; only the ``ingest`` user may
publish there (`riskstream.cluster.permissions`)."""
QOS0_QUEUE = "rs_ingest_qos0"
"""The queue group of the ingest workers' QoS 0 subscribers: each message goes to one."""
MQTT_QOS_HEADER = "Nmqtt-Pub"
"""The header nats-server puts on the core NATS message of every MQTT publish: the QoS
(``0``, ``1`` or ``2``); its name is nats-server's (``server/mqtt.go``)."""

MQTT_STREAM = "$MQTT_msgs"
MQTT_SUBJECT_PREFIX = "$MQTT.msgs."
"""nats-server's stream of the QoS 1 and 2 messages MQTT clients publish (its name and
subjects are nats-server's, in ``server/mqtt.go``); interest retention."""
TELEMETRY_SOURCE_CONSUMER = "rs_telemetry_source"
TELEMETRY_SOURCE_DELIVER = "rs.sourcing.telemetry"
"""The durable consumer on `MQTT_STREAM` that the telemetry stream sources through, and
the subject it delivers to."""

RISK_STREAM = "RS_RISK"
RISK_SUBJECT_PREFIX = "rs.risk"

ALERTS_STREAM = "RS_ALERTS"
ALERTS_SUBJECT_PREFIX = "rs.alerts"

MOVES_STREAM = "RS_MOVES"
MOVES_SUBJECT_PREFIX = "rs.moves"

RULES_BUCKET = "rs_rules"
SERVICE_RULES_KEY = "service"

LIVE_BUCKET = "rs_borrowers"
LIVE_MAX_VALUE_BYTES = 256 * 1024
LIVE_MAX_BYTES = 1024**3
"""Size limits of `LIVE_BUCKET`: one state, and the bucket (past it the oldest entries
go, and come back with their borrower's next send)."""

LEASES_BUCKET = "rs_leases"
LEASE_TTL_S = 15.0
CHECKPOINTS_BUCKET = "rs_checkpoints"
SETTINGS_BUCKET = "rs_cluster"
"""Key-value bucket with the cluster's fixed settings (``partitions``), written by
`riskstream cluster up` and read by every worker, and the position each ingest
partition has been handed on to."""

DEFAULT_PARTITIONS = 16
DUPLICATE_WINDOW_S = 120.0


def partition_of(tenant: str, borrower_id: str, partitions: int) -> int:
    """The partition of one borrower: stable across processes, machines and releases."""
    digest = hashlib.blake2b(f"{tenant}\x00{borrower_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def telemetry_transform(partitions: int) -> tuple[str, str]:
    """(source, destination) of the subject transform of the telemetry stream's source: a
    device's messages are stored under ``rs.ingest.{partition}.{tenant}.{device}``, the
    partition a hash of (tenant, device) that NATS computes, so one ingest worker sees
    every message of a device (its sequence numbers and gaps) and workers share the
    devices."""
    return (
        MQTT_SUBJECT_PREFIX + TELEMETRY_SUBJECT,
        f"{INGEST_SUBJECT_PREFIX}.{{{{partition({partitions},1,2)}}}}"
        ".{{wildcard(1)}}.{{wildcard(2)}}",
    )


def qos0_transform(partitions: int) -> tuple[str, str]:
    """(source, destination) of the telemetry stream's own subject transform: a relayed
    QoS 0 message ``rs.qos0.{tenant}.{device}`` is stored under the ingest partition
    the QoS 1 path gives the same device (the same hash of the same two tokens)."""
    return (
        f"{QOS0_SUBJECT_PREFIX}.*.*",
        f"{INGEST_SUBJECT_PREFIX}.{{{{partition({partitions},1,2)}}}}"
        ".{{wildcard(1)}}.{{wildcard(2)}}",
    )


def qos0_subject(tenant_token: str, device_token: str) -> str:
    """Subject a relayed QoS 0 message is published to; the tokens as NATS wrote them in
    the device's subject (a ``.`` of the MQTT topic as ``//``)."""
    return f"{QOS0_SUBJECT_PREFIX}.{tenant_token}.{device_token}"


def ingest_subject(partition: int) -> str:
    """Filter of one ingest partition's messages on the telemetry stream."""
    return f"{INGEST_SUBJECT_PREFIX}.{partition}.>"


def risk_subject(partition: int) -> str:
    return f"{RISK_SUBJECT_PREFIX}.{partition}"


def alerts_subject(tenant: str) -> str:
    return f"{ALERTS_SUBJECT_PREFIX}.{tenant}"


def moves_subject(partition: int) -> str:
    return f"{MOVES_SUBJECT_PREFIX}.{partition}"


def lender_rules_key(tenant: str) -> str:
    """Key of a lender's own rules in `RULES_BUCKET` (a lender id's characters are all
    allowed in a key)."""
    return f"lender.{tenant}"


_KEY_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def live_state_key(tenant: str, borrower_id: str) -> str:
    """Key of a borrower's live state in `LIVE_BUCKET`: ``{tenant}.{borrower}``. A
    borrower id with characters a key cannot hold (or a ``.``) is written as ``=`` and
    its UTF-8 in hex, which no plain id starts with, so two borrowers never share a key."""
    if borrower_id and all(c in _KEY_SAFE for c in borrower_id):
        return f"{tenant}.{borrower_id}"
    return f"{tenant}.={borrower_id.encode().hex()}"


TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
)
"""What a request to the cluster may meet while a stream elects its leader or a node
restarts: the worker waits a moment and asks again."""
