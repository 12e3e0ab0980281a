"""People who use the service: roles, tenants, portfolios, passwords and API tokens.

Roles: ``loan_officer`` sees and acts on the borrowers of their portfolio;
``risk_admin`` owns the rules and sees every portfolio of the tenant; ``auditor`` reads
everything of the tenant, including the audit log, and changes nothing. Passwords are
hashed with Argon2 (argon2-cffi); API tokens are random and stored as SHA-256 hashes.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import Float, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from devices.registry import Base, SqlStore

Role = Literal["loan_officer", "risk_admin", "auditor"]
ROLES: tuple[Role, ...] = ("loan_officer", "risk_admin", "auditor")
TOKEN_LIFETIME_S = 12 * 3600.0

_hasher = PasswordHasher()


class UserRow(Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    portfolio: Mapped[str] = mapped_column(Text, default="[]")


class TokenRow(Base):
    __tablename__ = "api_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(128), index=True)
    expires_at: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class User:
    """An authenticated person."""

    username: str
    tenant: str
    role: Role
    portfolio: frozenset[str]

    def may_see(self, tenant: str, borrower_id: str) -> bool:
        """Tenant isolation for everyone; officers only see their own portfolio."""
        if tenant != self.tenant:
            return False
        return self.role != "loan_officer" or borrower_id in self.portfolio

    @property
    def may_act(self) -> bool:
        """Whether this user may acknowledge and resolve alerts."""
        return self.role in ("loan_officer", "risk_admin")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore(SqlStore):
    """Users and their tokens in the SQL database."""

    def add(
        self,
        username: str,
        password: str,
        tenant: str,
        role: Role,
        portfolio: list[str] | None = None,
    ) -> None:
        """Create or replace a user."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if len(password) < 8:
            raise ValueError("password must have at least 8 characters")
        with self._session() as s:
            s.merge(
                UserRow(
                    username=username,
                    tenant=tenant,
                    role=role,
                    password_hash=_hasher.hash(password),
                    portfolio=orjson.dumps(sorted(portfolio or [])).decode(),
                )
            )

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right, else None."""
        with self._session() as s:
            row = s.get(UserRow, username)
            if row is None:
                _hasher.hash(password)  # same work as a real check: no user enumeration by timing
                return None
            try:
                _hasher.verify(row.password_hash, password)
            except (VerifyMismatchError, InvalidHashError):
                return None
            return _user(row)

    def issue_token(self, user: User, now: float | None = None) -> str:
        """A new bearer token for ``user``."""
        token = secrets.token_urlsafe(32)
        expires = (time.time() if now is None else now) + TOKEN_LIFETIME_S
        with self._session() as s:
            s.execute(delete(TokenRow).where(TokenRow.expires_at < time.time()))
            s.add(
                TokenRow(token_hash=_token_hash(token), username=user.username, expires_at=expires)
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        """The user a valid, unexpired token belongs to."""
        with self._session() as s:
            row = s.get(TokenRow, _token_hash(token))
            if row is None or row.expires_at < time.time():
                return None
            user = s.get(UserRow, row.username)
            return None if user is None else _user(user)

    def all_users(self) -> list[User]:
        """Every user."""
        with self._session() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]


def _user(row: UserRow) -> User:
    return User(
        row.username,
        row.tenant,
        row.role,  # type: ignore[arg-type]
        frozenset(orjson.loads(row.portfolio)),
    )
