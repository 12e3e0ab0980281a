"""Notifications over HTTP: a lender's webhook endpoints, their delivery log and the
dead letters.

- ``GET /api/notifications/webhooks`` — the lender's endpoints (every role reads them;
  secrets are never shown again after creation).
- ``POST /api/notifications/webhooks`` — risk admins: a new endpoint; the answer holds
  its ``secret``, this once.
- ``GET|PUT|DELETE /api/notifications/webhooks/{id}`` — one endpoint; risk admins change.
- ``POST /api/notifications/webhooks/{id}/test`` — risk admins: send a ``test`` event now.
- ``GET /api/notifications/webhooks/{id}/deliveries`` — its deliveries with every attempt
  (risk admins and auditors: the bodies hold every borrower's alerts).
- ``GET /api/notifications/dead-letters``, ``POST /api/notifications/dead-letters/{id}/resend``.

Every change is written to the audit log. A user only ever reaches their own lender's
endpoints: another lender's id answers 404 like an id nobody has.
"""

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from riskstream.api.auth import CurrentUser, runtime_of
from riskstream.api.views import CONFLICT, MAX_OFFSET, ErrorOut
from riskstream.service.notify import DestinationRefusedError, Endpoint, Filters
from riskstream.service.notify.errors import UnknownEndpointError
from riskstream.service.notify.events import body_of
from riskstream.service.notify.webhook_store import Due
from riskstream.service.users import User

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
REFUSED_URL: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "a URL the service will not send to, and why"}
}

Severity = Literal["info", "warning", "critical"]
EventName = Literal["opened", "escalated", "updated", "acknowledged", "resolved"]
Id = Annotated[str, Field(min_length=1, max_length=128)]
MAX_ENDPOINTS = 20
"""Webhook endpoints per lender: each change is sent to every one of them."""


class FiltersModel(BaseModel):
    """Which alert changes an endpoint gets; an empty list means any."""

    model_config = ConfigDict(extra="forbid", strict=True)

    severities: list[Severity] = Field(default_factory=list, max_length=3)
    kinds: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100, description="alert kinds, e.g. device_silent"
    )
    events: list[EventName] = Field(default_factory=list, max_length=5)
    borrowers: list[Id] = Field(
        default_factory=list, max_length=10_000, description="borrower ids of the lender"
    )

    def to_filters(self) -> Filters:
        return Filters(
            tuple(self.severities), tuple(self.kinds), tuple(self.events), tuple(self.borrowers)
        )


class WebhookIn(BaseModel):
    """A new endpoint."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(min_length=1, max_length=2000, description="http:// or https:// URL")
    description: str = Field("", max_length=256)
    filters: FiltersModel = Field(default_factory=FiltersModel)


class WebhookPatch(BaseModel):
    """Changes to an endpoint: what is left out stays."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: str | None = Field(None, min_length=1, max_length=2000)
    description: str | None = Field(None, max_length=256)
    enabled: bool | None = None
    filters: FiltersModel | None = None


class WebhookOut(BaseModel):
    """An endpoint, without its secret."""

    id: str
    url: str
    description: str
    enabled: bool
    filters: FiltersModel
    created_at: float = Field(description="wall time, epoch seconds")
    created_by: str


class WebhookCreated(WebhookOut):
    """A new endpoint with its signing secret, shown this once."""

    secret: str = Field(description="key of the X-Riskstream-Signature HMAC; keep it")


class AttemptOut(BaseModel):
    """One attempt to deliver."""

    at: float = Field(description="wall time, epoch seconds")
    status_code: int | None = Field(description="HTTP status; None: no answer")
    latency_ms: float = Field(description="from sending to the answer, milliseconds")
    error: str | None


class DeliveryOut(BaseModel):
    """One alert change to one endpoint, and its attempts."""

    id: int
    endpoint_id: str
    event: str
    alert_id: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: float | None = Field(description="when pending: next try, epoch seconds")
    created_at: float
    finished_at: float | None
    last_status: int | None
    last_error: str | None
    attempt_log: list[AttemptOut] = []


def _out(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "filters": endpoint.filters.to_dict(),
        "created_at": endpoint.created_at,
        "created_by": endpoint.created_by,
    }


def admin_only(user: User, action: str) -> None:
    if user.role != "risk_admin":
        raise HTTPException(403, f"role {user.role} cannot {action}; risk admins own webhooks")


def log_reader(user: User) -> None:
    if user.role not in ("risk_admin", "auditor"):
        raise HTTPException(403, "only risk admins and auditors read the delivery log")


async def _check_url(request: Request, url: str) -> None:
    try:
        await run_in_threadpool(runtime_of(request).notify.destinations.check, url)
    except DestinationRefusedError as exc:
        raise HTTPException(400, str(exc)) from None


