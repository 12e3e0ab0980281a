"""E-mail recipients of each lender and the durable queue of changes to mail them.

- ``email_recipients``: an address, its filters, and its digest period (0: one mail per
  change; N: at most one mail per N minutes, collecting the changes in between).
- ``email_queue``: one row per (recipient, alert change), ``pending`` until it went out
  in a mail (``sent``) or the mail failed its last attempt (``dead``).

Every read and write names the lender.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Boolean, Float, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from devices.registry import Base, SqlStore
from riskstream.service.notify.errors import UnknownEndpointError
from riskstream.service.notify.filters import Filters
from riskstream.service.notify.webhook_store import NotifyCursorRow

MAX_ERROR_CHARS = 500


class EmailRecipientRow(Base):
    __tablename__ = "email_recipients"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    address: Mapped[str] = mapped_column(String(320))
    filters: Mapped[str] = mapped_column(Text, default="{}")
    digest_minutes: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128))


class EmailQueueRow(Base):
    __tablename__ = "email_queue"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient_id: Mapped[str] = mapped_column(String(32), index=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    event: Mapped[str] = mapped_column(String(32))
    alert: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class Recipient:
    """A lender's e-mail recipient."""

    id: str
    tenant: str
    address: str
    filters: Filters
    digest_minutes: int
    enabled: bool
    last_sent_at: float | None
    created_at: float
    created_by: str


@dataclass(frozen=True)
class Queued:
    """A change waiting to be mailed."""

    id: int
    event: str
    alert: dict[str, Any]
    attempts: int
    created_at: float


def _recipient(row: EmailRecipientRow) -> Recipient:
    return Recipient(
        id=row.id,
        tenant=row.tenant,
        address=row.address,
        filters=Filters.from_dict(orjson.loads(row.filters)),
        digest_minutes=row.digest_minutes,
        enabled=row.enabled,
        last_sent_at=row.last_sent_at,
        created_at=row.created_at,
        created_by=row.created_by,
    )


