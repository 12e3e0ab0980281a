"""Alerts kept in the SQL database (next to the registry), with a change log.

Every saved change gets a sequence number in ``alert_changes`` (``seq``, for the whole
service: it wakes the live feeds) and one of its lender (``tenant_seq``, counted per
lender from 1). The live feed sends the lender's numbers as SSE event ids, so a client
that reconnects with ``Last-Event-ID`` gets exactly the changes it missed, and nothing
in the ids tells one lender how many changes another had.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Float, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column

from devices.registry import Base, SqlStore
from riskstream.engine.alerts import Alert


class AlertRow(Base):
    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    borrower_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    opened_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, index=True)
    data: Mapped[str] = mapped_column(Text)


class AlertChangeRow(Base):
    __tablename__ = "alert_changes"
    __table_args__ = (UniqueConstraint("tenant", "tenant_seq", name="uq_alert_changes_tenant"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[str] = mapped_column(Text)
    tenant: Mapped[str] = mapped_column(String(128))
    tenant_seq: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class AlertFilter:
    """Filters of ``GET /api/alerts``; None means any."""

    status: str | None = None
    severity: str | None = None
    borrower_id: str | None = None
    tenant: str | None = None
    since: float | None = None
    borrower_ids: frozenset[str] | None = None


class AlertStore(SqlStore):
    """Current state of every alert plus the ordered log of changes."""

    def save(self, alerts: Iterable[Alert]) -> int | None:
        """Upsert alerts and log each change; return the last change sequence number."""
        last: int | None = None
        next_of: dict[str, int] = {}
        batch = list(alerts)
        with self._session() as s:
            self._serialize(s, (f"alert_changes/{a.tenant}" for a in batch))
            for alert in batch:
                data = alert.to_dict()
                blob = orjson.dumps(data).decode()
                row = s.get(AlertRow, alert.id)
                if row is None:
                    row = AlertRow(id=alert.id)
                    s.add(row)
                row.tenant = alert.tenant
                row.borrower_id = alert.borrower_id
                row.kind = alert.kind
                row.severity = alert.severity
                row.status = alert.status
                row.opened_at = alert.opened_at
                row.updated_at = alert.updated_at
                row.data = blob
                if alert.tenant not in next_of:
                    newest = s.scalar(
                        select(func.max(AlertChangeRow.tenant_seq)).where(
                            AlertChangeRow.tenant == alert.tenant
                        )
                    )
                    next_of[alert.tenant] = int(newest or 0) + 1
                change = AlertChangeRow(
                    alert_id=alert.id,
                    data=blob,
                    tenant=alert.tenant,
                    tenant_seq=next_of[alert.tenant],
                )
                next_of[alert.tenant] += 1
                s.add(change)
                s.flush()
                last = change.seq
        return last

    def get(self, alert_id: str) -> dict[str, Any] | None:
        """One alert by id."""
        with self._session() as s:
            row = s.get(AlertRow, alert_id)
            return None if row is None else dict(orjson.loads(row.data))

    def query(
        self, flt: AlertFilter, limit: int = 100, offset: int = 0
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total matching, one page of alerts newest first)."""
        query = select(AlertRow)
        if flt.status:
            query = query.where(AlertRow.status == flt.status)
        if flt.severity:
            query = query.where(AlertRow.severity == flt.severity)
        if flt.borrower_id:
            query = query.where(AlertRow.borrower_id == flt.borrower_id)
        if flt.tenant:
            query = query.where(AlertRow.tenant == flt.tenant)
        if flt.since is not None:
            query = query.where(AlertRow.updated_at >= flt.since)
        if flt.borrower_ids is not None:
            query = query.where(AlertRow.borrower_id.in_(sorted(flt.borrower_ids)))
        with self._session() as s:
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = s.scalars(
                query.order_by(AlertRow.opened_at.desc(), AlertRow.id).limit(limit).offset(offset)
            )
            return int(total), [dict(orjson.loads(r.data)) for r in rows]

    def changes_after(self, seq: int, limit: int = 500) -> list[tuple[int, dict[str, Any]]]:
        """Changes with a sequence number above ``seq``, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(AlertChangeRow)
                .where(AlertChangeRow.seq > seq)
                .order_by(AlertChangeRow.seq)
                .limit(limit)
            )
            return [(r.seq, dict(orjson.loads(r.data))) for r in rows]

    def numbered_changes_after(
        self, seq: int, limit: int = 500
    ) -> list[tuple[int, int, dict[str, Any]]]:
        """Changes with a sequence number above ``seq``, oldest first, as (sequence
        number, the lender's sequence number, alert)."""
        with self._session() as s:
            rows = s.scalars(
                select(AlertChangeRow)
                .where(AlertChangeRow.seq > seq)
                .order_by(AlertChangeRow.seq)
                .limit(limit)
            )
            return [(r.seq, r.tenant_seq, dict(orjson.loads(r.data))) for r in rows]

    def previous_change(self, alert_id: str, before_seq: int) -> dict[str, Any] | None:
        """The state of ``alert_id`` in its change before ``before_seq`` (None: it is new)."""
        with self._session() as s:
            row = s.scalars(
                select(AlertChangeRow)
                .where(AlertChangeRow.alert_id == alert_id, AlertChangeRow.seq < before_seq)
                .order_by(AlertChangeRow.seq.desc())
                .limit(1)
            ).first()
            return None if row is None else dict(orjson.loads(row.data))

    def last_seq(self) -> int:
        """Sequence number of the newest change of the service (0 if none)."""
        with self._session() as s:
            return int(s.scalar(select(func.max(AlertChangeRow.seq))) or 0)

    def tenant_changes_after(
        self, tenant: str, tenant_seq: int, limit: int = 500
    ) -> list[tuple[int, dict[str, Any]]]:
        """``tenant``'s changes with a lender sequence number above ``tenant_seq``, oldest
        first, as (lender sequence number, alert)."""
        with self._session() as s:
            rows = s.scalars(
                select(AlertChangeRow)
                .where(AlertChangeRow.tenant == tenant, AlertChangeRow.tenant_seq > tenant_seq)
                .order_by(AlertChangeRow.tenant_seq)
                .limit(limit)
            )
            return [(r.tenant_seq, dict(orjson.loads(r.data))) for r in rows]

    def last_tenant_seq(self, tenant: str) -> int:
        """``tenant``'s sequence number of its newest change (0 if none)."""
        with self._session() as s:
            newest = s.scalar(
                select(func.max(AlertChangeRow.tenant_seq)).where(AlertChangeRow.tenant == tenant)
            )
            return int(newest or 0)

    def open_by_borrower(self, tenant: str) -> dict[str, list[str]]:
        """borrower id -> severities of its open (or acknowledged) alerts, of one tenant."""
        query = select(AlertRow.borrower_id, AlertRow.severity).where(
            AlertRow.status.in_(("open", "acknowledged")), AlertRow.tenant == tenant
        )
        found: dict[str, list[str]] = {}
        with self._session() as s:
            for borrower_id, severity in s.execute(query):
                found.setdefault(str(borrower_id), []).append(str(severity))
        return found

    def counts_by_severity(
        self,
        statuses: tuple[str, ...] = ("open", "acknowledged"),
        tenant: str | None = None,
        borrowers: frozenset[str] | None = None,
    ) -> dict[str, int]:
        """Open alerts per severity, of one tenant (and its ``borrowers``) if given."""
        query = select(AlertRow.severity, func.count()).where(AlertRow.status.in_(statuses))
        if tenant is not None:
            query = query.where(AlertRow.tenant == tenant)
        if borrowers is not None:
            query = query.where(AlertRow.borrower_id.in_(sorted(borrowers)))
        with self._session() as s:
            rows = s.execute(query.group_by(AlertRow.severity)).all()
            return {str(sev): int(n) for sev, n in rows}
