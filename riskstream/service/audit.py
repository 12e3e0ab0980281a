"""Append-only audit log whose entries are hash-chained, so tampering is detectable.

Every entry stores the SHA-256 of the previous entry's hash and its own canonical
content (who, when, what, on which target, why). Changing, deleting or reordering any
entry breaks the chain from there on; `AuditLog.verify` finds the first broken entry.
"""

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Float, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from devices.registry import Base, SqlStore

GENESIS = "0" * 64
TENANT_CHARS = 128
ACTOR_CHARS = 128
ACTION_CHARS = 64
TARGET_CHARS = 256
"""Sizes of the columns; longer text (a username someone typed) is cut to them."""


class AuditRow(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def entry_hash(
    prev_hash: str, at: float, tenant: str, actor: str, action: str, target: str, detail: str
) -> str:
    """The hash that chains one entry to the previous one."""
    content = orjson.dumps([prev_hash, f"{at:.6f}", tenant, actor, action, target, detail])
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class Verification:
    """Result of checking the chain."""

    entries: int
    first_broken: int | None

    @property
    def ok(self) -> bool:
        return self.first_broken is None


class AuditLog(SqlStore):
    """Writes and verifies the chained audit log in the SQL database."""

    def record(
        self,
        *,
        tenant: str,
        actor: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> dict[str, Any]:
        """Append one entry and return it; text longer than its column is cut to fit."""
        when = time.time() if at is None else at
        tenant, actor = tenant[:TENANT_CHARS], actor[:ACTOR_CHARS]
        action, target = action[:ACTION_CHARS], target[:TARGET_CHARS]
        blob = orjson.dumps(detail or {}, option=orjson.OPT_SORT_KEYS).decode()
        with self._session() as s:
            self._serialize(s, ["audit_log"])
            last = s.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1)).first()
            prev = last.hash if last is not None else GENESIS
            row = AuditRow(
                at=when,
                tenant=tenant,
                actor=actor,
                action=action,
                target=target,
                detail=blob,
                prev_hash=prev,
                hash=entry_hash(prev, when, tenant, actor, action, target, blob),
            )
            s.add(row)
            s.flush()
            return _as_dict(row)

    def entries(
        self, tenant: str | None = None, target: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Newest entries first, optionally of one tenant or one target."""
        query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
        if tenant is not None:
            query = query.where(AuditRow.tenant == tenant)
        if target is not None:
            query = query.where(AuditRow.target == target)
        with self._session() as s:
            return [_as_dict(r) for r in s.scalars(query)]

    def verify(self) -> Verification:
        """Recompute the chain; report the first entry whose hash does not hold."""
        prev = GENESIS
        count = 0
        with self._session() as s:
            for row in s.scalars(select(AuditRow).order_by(AuditRow.seq)):
                count += 1
                expected = entry_hash(
                    prev, row.at, row.tenant, row.actor, row.action, row.target, row.detail
                )
                if row.prev_hash != prev or row.hash != expected:
                    return Verification(count, row.seq)
                prev = row.hash
        return Verification(count, None)


def _as_dict(row: AuditRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at,
        "tenant": row.tenant,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "detail": orjson.loads(row.detail),
        "hash": row.hash,
    }