class MailStore(SqlStore):
    """Recipients and the mail queue of every lender, always read per lender."""

    def create(
        self,
        tenant: str,
        address: str,
        filters: Filters,
        digest_minutes: int,
        actor: str,
        now: float,
    ) -> Recipient:
        """A new recipient of ``tenant``."""
        row = EmailRecipientRow(
            id=secrets.token_hex(8),
            tenant=tenant,
            address=address,
            filters=orjson.dumps(filters.to_dict()).decode(),
            digest_minutes=digest_minutes,
            enabled=True,
            created_at=now,
            created_by=actor,
        )
        with self._session() as s:
            s.add(row)
            s.flush()
            return _recipient(row)

    def _own(self, s: Session, tenant: str, recipient_id: str) -> EmailRecipientRow:
        row = s.get(EmailRecipientRow, recipient_id)
        if row is None or row.tenant != tenant:
            raise UnknownEndpointError(recipient_id)
        return row

    def recipients(self, tenant: str) -> list[Recipient]:
        """``tenant``'s recipients, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(EmailRecipientRow)
                .where(EmailRecipientRow.tenant == tenant)
                .order_by(EmailRecipientRow.created_at, EmailRecipientRow.id)
            )
            return [_recipient(r) for r in rows]

    def update(
        self,
        tenant: str,
        recipient_id: str,
        *,
        address: str | None = None,
        filters: Filters | None = None,
        digest_minutes: int | None = None,
        enabled: bool | None = None,
    ) -> Recipient:
        """Change what is given; `UnknownEndpointError` if not ``tenant``'s."""
        with self._session() as s:
            row = self._own(s, tenant, recipient_id)
            if address is not None:
                row.address = address
            if filters is not None:
                row.filters = orjson.dumps(filters.to_dict()).decode()
            if digest_minutes is not None:
                row.digest_minutes = digest_minutes
            if enabled is not None:
                row.enabled = enabled
            return _recipient(row)

    def delete(self, tenant: str, recipient_id: str) -> None:
        """Remove the recipient and what was still waiting for it."""
        with self._session() as s:
            s.delete(self._own(s, tenant, recipient_id))
            for row in s.scalars(
                select(EmailQueueRow).where(
                    EmailQueueRow.recipient_id == recipient_id, EmailQueueRow.state == "pending"
                )
            ):
                row.state, row.last_error = "dead", "recipient deleted"

    def active(self) -> list[Recipient]:
        """Every enabled recipient of every lender (for the mail outbox)."""
        with self._session() as s:
            rows = s.scalars(select(EmailRecipientRow).where(EmailRecipientRow.enabled))
            return [_recipient(r) for r in rows]

    def cursor(self, name: str) -> int | None:
        """How far ``name`` has read the alert changes (None: never started)."""
        with self._session() as s:
            row = s.get(NotifyCursorRow, name)
            return None if row is None else row.seq

    def enqueue(
        self, name: str, seq: int, rows: Sequence[tuple[str, str, str, bytes]], now: float
    ) -> None:
        """In one transaction: queue changes (recipient id, tenant, event, alert JSON) and
        move cursor ``name`` to ``seq``."""
        with self._session() as s:
            self._serialize(s, [f"notify_cursor/{name}"])
            cursor = s.get(NotifyCursorRow, name)
            if cursor is None:
                s.add(NotifyCursorRow(name=name, seq=seq))
            else:
                cursor.seq = max(cursor.seq, seq)
            for recipient_id, tenant, event, alert in rows:
                s.add(
                    EmailQueueRow(
                        recipient_id=recipient_id,
                        tenant=tenant,
                        event=event,
                        alert=alert.decode(),
                        state="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )

    def pending(self, recipient_id: str, now: float) -> list[Queued]:
        """The recipient's changes waiting to be mailed and due by ``now``, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(EmailQueueRow)
                .where(
                    EmailQueueRow.recipient_id == recipient_id,
                    EmailQueueRow.state == "pending",
                    EmailQueueRow.next_attempt_at <= now,
                )
                .order_by(EmailQueueRow.id)
            )
            return [
                Queued(r.id, r.event, dict(orjson.loads(r.alert)), r.attempts, r.created_at)
                for r in rows
            ]

    def mark_sent(self, recipient_id: str, ids: list[int], now: float) -> None:
        """The mail holding ``ids`` went out at ``now``."""
        with self._session() as s:
            for row in s.scalars(select(EmailQueueRow).where(EmailQueueRow.id.in_(ids))):
                row.state, row.sent_at, row.attempts = "sent", now, row.attempts + 1
            recipient = s.get(EmailRecipientRow, recipient_id)
            if recipient is not None:
                recipient.last_sent_at = now

    def mark_failed(self, ids: list[int], error: str, retry_at: float | None) -> None:
        """The mail holding ``ids`` failed: retry at ``retry_at``, or dead when None."""
        with self._session() as s:
            for row in s.scalars(select(EmailQueueRow).where(EmailQueueRow.id.in_(ids))):
                row.attempts += 1
                row.last_error = error[:MAX_ERROR_CHARS]
                if retry_at is None:
                    row.state = "dead"
                else:
                    row.next_attempt_at = retry_at

    def queue(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        """``tenant``'s queued, sent and dead mail items, newest first."""
        with self._session() as s:
            rows = s.scalars(
                select(EmailQueueRow)
                .where(EmailQueueRow.tenant == tenant)
                .order_by(EmailQueueRow.id.desc())
                .limit(limit)
            )
            return [
                {
                    "id": r.id,
                    "recipient_id": r.recipient_id,
                    "event": r.event,
                    "alert_id": orjson.loads(r.alert)["id"],
                    "state": r.state,
                    "attempts": r.attempts,
                    "created_at": r.created_at,
                    "sent_at": r.sent_at,
                    "last_error": r.last_error,
                }
                for r in rows
            ]
