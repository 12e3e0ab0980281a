"""Notifications of alert changes to the lenders' own systems.

Webhooks: each lender's risk admins register endpoints (`webhook_store`); the outbox
(`outbox.WebhookOutbox`, a task of the `Runtime`) fans every stored alert change out to
the matching endpoints and POSTs it, signed (`signing`), to destinations the operator
allows (`destinations`), retrying with back-off (`backoff`) until delivered or dead.
"""

from riskstream.service.notify.destinations import DestinationPolicy
from riskstream.service.notify.errors import DestinationRefusedError, UnknownEndpointError
from riskstream.service.notify.outbox import RetryPolicy, WebhookOutbox
from riskstream.service.notify.signing import signature, verify
from riskstream.service.notify.webhook_store import Endpoint, Filters, WebhookStore

__all__ = [
    "DestinationPolicy",
    "DestinationRefusedError",
    "Endpoint",
    "Filters",
    "RetryPolicy",
    "UnknownEndpointError",
    "WebhookOutbox",
    "WebhookStore",
    "signature",
    "verify",
]
