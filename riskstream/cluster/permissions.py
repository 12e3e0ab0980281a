"""Who may do what on the cluster's NATS servers: one user per role, and one device user
per lender.

Devices speak MQTT only and may publish only their lender's telemetry and status topics
(``rs/v1/{tenant}/+/telemetry`` and ``.../status``, the subjects
``rs.v1.{tenant}.*.telemetry`` and ``rs.v1.{tenant}.*.status``); they may subscribe to
nothing. nats-server stores a device's QoS 1 message in its own MQTT stream without the
device needing any JetStream permission, so none is given.

The workers and API processes speak NATS only. Each may publish on riskstream's internal
core subjects (``rs.>`` but not the devices' ``rs.v1.>`` and not the source consumer's
``rs.sourcing.>``; only ``ingest`` on ``rs.qos0.>``, where it relays QoS 0 telemetry into
the telemetry stream), receive replies on ``_INBOX.>`` (``ingest`` also the devices'
telemetry, ``rs.v1.*.*.telemetry``, whose QoS 0 messages it relays), and use through the
JetStream API only the streams and buckets of its role (`ROLE_RESOURCES`): look them up, read them
through consumers of their own and, for the buckets it writes, write them. No role may
create, change or delete a stream or a bucket: that is the ``admin`` user's, which
`riskstream cluster up` uses.

A stream or bucket added to `riskstream.cluster.layout` needs a line in
`ROLE_RESOURCES` (``tests/cluster/test_nats_users.py`` fails while one has none).
"""

from dataclasses import dataclass, field

from riskstream.cluster.layout import (
    ALERTS_STREAM,
    CHECKPOINTS_BUCKET,
    LEASES_BUCKET,
    LIVE_BUCKET,
    MOVES_STREAM,
    QOS0_SUBJECT_PREFIX,
    RISK_STREAM,
    RULES_BUCKET,
    SETTINGS_BUCKET,
    TELEMETRY_SOURCE_DELIVER,
    TELEMETRY_STREAM,
    TELEMETRY_SUBJECT,
)

ADMIN = "admin"
INGEST = "ingest"
RISK = "risk"
API = "api"
ROLES = (ADMIN, INGEST, RISK, API)
DEVICE_USER_PREFIX = "devices-"
"""A lender's device user is ``devices-{tenant}``."""

INTERNAL_PUBLISH = ["rs.>"]
INTERNAL_PUBLISH_DENIED = ["rs.v1.>", TELEMETRY_SOURCE_DELIVER.rsplit(".", 1)[0] + ".>"]
REPLIES = "_INBOX.>"
RELAYED_QOS0 = QOS0_SUBJECT_PREFIX + ".>"
"""Only ``ingest`` publishes here: what it relays is stored as device telemetry."""


@dataclass(frozen=True)
class Resource:
    """A stream, key-value bucket or object store one role uses, and whether it writes it
    (``writes``) through the JetStream API rather than through a stream's subjects."""

    kind: str  # "stream", "kv" or "object"
    name: str
    writes: bool = False

    @property
    def stream(self) -> str:
        return {"stream": self.name, "kv": f"KV_{self.name}", "object": f"OBJ_{self.name}"}[
            self.kind
        ]


ROLE_RESOURCES: dict[str, list[Resource]] = {
    INGEST: [
        Resource("stream", TELEMETRY_STREAM),
        Resource("stream", RISK_STREAM),
        Resource("kv", LEASES_BUCKET, writes=True),
        Resource("kv", SETTINGS_BUCKET, writes=True),  # the ingest partitions' positions
    ],
    RISK: [
        Resource("stream", RISK_STREAM),
        Resource("stream", ALERTS_STREAM),
        Resource("kv", LEASES_BUCKET, writes=True),
        Resource("kv", SETTINGS_BUCKET),
        Resource("object", CHECKPOINTS_BUCKET, writes=True),
        Resource("stream", MOVES_STREAM),  # the lender's lot moves of other partitions
        Resource("kv", RULES_BUCKET),  # the rules in force, at start
        Resource("kv", LIVE_BUCKET, writes=True),  # its borrowers' live state
    ],
    API: [
        Resource("stream", ALERTS_STREAM),
        Resource("stream", RISK_STREAM),
        Resource("kv", SETTINGS_BUCKET),
        Resource("kv", RULES_BUCKET, writes=True),  # the rules it puts in force
        Resource("stream", TELEMETRY_STREAM),  # its last sequence stamps a rules change
        Resource("kv", LIVE_BUCKET),  # the borrowers' live state, for the borrower pages
    ],
}


@dataclass(frozen=True)
class Permissions:
    """What one NATS user may publish and subscribe to, and how it may connect."""

    publish: list[str]
    subscribe: list[str]
    publish_denied: list[str] = field(default_factory=list)
    subscribe_denied: list[str] = field(default_factory=list)
    connection_types: tuple[str, ...] = ("STANDARD",)


def _api_subjects(resource: Resource) -> list[str]:
    """The JetStream API (and bucket) subjects a role needs for one resource."""
    stream = resource.stream
    api = "$JS.API"
    subjects = [
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"{api}.CONSUMER.INFO.{stream}.>",
        f"{api}.CONSUMER.DELETE.{stream}.>",
        f"{api}.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]
    if resource.writes and resource.kind == "kv":
        subjects.append(f"$KV.{resource.name}.>")
    if resource.kind == "object":
        # nats-py finds the stream of an object's chunks by asking for the stream names
        # that hold a subject: it learns names, not contents
        subjects.append(f"{api}.STREAM.NAMES")
    if resource.writes and resource.kind == "object":
        subjects += [f"$O.{resource.name}.>", f"{api}.STREAM.PURGE.{stream}"]
    return subjects


def role_permissions(role: str) -> Permissions:
    """The permissions of ``admin``, ``ingest``, ``risk`` or ``api``."""
    if role == ADMIN:
        return Permissions(publish=[">"], subscribe=[">"])
    if role not in ROLE_RESOURCES:
        raise ValueError(f"no such role {role!r}; roles are {', '.join(ROLES)}")
    publish = list(INTERNAL_PUBLISH)
    for resource in ROLE_RESOURCES[role]:
        publish += _api_subjects(resource)
    if role == INGEST:
        return Permissions(
            publish=publish,
            subscribe=[REPLIES, TELEMETRY_SUBJECT],  # the QoS 0 relay's queue group
            publish_denied=list(INTERNAL_PUBLISH_DENIED),
        )
    return Permissions(
        publish=publish,
        subscribe=[REPLIES],
        publish_denied=[*INTERNAL_PUBLISH_DENIED, RELAYED_QOS0],
    )


def device_user(tenant: str) -> str:
    return DEVICE_USER_PREFIX + tenant


def check_tenant(tenant: str) -> str:
    """``tenant`` if it can name a device user: one subject token (no ``.``, ``*``,
    ``>`` or space), as the cluster's telemetry subjects need."""
    if not tenant or any(c in tenant for c in ".*> \t\r\n/+#\"'\\") or len(tenant) > 128:
        raise ValueError(
            f"tenant {tenant!r} cannot have devices on a NATS cluster: a tenant id there "
            "is one subject token (letters, digits, '-' and '_', no '.')"
        )
    return tenant


def device_permissions(tenant: str) -> Permissions:
    """A lender's devices: MQTT only, publishing only that lender's telemetry and status."""
    check_tenant(tenant)
    return Permissions(
        publish=[f"rs.v1.{tenant}.*.telemetry", f"rs.v1.{tenant}.*.status"],
        subscribe=[],
        subscribe_denied=[">"],
        connection_types=("MQTT",),
    )
