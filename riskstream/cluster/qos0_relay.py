"""The ingest workers' relay of QoS 0 telemetry into the telemetry stream.

nats-server publishes every MQTT message, whatever its QoS, as a core NATS message on
``rs.v1.{tenant}.{device}.telemetry`` with the header `MQTT_QOS_HEADER` holding its QoS,
but stores only QoS 1 and 2 messages in its own stream, which the telemetry stream
sources. Each ingest worker runs one `Qos0Relay`: a subscriber in the queue group
`QOS0_QUEUE` (so each message reaches one worker) on its own connection, that keeps the
messages whose header says QoS ``0`` and publishes them to ``rs.qos0.{tenant}.{device}``.
The telemetry stream stores them under the ingest partition the QoS 1 path gives the
same device (`riskstream.cluster.layout.qos0_transform`), with a de-duplication id made
of the lender, device and payload, so a publish retried is stored once; from there the
ingest partitions take them as any other message.

Only nats-server's MQTT side and the ``admin`` user may publish on ``rs.v1.>``, and a
lender's devices only their own lender's subjects, so the lender token of a subject is
the device's own lender; a message without the header, or with any other value, did not
come from an MQTT QoS 0 publish and is passed over (counted in ``ignored``).

A flood of QoS 0 messages cannot hold QoS 1 up for long: at most `PENDING_MESSAGES` (and
`PENDING_BYTES`) wait to be relayed, what comes beyond is dropped and counted
(``dropped``, logged every `DROPS_LOGGED_EVERY_S`), and the relay has a connection of its
own, so a server that cuts it off as a slow consumer cuts off only QoS 0.
"""

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from riskstream.cluster.connection import connect_cluster
from riskstream.cluster.layout import (
    MQTT_QOS_HEADER,
    QOS0_QUEUE,
    QOS0_SUBJECT_PREFIX,
    TELEMETRY_SUBJECT,
    TRANSIENT_ERRORS,
    qos0_subject,
)
from riskstream.cluster.logins import NatsLogin
from riskstream.cluster.supervisor import CLUSTER_ERRORS, close_quietly

log = logging.getLogger(__name__)

PENDING_MESSAGES = 10_000
PENDING_BYTES = 16 * 1024 * 1024
"""At most this many QoS 0 messages (and bytes of payload) wait to be relayed; more are
dropped and counted."""
SUBSCRIPTION_PENDING_MESSAGES = 65_536
SUBSCRIPTION_PENDING_BYTES = 64 * 1024 * 1024
"""nats-py's own queue for the subscription, which holds every QoS (the QoS 1 copies are
passed over at once): well above `PENDING_MESSAGES`, so that the relay's own bound,
which knows a message's QoS, is the one that drops."""
RELAY_BATCH = 256
"""Messages published at once (in flight together) to the telemetry stream."""
RETRY_WAIT_S = 0.5
DROPS_LOGGED_EVERY_S = 10.0


