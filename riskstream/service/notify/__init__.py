"""Notifications of alert changes to the lenders' own systems.

Webhooks: each lender's risk admins register endpoints (`webhook_store`); the outbox
(`outbox.WebhookOutbox`, a task of the `Runtime`) fans every stored alert change out to
the matching endpoints and POSTs it, signed (`signing`), to destinations the operator
allows (`destinations`), retrying with back-off (`backoff`) until delivered or dead.
Their signing secrets are sealed in the database under a key kept outside it
(`secret_box`).

E-mail: each lender's recipients (`mail_store`) get a mail per change or a digest per
period (`mail_outbox.MailOutbox`, `mail_message`), sent over SMTP (`smtp_sender`).

MQTT: lenders that turn it on (`mqtt_store`) get their alert changes on the service's
broker at ``PREFIX/TENANT/alerts`` (`mqtt_publisher.MqttAlertPublisher`).
"""

from riskstream.service.notify.destinations import DestinationPolicy
from riskstream.service.notify.errors import DestinationRefusedError, UnknownEndpointError
from riskstream.service.notify.filters import Filters
from riskstream.service.notify.mail_outbox import MailOutbox
from riskstream.service.notify.mail_store import MailStore, Recipient
from riskstream.service.notify.mqtt_publisher import MqttAlertPublisher
from riskstream.service.notify.mqtt_store import MqttAlerts, MqttAlertStore
from riskstream.service.notify.outbox import RetryPolicy, WebhookOutbox
from riskstream.service.notify.signing import signature, verify
from riskstream.service.notify.smtp_sender import SmtpServer, smtp_server
from riskstream.service.notify.webhook_store import Endpoint, WebhookStore

__all__ = [
    "DestinationPolicy",
    "DestinationRefusedError",
    "Endpoint",
    "Filters",
    "MailOutbox",
    "MailStore",
    "MqttAlertPublisher",
    "MqttAlertStore",
    "MqttAlerts",
    "Recipient",
    "RetryPolicy",
    "SmtpServer",
    "UnknownEndpointError",
    "WebhookOutbox",
    "WebhookStore",
    "signature",
    "smtp_server",
    "verify",
]
