"""Webhook endpoints, their durable outbox and delivery log, in the service's SQL database.

- ``webhook_endpoints``: a lender's endpoints (URL, filters, and the signing secret
  sealed with AES-GCM under a key kept outside the database, `secret_box`).
- ``webhook_deliveries``: the outbox: one row per (endpoint, alert change) to send, with
  its state (``pending``, ``delivered``, ``dead``), attempts so far and when to try next.
  A row is written before anything is sent, so a restart loses no pending delivery.
- ``webhook_attempts``: the delivery log: every attempt's HTTP status, latency and error.
- ``notify_cursors``: how far in ``alert_changes`` the outbox has fanned out.

Every read and write names the lender: no method returns another lender's rows.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Boolean, Engine, Float, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from devices.registry import Base, SqlStore
from riskstream.service.notify.errors import UnknownEndpointError
from riskstream.service.notify.filters import Filters
from riskstream.service.notify.secret_box import SecretBox

MAX_ERROR_CHARS = 500
LEASE_S = 120.0
"""A delivery being sent is not picked again for this long (a crash mid-send retries it)."""


class WebhookEndpointRow(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    """The signing secret sealed by `SecretBox` for this row's id."""
    description: Mapped[str] = mapped_column(String(256), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    filters: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128))


class WebhookDeliveryRow(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(String(32), index=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    event: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, index=True)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebhookAttemptRow(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(Integer, index=True)
    endpoint_id: Mapped[str] = mapped_column(String(32), index=True)
    tenant: Mapped[str] = mapped_column(String(128))
    at: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class NotifyCursorRow(Base):
    __tablename__ = "notify_cursors"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class Endpoint:
    """A lender's webhook endpoint (its secret only in `WebhookStore.secret_of`)."""

    id: str
    tenant: str
    url: str
    description: str
    enabled: bool
    filters: Filters
    created_at: float
    created_by: str


@dataclass(frozen=True)
class Due:
    """A delivery to attempt now."""

    id: int
    endpoint_id: str
    tenant: str
    url: str
    secret: str
    event: str
    body: bytes
    attempts: int
    created_at: float


@dataclass(frozen=True)
class Outcome:
    """How one attempt of a delivery went, and what follows."""

    due: Due
    at: float
    status_code: int | None
    latency_ms: float
    error: str | None
    delivered: bool
    retry_at: float | None


def _endpoint(row: WebhookEndpointRow) -> Endpoint:
    return Endpoint(
        id=row.id,
        tenant=row.tenant,
        url=row.url,
        description=row.description,
        enabled=row.enabled,
        filters=Filters.from_dict(orjson.loads(row.filters)),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def delivery_dict(row: WebhookDeliveryRow) -> dict[str, Any]:
    """A delivery as the API shows it (without its body)."""
    return {
        "id": row.id,
        "endpoint_id": row.endpoint_id,
        "event": row.event,
        "alert_id": row.alert_id,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at if row.state == "pending" else None,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "last_status": row.last_status,
        "last_error": row.last_error,
    }


def stored_secrets(engine: Engine) -> int:
    """How many endpoints (each with a sealed secret) the database holds."""
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(WebhookEndpointRow))
    return int(count or 0)


class WebhookStore(SqlStore):
    """Endpoints, outbox and delivery log of every lender, always read per lender; the
    endpoints' secrets sealed by ``box``."""

    def __init__(self, engine: Engine, box: SecretBox) -> None:
        super().__init__(engine)
        self._box = box

    def check_key(self) -> int:
        """Open every stored secret; return how many. `WebhookKeyError` at the first that
        does not open (a wrong key, or a row altered or moved)."""
        with self._session() as s:
            rows = s.execute(select(WebhookEndpointRow.id, WebhookEndpointRow.secret)).all()
        for endpoint_id, sealed in rows:
            self._box.open(endpoint_id, sealed)
        return len(rows)

    def create(
        self, tenant: str, url: str, description: str, filters: Filters, actor: str, now: float
    ) -> tuple[Endpoint, str]:
        """A new endpoint and its secret (returned this once)."""
        secret = "whsec_" + secrets.token_urlsafe(32)
        endpoint_id = secrets.token_hex(8)
        row = WebhookEndpointRow(
            id=endpoint_id,
            tenant=tenant,
            url=url,
            secret=self._box.seal(endpoint_id, secret),
            description=description,
            enabled=True,
            filters=orjson.dumps(filters.to_dict()).decode(),
            created_at=now,
            created_by=actor,
        )
        with self._session() as s:
            s.add(row)
            s.flush()
            return _endpoint(row), secret

    def count(self, tenant: str) -> int:
        """How many endpoints ``tenant`` has."""
        with self._session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(WebhookEndpointRow)
                    .where(WebhookEndpointRow.tenant == tenant)
                )
                or 0
            )

    def _own(self, s: Session, tenant: str, endpoint_id: str) -> WebhookEndpointRow:
        row = s.get(WebhookEndpointRow, endpoint_id)
        if row is None or row.tenant != tenant:
            raise UnknownEndpointError(endpoint_id)
        return row

    def get(self, tenant: str, endpoint_id: str) -> Endpoint:
        """One of ``tenant``'s endpoints; `UnknownEndpointError` if it has none by that id."""
        with self._session() as s:
            return _endpoint(self._own(s, tenant, endpoint_id))

    def endpoints(self, tenant: str) -> list[Endpoint]:
        """``tenant``'s endpoints, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(WebhookEndpointRow)
                .where(WebhookEndpointRow.tenant == tenant)
                .order_by(WebhookEndpointRow.created_at, WebhookEndpointRow.id)
            )
            return [_endpoint(r) for r in rows]

    def update(
        self,
        tenant: str,
        endpoint_id: str,
        *,
        url: str | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        filters: Filters | None = None,
    ) -> Endpoint:
        """Change what is given; `UnknownEndpointError` if not ``tenant``'s."""
        with self._session() as s:
            row = self._own(s, tenant, endpoint_id)
            if url is not None:
                row.url = url
            if description is not None:
                row.description = description
            if enabled is not None:
                row.enabled = enabled
            if filters is not None:
                row.filters = orjson.dumps(filters.to_dict()).decode()
            return _endpoint(row)

    def delete(self, tenant: str, endpoint_id: str) -> None:
        """Remove the endpoint; its pending deliveries become dead (kept for the log)."""
        with self._session() as s:
            row = self._own(s, tenant, endpoint_id)
            s.delete(row)
            for delivery in s.scalars(
                select(WebhookDeliveryRow).where(
                    WebhookDeliveryRow.endpoint_id == endpoint_id,
                    WebhookDeliveryRow.state == "pending",
                )
            ):
                delivery.state = "dead"
                delivery.last_error = "endpoint deleted"

    def secret_of(self, tenant: str, endpoint_id: str) -> str:
        """The endpoint's signing secret (for sending only; the API never shows it again)."""
        with self._session() as s:
            sealed = self._own(s, tenant, endpoint_id).secret
        return self._box.open(endpoint_id, sealed)

    def add_test(self, endpoint: Endpoint, body: bytes, now: float) -> int:
        """A ``test`` delivery to ``endpoint``, leased for the caller to attempt; its id."""
        with self._session() as s:
            row = WebhookDeliveryRow(
                endpoint_id=endpoint.id,
                tenant=endpoint.tenant,
                event="test",
                alert_id="test",
                body=body.decode(),
                state="pending",
                attempts=0,
                next_attempt_at=now + LEASE_S,
                created_at=now,
            )
            s.add(row)
            s.flush()
            return row.id

    def active_endpoints(self) -> list[tuple[Endpoint, str]]:
        """Every enabled endpoint of every lender, with its secret (for the outbox)."""
        with self._session() as s:
            rows = s.scalars(select(WebhookEndpointRow).where(WebhookEndpointRow.enabled))
            return [(_endpoint(r), self._box.open(r.id, r.secret)) for r in rows]

    def cursor(self, name: str) -> int | None:
        """How far ``name`` has read the alert changes (None: never started)."""
        with self._session() as s:
            row = s.get(NotifyCursorRow, name)
            return None if row is None else row.seq

    def enqueue(
        self, name: str, seq: int, rows: Sequence[tuple[str, str, str, str, bytes]], now: float
    ) -> None:
        """In one transaction: add deliveries (endpoint id, tenant, event, alert id, body)
        and move cursor ``name`` to ``seq``."""
        with self._session() as s:
            self._serialize(s, [f"notify_cursor/{name}"])
            for endpoint_id, tenant, event, alert_id, body in rows:
                s.add(
                    WebhookDeliveryRow(
                        endpoint_id=endpoint_id,
                        tenant=tenant,
                        event=event,
                        alert_id=alert_id,
                        body=body.decode(),
                        state="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
            cursor = s.get(NotifyCursorRow, name)
            if cursor is None:
                s.add(NotifyCursorRow(name=name, seq=seq))
            else:
                cursor.seq = max(cursor.seq, seq)

    def next_due(self) -> float | None:
        """When the earliest pending delivery is due (None: nothing pending)."""
        with self._session() as s:
            return s.scalar(
                select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
                    WebhookDeliveryRow.state == "pending"
                )
            )

    def claim_due(self, now: float, limit: int) -> list[Due]:
        """Up to ``limit`` pending deliveries due by ``now``, leased for `LEASE_S`."""
        with self._session() as s:
            self._serialize(s, ["webhook_outbox"])
            rows = s.execute(
                select(WebhookDeliveryRow, WebhookEndpointRow)
                .join(WebhookEndpointRow, WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id)
                .where(
                    WebhookDeliveryRow.state == "pending",
                    WebhookDeliveryRow.next_attempt_at <= now,
                    WebhookEndpointRow.enabled,  # a disabled endpoint's deliveries wait
                )
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
                .limit(limit)
            ).all()
            due = []
            for delivery, endpoint in rows:
                delivery.next_attempt_at = now + LEASE_S
                due.append(
                    Due(
                        id=delivery.id,
                        endpoint_id=endpoint.id,
                        tenant=delivery.tenant,
                        url=endpoint.url,
                        secret=self._box.open(endpoint.id, endpoint.secret),
                        event=delivery.event,
                        body=delivery.body.encode(),
                        attempts=delivery.attempts,
                        created_at=delivery.created_at,
                    )
                )
            return due

    def record_attempts(self, outcomes: Sequence[Outcome]) -> None:
        """Log attempts, in one transaction; each delivery is then delivered, pending
        until its ``retry_at``, or dead (``retry_at`` None and not delivered)."""
        with self._session() as s:
            for o in outcomes:
                error = None if o.error is None else o.error[:MAX_ERROR_CHARS]
                s.add(
                    WebhookAttemptRow(
                        delivery_id=o.due.id,
                        endpoint_id=o.due.endpoint_id,
                        tenant=o.due.tenant,
                        at=o.at,
                        status_code=o.status_code,
                        latency_ms=o.latency_ms,
                        error=error,
                    )
                )
                row = s.get(WebhookDeliveryRow, o.due.id)
                if row is None:
                    continue
                row.attempts = o.due.attempts + 1
                row.last_status = o.status_code
                row.last_error = error
                if o.delivered:
                    row.state, row.finished_at = "delivered", o.at
                elif o.retry_at is None:
                    row.state, row.finished_at = "dead", o.at
                else:
                    row.state, row.next_attempt_at = "pending", o.retry_at

    def deliveries(
        self, tenant: str, endpoint_id: str, limit: int = 100, state: str | None = None
    ) -> list[dict[str, Any]]:
        """The endpoint's deliveries, newest first, each with its attempts."""
        with self._session() as s:
            self._own(s, tenant, endpoint_id)
            query = select(WebhookDeliveryRow).where(
                WebhookDeliveryRow.tenant == tenant, WebhookDeliveryRow.endpoint_id == endpoint_id
            )
            if state is not None:
                query = query.where(WebhookDeliveryRow.state == state)
            rows = list(s.scalars(query.order_by(WebhookDeliveryRow.id.desc()).limit(limit)))
            return self._with_attempts(s, rows)

    def dead_letters(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        """``tenant``'s deliveries that failed their last attempt, newest first."""
        with self._session() as s:
            rows = list(
                s.scalars(
                    select(WebhookDeliveryRow)
                    .where(WebhookDeliveryRow.tenant == tenant, WebhookDeliveryRow.state == "dead")
                    .order_by(WebhookDeliveryRow.id.desc())
                    .limit(limit)
                )
            )
            return self._with_attempts(s, rows)

    @staticmethod
    def _with_attempts(s: Session, rows: list[WebhookDeliveryRow]) -> list[dict[str, Any]]:
        attempts: dict[int, list[dict[str, Any]]] = {r.id: [] for r in rows}
        if rows:
            for a in s.scalars(
                select(WebhookAttemptRow)
                .where(WebhookAttemptRow.delivery_id.in_(list(attempts)))
                .order_by(WebhookAttemptRow.id)
            ):
                attempts[a.delivery_id].append(
                    {
                        "at": a.at,
                        "status_code": a.status_code,
                        "latency_ms": a.latency_ms,
                        "error": a.error,
                    }
                )
        return [{**delivery_dict(r), "attempt_log": attempts[r.id]} for r in rows]

    def resend(self, tenant: str, delivery_id: int, now: float) -> dict[str, Any]:
        """Put a dead delivery of ``tenant`` back in the outbox with a fresh count of
        attempts; `LookupError` if ``tenant`` has no dead delivery by that id."""
        with self._session() as s:
            row = s.get(WebhookDeliveryRow, delivery_id)
            if row is None or row.tenant != tenant or row.state != "dead":
                raise LookupError(f"no dead delivery with id {delivery_id}")
            if s.get(WebhookEndpointRow, row.endpoint_id) is None:
                raise LookupError(f"delivery {delivery_id}'s endpoint was deleted")
            row.state, row.attempts, row.next_attempt_at = "pending", 0, now
            row.finished_at = None
            return delivery_dict(row)

    def counts(self, tenant: str) -> dict[str, int]:
        """``tenant``'s deliveries per state."""
        with self._session() as s:
            rows = s.execute(
                select(WebhookDeliveryRow.state, func.count())
                .where(WebhookDeliveryRow.tenant == tenant)
                .group_by(WebhookDeliveryRow.state)
            ).all()
            return {str(state): int(n) for state, n in rows}
