"""Loan outcomes as the lender's core system reports them, kept in the SQL database.

They are the labels of the outcome model (`riskstream.scoring.outcome_model`); keeping them
lets a person see what the model learned from.
"""

import time
from typing import Any

from sqlalchemy import Float, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from devices.registry import Base, SqlStore


class LoanEventRow(Base):
    __tablename__ = "loan_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    borrower_id: Mapped[str] = mapped_column(String(128), index=True)
    loan_id: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(32))
    ts: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[float] = mapped_column(Float)
    recorded_by: Mapped[str] = mapped_column(String(128))


class LoanEventStore(SqlStore):
    """Appends and lists loan events."""

    def add(
        self, *, tenant: str, borrower_id: str, loan_id: str, event: str, ts: float, by: str
    ) -> dict[str, Any]:
        """Store one event and return it."""
        with self._session() as s:
            row = LoanEventRow(
                tenant=tenant,
                borrower_id=borrower_id,
                loan_id=loan_id,
                event=event,
                ts=ts,
                recorded_at=time.time(),
                recorded_by=by,
            )
            s.add(row)
            s.flush()
            return _as_dict(row)

    def list(self, tenant: str, borrower_id: str | None = None) -> list[dict[str, Any]]:
        """Events of a tenant (optionally one borrower) in event-time order."""
        query = select(LoanEventRow).where(LoanEventRow.tenant == tenant)
        if borrower_id is not None:
            query = query.where(LoanEventRow.borrower_id == borrower_id)
        with self._session() as s:
            return [_as_dict(r) for r in s.scalars(query.order_by(LoanEventRow.ts))]


def _as_dict(row: LoanEventRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenant": row.tenant,
        "borrower_id": row.borrower_id,
        "loan_id": row.loan_id,
        "event": row.event,
        "ts": row.ts,
        "recorded_at": row.recorded_at,
        "recorded_by": row.recorded_by,
    }
