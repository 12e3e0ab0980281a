"""Alert changes published over MQTT for the lenders' plant systems.

For each lender that turned it on, every alert change goes to ``{prefix}/{tenant}/alerts``
(QoS 1) with the webhooks' JSON body. With ``retained``, the alert's latest state is also
kept at ``{prefix}/{tenant}/alerts/{alert_id}`` (retained, QoS 1), so a system that
subscribes later gets every alert not yet resolved; a resolved alert's retained copy is
cleared (an empty retained message). The publisher reads the stored changes after its
cursor and moves the cursor only once the broker acknowledged them: at least once,
across restarts of the service and of the broker.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiomqtt

from devices.topics import alert_topic, alerts_topic
from ingest.subscriber import BrokerAddress
from riskstream.service.alert_store import AlertStore
from riskstream.service.notifier import ChangeNotifier
from riskstream.service.notify.events import body_of, changes_to_send
from riskstream.service.notify.mqtt_store import MqttAlertStore

log = logging.getLogger(__name__)

CURSOR = "mqtt"
PAGE = 500
RECONNECT_S = 2.0
POLL_S = 1.0


class MqttAlertPublisher:
    """Publishes the enabled lenders' alert changes to the service's broker."""

    def __init__(
        self,
        store: MqttAlertStore,
        alerts: AlertStore,
        broker: BrokerAddress,
        *,
        prefix: str,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        client_factory: Callable[..., aiomqtt.Client] = aiomqtt.Client,
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.broker = broker
        self.prefix = prefix
        self.client_id = client_id
        self.username = username
        self.password = password
        self.client_factory = client_factory
        self.published = 0

    async def publish_pending(self, client: aiomqtt.Client) -> int:
        """Publish every change after the cursor; return how many messages went out."""
        seq = await asyncio.to_thread(self.store.cursor, CURSOR)
        if seq is None:
            await asyncio.to_thread(self.store.move_cursor, CURSOR, self.alerts.last_seq())
            return 0
        sent = 0
        while True:
            enabled = await asyncio.to_thread(self.store.enabled)
            last, changes = await asyncio.to_thread(
                changes_to_send, self.alerts, seq, set(enabled), PAGE
            )
            if last is None:
                return sent
            for tenant_seq, event, alert in changes:
                tenant = alert["tenant"]
                body = body_of(event, tenant_seq, alert)
                await client.publish(alerts_topic(self.prefix, tenant), body, qos=1)
                sent += 1
                if enabled[tenant]:
                    one = alert_topic(self.prefix, tenant, alert["id"])
                    kept = b"" if alert.get("status") == "resolved" else body
                    await client.publish(one, kept, qos=1, retain=True)
                    sent += 1
            seq = last
            await asyncio.to_thread(self.store.move_cursor, CURSOR, seq)
            self.published += sent

    async def run(self, stop: asyncio.Event, notifier: ChangeNotifier) -> None:
        """Publish until ``stop``; reconnect after `RECONNECT_S` when the broker is away."""
        while not stop.is_set():
            try:
                async with self.client_factory(
                    self.broker.host,
                    self.broker.port,
                    identifier=self.client_id,
                    username=self.username,
                    password=self.password,
                    tls_params=aiomqtt.TLSParameters() if self.broker.tls else None,
                ) as client:
                    while not stop.is_set():
                        seen = notifier.last_seq
                        await self.publish_pending(client)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(notifier.wait(seen, POLL_S), POLL_S)
            except aiomqtt.MqttError as exc:
                log.warning("alerts over MQTT: broker %s: %s", self.broker.host, exc)
            except Exception:
                log.exception("alerts over MQTT failed; starting again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RECONNECT_S)