def _not_found(exc: UnknownEndpointError) -> HTTPException:
    return HTTPException(404, str(exc))


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(request: Request, user: CurrentUser) -> list[dict[str, Any]]:
    """The lender's webhook endpoints, oldest first."""
    return [_out(e) for e in runtime_of(request).notify.webhooks.endpoints(user.tenant)]


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=201,
    responses={**REFUSED_URL, **CONFLICT},
)
async def create_webhook(request: Request, user: CurrentUser, body: WebhookIn) -> dict[str, Any]:
    """Register an endpoint (risk admins, audited); 400 for a URL the service will not
    send to. The answer holds the signing secret, shown this once."""
    admin_only(user, "add webhooks")
    runtime = runtime_of(request)
    if runtime.notify.webhooks.count(user.tenant) >= MAX_ENDPOINTS:
        raise HTTPException(409, f"a lender has at most {MAX_ENDPOINTS} webhook endpoints")
    await _check_url(request, body.url)
    endpoint, secret = runtime.notify.webhooks.create(
        user.tenant,
        body.url,
        body.description,
        body.filters.to_filters(),
        user.username,
        time.time(),
    )
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action="webhook_create",
        target=f"webhook:{endpoint.id}",
        detail={"url": endpoint.url, "filters": endpoint.filters.to_dict()},
    )
    return {**_out(endpoint), "secret": secret}


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
def get_webhook(request: Request, user: CurrentUser, webhook_id: str) -> dict[str, Any]:
    """One of the lender's endpoints."""
    try:
        return _out(runtime_of(request).notify.webhooks.get(user.tenant, webhook_id))
    except UnknownEndpointError as exc:
        raise _not_found(exc) from None


@router.put("/webhooks/{webhook_id}", response_model=WebhookOut, responses=REFUSED_URL)
async def update_webhook(
    request: Request, user: CurrentUser, webhook_id: str, body: WebhookPatch
) -> dict[str, Any]:
    """Change an endpoint's URL, description, filters or whether it is enabled (risk
    admins, audited)."""
    admin_only(user, "change webhooks")
    runtime = runtime_of(request)
    try:
        runtime.notify.webhooks.get(user.tenant, webhook_id)
        if body.url is not None:
            await _check_url(request, body.url)
        endpoint = runtime.notify.webhooks.update(
            user.tenant,
            webhook_id,
            url=body.url,
            description=body.description,
            enabled=body.enabled,
            filters=None if body.filters is None else body.filters.to_filters(),
        )
    except UnknownEndpointError as exc:
        raise _not_found(exc) from None
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action="webhook_update",
        target=f"webhook:{webhook_id}",
        detail=body.model_dump(exclude_none=True),
    )
    return _out(endpoint)


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(request: Request, user: CurrentUser, webhook_id: str) -> None:
    """Remove an endpoint (risk admins, audited); its pending deliveries become dead."""
    admin_only(user, "remove webhooks")
    runtime = runtime_of(request)
    try:
        runtime.notify.webhooks.delete(user.tenant, webhook_id)
    except UnknownEndpointError as exc:
        raise _not_found(exc) from None
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action="webhook_delete",
        target=f"webhook:{webhook_id}",
    )


@router.post("/webhooks/{webhook_id}/test", response_model=AttemptOut)
async def test_webhook(request: Request, user: CurrentUser, webhook_id: str) -> dict[str, Any]:
    """Send one signed ``test`` event now and answer how it went (risk admins; logged
    with the endpoint's deliveries, not retried)."""
    admin_only(user, "test webhooks")
    runtime = runtime_of(request)
    try:
        endpoint = runtime.notify.webhooks.get(user.tenant, webhook_id)
    except UnknownEndpointError as exc:
        raise _not_found(exc) from None
    now = time.time()
    sample = {"id": "test", "tenant": user.tenant, "borrower_id": "", "kind": "test"}
    body = body_of("test", None, sample)
    delivery_id = runtime.notify.webhooks.add_test(endpoint, body, now)
    due = Due(
        id=delivery_id,
        endpoint_id=endpoint.id,
        tenant=user.tenant,
        url=endpoint.url,
        secret=runtime.notify.webhooks.secret_of(user.tenant, webhook_id),
        event="test",
        body=body,
        attempts=0,
        created_at=now,
    )
    result = await runtime.notify.outbox.attempt(due, retry=False)
    return {
        "at": time.time(),
        "status_code": result.status_code,
        "latency_ms": result.latency_ms,
        "error": result.error,
    }


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def webhook_deliveries(
    request: Request,
    user: CurrentUser,
    webhook_id: str,
    state: Literal["pending", "delivered", "dead"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The endpoint's deliveries, newest first, each with its attempts (status code,
    latency, error)."""
    log_reader(user)
    try:
        return runtime_of(request).notify.webhooks.deliveries(user.tenant, webhook_id, limit, state)
    except UnknownEndpointError as exc:
        raise _not_found(exc) from None


@router.get("/dead-letters", response_model=list[DeliveryOut])
def dead_letters(
    request: Request, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """Deliveries that failed their last attempt, newest first."""
    log_reader(user)
    return runtime_of(request).notify.webhooks.dead_letters(user.tenant, limit)


@router.post("/dead-letters/{delivery_id}/resend", response_model=DeliveryOut)
def resend_dead_letter(
    request: Request,
    user: CurrentUser,
    delivery_id: Annotated[int, Path(ge=1, le=MAX_OFFSET)],
) -> dict[str, Any]:
    """Put a dead delivery back in the outbox with a fresh count of attempts (risk
    admins, audited)."""
    admin_only(user, "resend deliveries")
    runtime = runtime_of(request)
    try:
        delivery = runtime.notify.webhooks.resend(user.tenant, delivery_id, time.time())
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action="webhook_resend",
        target=f"webhook:{delivery['endpoint_id']}",
        detail={"delivery_id": delivery_id},
    )
    runtime.notifier.notify(runtime.notifier.last_seq)  # wake the outbox
    return delivery
