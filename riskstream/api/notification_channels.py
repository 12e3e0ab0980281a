"""E-mail and MQTT notifications over HTTP: a lender's recipients, its mail queue, and
whether its alerts go to the broker.

- ``GET /api/notifications/email`` — the lender's recipients (every role reads them).
- ``POST /api/notifications/email`` — risk admins: a new recipient (audited).
- ``PUT|DELETE /api/notifications/email/{recipient_id}`` — risk admins (audited).
- ``GET /api/notifications/email-queue`` — changes queued, sent or dead, newest first
  (risk admins and auditors).
- ``GET|PUT /api/notifications/mqtt`` — alerts over MQTT on or off (risk admins change).

A recipient with ``digest_minutes`` N gets at most one mail per N minutes; 0 sends each
change at once. Another lender's recipient answers 404 like an id nobody has.
"""

import re
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from devices.topics import alert_topic, alerts_topic
from riskstream.api.auth import CurrentUser, runtime_of
from riskstream.api.notifications import FiltersModel, admin_only, log_reader
from riskstream.api.views import CONFLICT
from riskstream.service.notify import MqttAlerts, Recipient
from riskstream.service.notify.errors import UnknownEndpointError

router = APIRouter(prefix="/api/notifications", tags=["notifications"])

ADDRESS = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
DIGEST_MAX_MINUTES = 7 * 24 * 60
MAX_RECIPIENTS = 50


def _address(value: str) -> str:
    if not ADDRESS.fullmatch(value):
        raise ValueError("not an e-mail address (name@domain.tld, no display name)")
    return value


class RecipientIn(BaseModel):
    """A new e-mail recipient."""

    model_config = ConfigDict(extra="forbid", strict=True)

    address: str = Field(min_length=3, max_length=320)
    filters: FiltersModel = Field(default_factory=FiltersModel)
    digest_minutes: int = Field(
        0, ge=0, le=DIGEST_MAX_MINUTES, description="at most one mail per this many minutes"
    )

    _check = field_validator("address")(_address)


class RecipientPatch(BaseModel):
    """Changes to a recipient: what is left out stays."""

    model_config = ConfigDict(extra="forbid", strict=True)

    address: str | None = Field(None, min_length=3, max_length=320)
    filters: FiltersModel | None = None
    digest_minutes: int | None = Field(None, ge=0, le=DIGEST_MAX_MINUTES)
    enabled: bool | None = None

    @field_validator("address")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)


class RecipientOut(BaseModel):
    """An e-mail recipient."""

    id: str
    address: str
    filters: FiltersModel
    digest_minutes: int = Field(description="minutes; 0: one mail per change")
    enabled: bool
    last_sent_at: float | None = Field(description="wall time of the last mail, epoch seconds")
    created_at: float
    created_by: str


class QueuedOut(BaseModel):
    """One alert change for one recipient."""

    id: int
    recipient_id: str
    event: str
    alert_id: str
    state: Literal["pending", "sent", "dead"]
    attempts: int
    created_at: float = Field(description="wall time it was queued, epoch seconds")
    sent_at: float | None
    last_error: str | None


def _out(recipient: Recipient) -> dict[str, Any]:
    return {
        "id": recipient.id,
        "address": recipient.address,
        "filters": recipient.filters.to_dict(),
        "digest_minutes": recipient.digest_minutes,
        "enabled": recipient.enabled,
        "last_sent_at": recipient.last_sent_at,
        "created_at": recipient.created_at,
        "created_by": recipient.created_by,
    }


@router.get("/email", response_model=list[RecipientOut])
def list_recipients(request: Request, user: CurrentUser) -> list[dict[str, Any]]:
    """The lender's e-mail recipients, oldest first."""
    return [_out(r) for r in runtime_of(request).notify.mail.recipients(user.tenant)]


