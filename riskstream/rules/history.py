"""Every rules text the service has applied, numbered, in the SQL database.

A version is recorded when the service starts on a text it has not applied before,
when the watched file changes to a valid text, and when a risk admin saves rules
through the API. The text is kept whole, so any version can be read back and compared.
"""

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Float, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from devices.registry import Base, SqlStore

Source = Literal["startup", "file", "api"]


DEFAULT_SCOPE = ""
"""The ``tenant`` of the service's own rules (the file, or the built-in ones)."""


class RulesVersionRow(Base):
    """One applied rules text of a scope: the service's default (``tenant`` "") or a
    lender's own; each scope numbers its versions from 1."""

    __tablename__ = "rules_versions"
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True, default=DEFAULT_SCOPE)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class RulesVersion:
    """One applied rules text.

    Attributes:
        version: 1, 2, ... in the order applied.
        sha256: hex digest of the UTF-8 text.
        text: the TOML text.
        applied_at: wall time it took effect (epoch seconds).
        source: ``startup`` (the service started on it), ``file`` (the watched file
            changed) or ``api`` (saved with ``PUT /api/rules``).
        actor: who saved it through the API (None for startup and file changes).
        path: the rules file it was read from or written to (None for built-in rules).
    """

    version: int
    sha256: str
    text: str
    applied_at: float
    source: Source
    actor: str | None
    path: str | None

    def to_dict(self, with_text: bool = True) -> dict[str, Any]:
        """JSON-ready form; ``with_text=False`` leaves the text out (history lists)."""
        data = asdict(self)
        if not with_text:
            del data["text"]
        return data


def digest(text: str) -> str:
    """SHA-256 hex digest of a rules text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RulesHistory(SqlStore):
    """Appends and lists rules versions."""

    def record(
        self,
        text: str,
        source: Source,
        actor: str | None = None,
        path: str | None = None,
        at: float | None = None,
        *,
        scope: str = DEFAULT_SCOPE,
    ) -> RulesVersion:
        """Store ``text`` as the next version of ``scope`` and return it."""
        with self._session() as s:
            self._serialize(s, [f"rules_versions/{scope}"])
            last = s.scalar(
                select(func.max(RulesVersionRow.version)).where(RulesVersionRow.tenant == scope)
            )
            row = RulesVersionRow(
                tenant=scope,
                version=int(last or 0) + 1,
                sha256=digest(text),
                text=text,
                applied_at=time.time() if at is None else at,
                source=source,
                actor=actor,
                path=path,
            )
            s.add(row)
            s.flush()
            return _version(row)

    def latest(self, scope: str = DEFAULT_SCOPE) -> RulesVersion | None:
        """The newest version of ``scope``, if any."""
        with self._session() as s:
            row = s.scalars(
                select(RulesVersionRow)
                .where(RulesVersionRow.tenant == scope)
                .order_by(RulesVersionRow.version.desc())
                .limit(1)
            ).first()
            return None if row is None else _version(row)

    def get(self, version: int, scope: str = DEFAULT_SCOPE) -> RulesVersion | None:
        """One version of ``scope`` by number."""
        with self._session() as s:
            row = s.get(RulesVersionRow, (scope, version))
            return None if row is None else _version(row)

    def page(
        self, limit: int = 50, offset: int = 0, scope: str = DEFAULT_SCOPE
    ) -> tuple[int, list[RulesVersion]]:
        """(number of versions of ``scope``, one page of them newest first)."""
        with self._session() as s:
            total = s.scalar(
                select(func.count())
                .select_from(RulesVersionRow)
                .where(RulesVersionRow.tenant == scope)
            )
            rows = s.scalars(
                select(RulesVersionRow)
                .where(RulesVersionRow.tenant == scope)
                .order_by(RulesVersionRow.version.desc())
                .limit(limit)
                .offset(offset)
            )
            return int(total or 0), [_version(r) for r in rows]

    def scopes(self) -> list[str]:
        """Lenders that have rules of their own (the service's default scope aside)."""
        with self._session() as s:
            query = select(RulesVersionRow.tenant).distinct().order_by(RulesVersionRow.tenant)
            return [t for t in s.scalars(query) if t != DEFAULT_SCOPE]


def _version(row: RulesVersionRow) -> RulesVersion:
    source: Source = "api" if row.source == "api" else "file" if row.source == "file" else "startup"
    return RulesVersion(
        version=row.version,
        sha256=row.sha256,
        text=row.text,
        applied_at=row.applied_at,
        source=source,
        actor=row.actor,
        path=row.path,
    )
