"""The API tier's side of the cluster: alert changes in, people's actions out.

`riskstream serve --nats URL` runs no ingest and no engine. It reads the alerts stream
through one durable consumer shared by every API process (`API_CONSUMER`), so each change
is stored by one of them in the shared database, and it sends a person's acknowledge or
resolve to the risk stream's partition of the alert's borrower, where the owning risk
worker applies it among the readings.

Rules the service puts in force (its file, or a risk admin's change through the API, the
service's or a lender's own) go to the cluster too (`offer_rules`): as a message on every
risk partition, with the telemetry stream's last sequence number at that moment (each
owner judges the readings of device messages up to it under the rules before, the rest
under these), and then into the rules bucket, where a worker that starts finds them.

The borrowers' live engine state (scores, matrix, lots' coverage), which the risk
workers send to the bucket `LIVE_BUCKET`, is followed into memory (`live`,
`riskstream.cluster.live_states.LiveStateCache`) for the borrower pages.

Storing is idempotent: a change already stored (the same status, severity and event
time; found again by a risk worker that took a partition over after the dedup window)
is skipped, and a change the engine made before it learnt of a person's action never
undoes that action (an alert acknowledged stays acknowledged, one resolved by a person
is not reopened by it).
"""

import asyncio
import contextlib
import logging
import queue
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from riskstream.cluster.connection import connect_cluster
from riskstream.cluster.layout import (
    ALERTS_STREAM,
    ALERTS_SUBJECT_PREFIX,
    LIVE_BUCKET,
    RULES_BUCKET,
    SERVICE_RULES_KEY,
    TELEMETRY_STREAM,
    lender_rules_key,
    partition_of,
    risk_subject,
)
from riskstream.cluster.live_states import LiveStateCache
from riskstream.cluster.logins import NatsLogin
from riskstream.cluster.messages import (
    decode_alert,
    decode_rules_entry,
    encode_action,
    encode_rules,
    encode_rules_entry,
    rules_message_id,
)
from riskstream.cluster.supervisor import CLUSTER_ERRORS
from riskstream.cluster.topology import read_partitions
from riskstream.engine.alerts import Alert
from riskstream.rules.history import RulesVersion

log = logging.getLogger(__name__)

API_CONSUMER = "api"
FETCH_BATCH = 256
FETCH_WAIT_S = 0.5

Stored = Callable[[str], dict[str, Any] | None]
Save = Callable[[list[Alert]], None]


def merge(incoming: Alert, stored: dict[str, Any] | None) -> Alert | None:
    """What to store of an engine's change, given the stored alert; None: nothing."""
    if stored is None:
        return incoming
    same = (stored["status"], stored["severity"], stored["updated_at"]) == (
        incoming.status,
        incoming.severity,
        incoming.updated_at,
    )
    if same:
        return None
    if incoming.status == "open" and stored["status"] == "resolved":
        return None  # resolved by a person: the engine's older news does not reopen it
    if incoming.status == "open" and stored["status"] == "acknowledged":
        return replace(incoming, status="acknowledged")
    return incoming


