"""Every notification channel of the service, built from its settings, with the tasks
that work them (`Runtime.running` starts them beside ingest and the engine)."""

import asyncio

from sqlalchemy import Engine

from ingest.subscriber import BrokerAddress
from riskstream.service.alert_store import AlertStore
from riskstream.service.notifier import ChangeNotifier
from riskstream.service.notify.destinations import DestinationPolicy
from riskstream.service.notify.mail_outbox import MailOutbox
from riskstream.service.notify.mail_store import MailStore
from riskstream.service.notify.mqtt_publisher import MqttAlertPublisher
from riskstream.service.notify.mqtt_store import MqttAlertStore
from riskstream.service.notify.outbox import RetryPolicy, WebhookOutbox
from riskstream.service.notify.secret_box import SecretBox, load_webhook_key
from riskstream.service.notify.smtp_sender import smtp_server
from riskstream.service.notify.webhook_store import WebhookStore, stored_secrets
from riskstream.service.settings import ServiceSettings


class Notifications:
    """Webhooks, e-mail and MQTT: their stores in the service's database and workers."""

    def __init__(self, db: Engine, alerts: AlertStore, settings: ServiceSettings) -> None:
        retry = RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base_s=settings.webhook_backoff_s,
            cap_s=settings.webhook_backoff_cap_s,
            timeout_s=settings.webhook_timeout_s,
        )
        self.webhooks = open_webhook_store(db, settings)
        self.destinations = DestinationPolicy(tuple(settings.webhook_allowed_destinations))
        self.outbox = WebhookOutbox(self.webhooks, alerts, self.destinations, retry)
        self.mail = MailStore(db)
        self.mail_outbox = MailOutbox(
            self.mail,
            alerts,
            smtp_server(settings),
            settings.smtp_from,
            settings.dashboard_url,
            retry,
        )
        self.mqtt_alerts = MqttAlertStore(db)
        password = settings.alerts_mqtt_password
        self.mqtt_publisher = MqttAlertPublisher(
            self.mqtt_alerts,
            alerts,
            BrokerAddress.parse(settings.broker),
            prefix=settings.prefix,
            client_id=f"{settings.client_id}-alerts",
            username=settings.alerts_mqtt_username,
            password=None if password is None else password.get_secret_value(),
        )

    def tasks(
        self, stop: asyncio.Event, notifier: ChangeNotifier, *, mqtt: bool = True
    ) -> list["asyncio.Task[None]"]:
        """Start the workers (MQTT only with ``mqtt``: the service's own broker)."""
        tasks = [
            asyncio.create_task(self.outbox.run(stop, notifier), name="webhooks"),
            asyncio.create_task(self.mail_outbox.run(stop, notifier), name="mail"),
        ]
        if mqtt:
            tasks.append(
                asyncio.create_task(self.mqtt_publisher.run(stop, notifier), name="mqtt-alerts")
            )
        return tasks


def open_webhook_store(db: Engine, settings: ServiceSettings) -> WebhookStore:
    """The webhook store with its key, checked by opening every stored secret.

    Raises:
        WebhookKeyError: the key is missing or does not open the stored secrets.
    """
    key = load_webhook_key(
        settings.webhook_key, settings.webhook_key_file, may_create=stored_secrets(db) == 0
    )
    store = WebhookStore(db, SecretBox(key))
    store.check_key()
    return store