@router.post("/email", response_model=RecipientOut, status_code=201, responses=CONFLICT)
def create_recipient(request: Request, user: CurrentUser, body: RecipientIn) -> dict[str, Any]:
    """Add a recipient (risk admins, audited)."""
    admin_only(user, "add e-mail recipients")
    runtime = runtime_of(request)
    if len(runtime.notify.mail.recipients(user.tenant)) >= MAX_RECIPIENTS:
        raise HTTPException(409, f"a lender has at most {MAX_RECIPIENTS} e-mail recipients")
    recipient = runtime.notify.mail.create(
        user.tenant,
        body.address,
        body.filters.to_filters(),
        body.digest_minutes,
        user.username,
        time.time(),
    )
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action="email_recipient_create",
        target=f"email:{recipient.id}",
        detail=body.model_dump(),
    )
    return _out(recipient)


@router.put("/email/{recipient_id}", response_model=RecipientOut)
def update_recipient(
    request: Request, user: CurrentUser, recipient_id: str, body: RecipientPatch
) -> dict[str, Any]:
    """Change a recipient's address, filters, digest period or whether it is enabled
    (risk admins, audited)."""
    admin_only(user, "change e-mail recipients")
    runtime = runtime_of(request)
    try:
        recipient = runtime.notify.mail.update(
            user.tenant,
            recipient_id,
            address=body.address,
            filters=None if body.filters is None else body.filters.to_filters(),
            digest_minutes=body.digest_minutes,
            enabled=body.enabled,
        )
    except UnknownEndpointError:
        raise HTTPException(404, f"no e-mail recipient with id {recipient_id[:64]!r}") from None
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action="email_recipient_update",
        target=f"email:{recipient_id}",
        detail=body.model_dump(exclude_none=True),
    )
    return _out(recipient)


@router.delete("/email/{recipient_id}", status_code=204)
def delete_recipient(request: Request, user: CurrentUser, recipient_id: str) -> None:
    """Remove a recipient (risk admins, audited); what was waiting for it is dropped."""
    admin_only(user, "remove e-mail recipients")
    runtime = runtime_of(request)
    try:
        runtime.notify.mail.delete(user.tenant, recipient_id)
    except UnknownEndpointError:
        raise HTTPException(404, f"no e-mail recipient with id {recipient_id[:64]!r}") from None
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action="email_recipient_delete",
        target=f"email:{recipient_id}",
    )


@router.get("/email-queue", response_model=list[QueuedOut])
def mail_queue(
    request: Request, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """Alert changes queued for the lender's recipients, sent or dead, newest first."""
    log_reader(user)
    return runtime_of(request).notify.mail.queue(user.tenant, limit)


class MqttAlertsIn(BaseModel):
    """Whether the lender's alert changes are published over MQTT."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool
    retained: bool = Field(
        False, description="also keep each open alert's latest state retained at .../alerts/ID"
    )


class MqttAlertsOut(MqttAlertsIn):
    """The lender's MQTT alert settings and where they go."""

    topic: str = Field(description="the stream of alert changes (QoS 1)")
    alert_topic: str = Field(description="retained latest state per alert (when retained)")
    updated_at: float | None
    updated_by: str | None


def _mqtt_out(request: Request, settings: MqttAlerts) -> dict[str, Any]:
    prefix = runtime_of(request).settings.prefix
    return {
        "enabled": settings.enabled,
        "retained": settings.retained,
        "topic": alerts_topic(prefix, settings.tenant),
        "alert_topic": alert_topic(prefix, settings.tenant, "{alert_id}"),
        "updated_at": settings.updated_at,
        "updated_by": settings.updated_by,
    }


@router.get("/mqtt", response_model=MqttAlertsOut)
def get_mqtt_alerts(request: Request, user: CurrentUser) -> dict[str, Any]:
    """Whether the lender's alert changes go to the broker, and on which topics."""
    return _mqtt_out(request, runtime_of(request).notify.mqtt_alerts.get(user.tenant))


@router.put("/mqtt", response_model=MqttAlertsOut)
def set_mqtt_alerts(request: Request, user: CurrentUser, body: MqttAlertsIn) -> dict[str, Any]:
    """Turn the lender's alerts over MQTT on or off (risk admins, audited)."""
    admin_only(user, "change alerts over MQTT")
    runtime = runtime_of(request)
    settings = runtime.notify.mqtt_alerts.set(
        user.tenant, body.enabled, body.retained, user.username, time.time()
    )
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action="mqtt_alerts_set",
        target="notifications:mqtt",
        detail=body.model_dump(),
    )
    return _mqtt_out(request, settings)