class ClusterLink:
    """Alert changes from the cluster into the service's store; actions back to it."""

    def __init__(self, servers: list[str], login: NatsLogin | None = None) -> None:
        self.servers = servers
        self.login = login
        self.changes_stored = 0
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._partitions = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = asyncio.Event()
        self.rules_published = 0
        self._rules: queue.SimpleQueue[tuple[str, RulesVersion]] = queue.SimpleQueue()
        self.live = LiveStateCache()

    def offer_rules(self, scope: str, version: RulesVersion) -> None:
        """From any thread: send rules put in force (``scope`` a lender, "" for the
        service's) to the risk workers; sent within a fetch wait, again until the
        cluster takes them."""
        self._rules.put((scope, version))

    async def _publish_rules(self) -> None:
        """Send the rules offered so far: a message on every risk partition, then the
        rules bucket; what the bucket holds already is not sent again."""
        assert self._js is not None
        bucket = await self._js.key_value(RULES_BUCKET)
        while not self._rules.empty():
            scope, version = self._rules.get()
            key = lender_rules_key(scope) if scope else SERVICE_RULES_KEY
            try:
                try:
                    held = await bucket.get(key)
                    if decode_rules_entry(held.value or b"")[1] == version.sha256:
                        continue
                except (KeyNotFoundError, ValueError):
                    pass
                after = (await self._js.stream_info(TELEMETRY_STREAM)).state.last_seq
                data = encode_rules(scope, version.version, version.text, after)
                await asyncio.gather(
                    *(
                        self._js.publish(
                            risk_subject(p),
                            data,
                            headers={
                                "Nats-Msg-Id": rules_message_id(
                                    scope, version.version, version.sha256, p
                                )
                            },
                        )
                        for p in range(self._partitions)
                    )
                )
                entry = encode_rules_entry(version.version, version.sha256, version.text)
                await bucket.put(key, entry)
            except CLUSTER_ERRORS as exc:
                log.warning(
                    "rules %s version %d not sent yet: %s %s",
                    key,
                    version.version,
                    type(exc).__name__,
                    getattr(exc, "description", None) or exc,
                )
                self._rules.put((scope, version))
                return
            self.rules_published += 1
            log.info("rules %s version %d sent to the risk workers", key, version.version)

    async def run(self, stop: asyncio.Event, stored: Stored, save: Save) -> None:
        """Store the alert changes of the alerts stream until ``stop``."""
        nc = await connect_cluster(self.servers, "riskstream-api", login=self.login)
        self._nc, self._js, self._loop = nc, nc.jetstream(), asyncio.get_running_loop()
        following: asyncio.Task[None] | None = None
        try:
            try:
                bucket = await self._js.key_value(LIVE_BUCKET)
                following = asyncio.create_task(self.live.follow(bucket, stop), name="live-states")
            except BucketNotFoundError:
                log.error(
                    "the cluster has no bucket %s (made by a newer riskstream cluster up): "
                    "borrower pages show no live state until it runs again",
                    LIVE_BUCKET,
                )
            self._partitions = await read_partitions(self._js)
            config = ConsumerConfig(
                durable_name=API_CONSUMER,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.ALL,
                ack_wait=60.0,
                max_ack_pending=-1,
            )
            subscription = await self._js.pull_subscribe(
                f"{ALERTS_SUBJECT_PREFIX}.>",
                durable=API_CONSUMER,
                stream=ALERTS_STREAM,
                config=config,
            )
            self.ready.set()
            while not stop.is_set():
                with contextlib.suppress(*CLUSTER_ERRORS):
                    await self._publish_rules()
                try:
                    messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                if not messages:
                    continue
                keep: list[Alert] = []
                latest: dict[str, dict[str, Any] | None] = {}
                for message in messages:
                    try:
                        alert = decode_alert(message.data)
                    except ValueError as exc:
                        log.warning("alert change %s refused: %s", message.subject, exc)
                        continue
                    if alert.id not in latest:
                        latest[alert.id] = stored(alert.id)
                    merged = merge(alert, latest[alert.id])
                    if merged is not None:
                        keep.append(merged)
                        latest[alert.id] = merged.to_dict()
                if keep:
                    await asyncio.to_thread(save, keep)
                    self.changes_stored += len(keep)
                await messages[-1].ack()
        finally:
            if following is not None:
                following.cancel()
                with contextlib.suppress(BaseException):
                    await following
            with contextlib.suppress(Exception):
                await nc.close()

    def send_action(self, action: str, tenant: str, borrower_id: str, alert_id: str) -> None:
        """From a request thread: put a person's action in the borrower's partition."""
        if self._js is None or self._loop is None:
            raise RuntimeError("the service is not connected to the cluster yet")
        subject = risk_subject(partition_of(tenant, borrower_id, self._partitions))
        publish = self._js.publish(subject, encode_action(action, tenant, alert_id))
        asyncio.run_coroutine_threadsafe(publish, self._loop).result(timeout=10)