def relayed_message_id(tenant: str, device: str, payload: bytes) -> str:
    """De-duplication id of a relayed message: a hash of lender, device and payload."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (tenant.encode(), device.encode()):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    digest.update(payload)
    return "q0:" + digest.hexdigest()


def qos0_tokens(subject: str, headers: dict[str, str] | None) -> tuple[str, str] | None:
    """(tenant, device) tokens of a device's core telemetry message published at MQTT
    QoS 0, or None: another QoS, no QoS header (not from MQTT), or not a telemetry
    subject of one lender and one device."""
    if not headers or headers.get(MQTT_QOS_HEADER) != "0":
        return None
    tokens = subject.split(".")
    if len(tokens) != 5 or tokens[:2] != ["rs", "v1"] or tokens[4] != "telemetry":
        return None
    tenant, device = tokens[2], tokens[3]
    if not tenant or not device:
        return None
    return tenant, device


class Qos0Relay:
    """One ingest worker's QoS 0 subscriber and its publisher to the telemetry stream."""

    def __init__(self, servers: list[str], name: str, login: NatsLogin | None = None) -> None:
        self.servers = servers
        self.name = name
        self.login = login
        self.taken = 0
        """QoS 0 messages received to relay."""
        self.relayed = 0
        """QoS 0 messages the telemetry stream acknowledged (a duplicate counts too)."""
        self.dropped = 0
        """QoS 0 messages dropped because `PENDING_MESSAGES` or `PENDING_BYTES` waited;
        and messages of any QoS nats-py dropped unread (the event loop fell behind by
        `SUBSCRIPTION_PENDING_MESSAGES`; a QoS 1 one still comes through the stream)."""
        self.ignored = 0
        """Messages on the device subjects that were not QoS 0 telemetry (QoS 1 and 2 ones
        come through the telemetry stream's source instead)."""
        self._pending: deque[tuple[str, str, bytes]] = deque()
        self._pending_bytes = 0
        self._arrived = asyncio.Event()
        self._dropped_logged = 0
        self._dropped_logged_at = -DROPS_LOGGED_EVERY_S
        self._failed_logged_at = -DROPS_LOGGED_EVERY_S

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe and relay until ``stop``."""
        nc = await connect_cluster(
            self.servers, f"{self.name}-qos0", login=self.login, on_error=self._on_error
        )
        subscription: Subscription | None = None
        try:
            subscription = await nc.subscribe(
                TELEMETRY_SUBJECT,
                queue=QOS0_QUEUE,
                cb=self._take,
                pending_msgs_limit=SUBSCRIPTION_PENDING_MESSAGES,
                pending_bytes_limit=SUBSCRIPTION_PENDING_BYTES,
            )
            await self._relay(nc, stop)
        finally:
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
            await close_quietly(nc)

    async def _take(self, message: Msg) -> None:
        tokens = qos0_tokens(message.subject, message.headers)
        if tokens is None:
            self.ignored += 1
            return
        size = len(message.data)
        if len(self._pending) >= PENDING_MESSAGES or self._pending_bytes + size > PENDING_BYTES:
            self.dropped += 1
            self._log_drops()
            return
        self.taken += 1
        self._pending.append((tokens[0], tokens[1], message.data))
        self._pending_bytes += size
        self._arrived.set()

    def _on_error(self, exc: Exception) -> bool:
        """Count a message nats-py dropped because its own queue for the subscription
        was full (True: counted and logged here)."""
        if isinstance(exc, nats.errors.SlowConsumerError):
            self.dropped += 1
            self._log_drops()
            return True
        return False

    def _log_drops(self) -> None:
        now = time.monotonic()
        if now - self._dropped_logged_at >= DROPS_LOGGED_EVERY_S:
            log.warning(
                "%s: %d QoS 0 messages dropped (%d in all): %d were waiting to be relayed",
                self.name,
                self.dropped - self._dropped_logged,
                self.dropped,
                len(self._pending),
            )
            self._dropped_logged, self._dropped_logged_at = self.dropped, now

    async def _relay(self, nc: Client, stop: asyncio.Event) -> None:
        js = nc.jetstream()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                if not self._pending:
                    self._arrived.clear()
                    arrived = asyncio.create_task(self._arrived.wait())
                    await asyncio.wait({arrived, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    arrived.cancel()
                    continue
                batch = [self._pending[k] for k in range(min(RELAY_BATCH, len(self._pending)))]
                try:
                    await asyncio.gather(
                        *(
                            js.publish(
                                qos0_subject(tenant, device),
                                payload,
                                headers={
                                    "Nats-Msg-Id": relayed_message_id(tenant, device, payload)
                                },
                            )
                            for tenant, device, payload in batch
                        )
                    )
                except (*TRANSIENT_ERRORS, *CLUSTER_ERRORS) as exc:
                    # kept and published again: the de-duplication id stores each once
                    if time.monotonic() - self._failed_logged_at >= DROPS_LOGGED_EVERY_S:
                        self._failed_logged_at = time.monotonic()
                        log.warning(
                            "%s: %d QoS 0 messages not relayed yet (%r); a telemetry stream "
                            "without the subject %s.*.* is made by an older riskstream "
                            "cluster up: run it again",
                            self.name,
                            len(self._pending),
                            exc,
                            QOS0_SUBJECT_PREFIX,
                        )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), RETRY_WAIT_S)
                    continue
                for _ in batch:
                    _, _, payload = self._pending.popleft()
                    self._pending_bytes -= len(payload)
                self.relayed += len(batch)
        finally:
            stopping.cancel()
