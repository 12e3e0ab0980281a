"""People who use the service: roles, tenants, portfolios, passwords and API tokens.

Roles: ``loan_officer`` sees and acts on the borrowers of their portfolio;
``risk_admin`` owns the rules and sees every portfolio of the tenant; ``auditor`` reads
everything of the tenant, including the audit log, and changes nothing. Passwords are
hashed with Argon2 (argon2-cffi); API tokens are random and stored as SHA-256 hashes.

A token is a session: it ends when it expires (``token_lifetime_s``), at logout, and
at once for every token of a user who is replaced (`UserStore.add`: new password, role,
tenant or portfolio), given a new password or removed. Argon2 never runs while a
database session is open, so slow password checks cannot hold the connection pool.
"""

import functools
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, Float, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from devices.registry import Base, SqlStore

Role = Literal["loan_officer", "risk_admin", "auditor"]
ROLES: tuple[Role, ...] = ("loan_officer", "risk_admin", "auditor")
TOKEN_LIFETIME_S = 12 * 3600.0
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
"""Longer passwords are refused when set and at login, before any hashing."""
MAX_USERNAME_CHARS = 128
"""The ``users.username`` column's size."""
MAX_TOKEN_CHARS = 128
"""Tokens are 43 characters; anything much longer is not one of ours."""

_hasher = PasswordHasher()


class UnknownUserError(LookupError):
    """No user has the given name.

    Attributes:
        username: the name asked for.
    """

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"no user {username[:MAX_USERNAME_CHARS]!r}")


class StaleLoginError(RuntimeError):
    """The user was replaced or removed between the password check and the token.

    Attributes:
        username: who was logging in.
    """

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"user {username!r} changed while logging in: log in again")


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
    """An authenticated person.

    ``stamp`` identifies the stored version of the user (a digest of its password hash,
    which every `UserStore.add` salts anew); a token is only issued while it still holds.
    """

    username: str
    tenant: str
    role: Role
    portfolio: frozenset[str]
    stamp: str = field(default="", repr=False, compare=False)

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


def check_password(password: str) -> None:
    """Raise ValueError saying why ``password`` cannot be set."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"password must have at most {MAX_PASSWORD_CHARS} characters")


@functools.cache
def _dummy_hash() -> str:
    """What an unknown user's password is checked against: the same work as a real one."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class UserStore(SqlStore):
    """Users and their tokens in the SQL database.

    Args:
        engine: the SQL database.
        token_lifetime_s: how long a new token stays valid.
        clock: epoch seconds; tests pass a fake one.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        token_lifetime_s: float = TOKEN_LIFETIME_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(engine)
        if not token_lifetime_s > 0:
            raise ValueError(f"token_lifetime_s has value {token_lifetime_s!r}; expected > 0")
        self.token_lifetime_s = token_lifetime_s
        self.clock = clock

    def add(
        self,
        username: str,
        password: str,
        tenant: str,
        role: Role,
        portfolio: list[str] | None = None,
    ) -> int:
        """Create or replace a user; replacing one ends all its sessions.

        Returns:
            How many of the user's tokens were revoked.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not 0 < len(username) <= MAX_USERNAME_CHARS:
            raise ValueError(f"username must have 1 to {MAX_USERNAME_CHARS} characters")
        check_password(password)
        password_hash = _hasher.hash(password)  # before the session: no connection held
        with self._session() as s:
            s.merge(
                UserRow(
                    username=username,
                    tenant=tenant,
                    role=role,
                    password_hash=password_hash,
                    portfolio=orjson.dumps(sorted(portfolio or [])).decode(),
                )
            )
            return _revoke_all(s, username)

    def set_password(self, username: str, password: str) -> int:
        """Give ``username`` a new password and end all its sessions.

        Returns:
            How many tokens were revoked.

        Raises:
            UnknownUserError: there is no such user.
            ValueError: the password is too short or too long.
        """
        check_password(password)
        password_hash = _hasher.hash(password)
        with self._session() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise UnknownUserError(username)
            row.password_hash = password_hash
            return _revoke_all(s, username)

    def remove(self, username: str) -> User | None:
        """Delete ``username`` and all its tokens; the removed user, or None if unknown."""
        with self._session() as s:
            row = s.get(UserRow, username)
            if row is None:
                return None
            user = _user(row)
            s.delete(row)
            _revoke_all(s, username)
            return user

    def get(self, username: str) -> User | None:
        """The user called ``username``, if any."""
        with self._session() as s:
            row = s.get(UserRow, username)
            return None if row is None else _user(row)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right, else None.

        The row is read in a short session that is closed before Argon2 runs; an unknown
        user costs the same check against a dummy hash (no enumeration by timing).
        """
        with self._session() as s:
            row = s.get(UserRow, username)
            found = None if row is None else (row.password_hash, _user(row))
        if found is None:
            _verify(_dummy_hash(), password)
            return None
        password_hash, user = found
        return user if _verify(password_hash, password) else None

    def issue_token(self, user: User, now: float | None = None) -> str:
        """A new bearer token for ``user``, as `authenticate` returned it.

        The token row is written first and the user row read after it in the same
        transaction (shared lock where the database has one), so a concurrent `add`,
        `set_password` or `remove` either sees and deletes the token or makes this fail.

        Raises:
            StaleLoginError: the user changed or went away since `authenticate`.
        """
        token = secrets.token_urlsafe(32)
        at = self.clock() if now is None else now
        with self._session() as s:
            s.execute(delete(TokenRow).where(TokenRow.expires_at <= at))
            s.add(
                TokenRow(
                    token_hash=_token_hash(token),
                    username=user.username,
                    expires_at=at + self.token_lifetime_s,
                )
            )
            s.flush()
            query = select(UserRow).where(UserRow.username == user.username)
            row = s.scalars(query.with_for_update(read=True)).first()
            if row is None or _user(row) != user or _stamp(row) != user.stamp:
                raise StaleLoginError(user.username)  # rolls the token back
        return token

    def user_for_token(self, token: str) -> User | None:
        """The user a valid, unexpired, unrevoked token belongs to."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        with self._session() as s:
            row = s.get(TokenRow, _token_hash(token))
            if row is None or row.expires_at <= self.clock():
                return None
            user = s.get(UserRow, row.username)
            return None if user is None else _user(user)

    def revoke_token(self, token: str) -> bool:
        """End one session (logout); whether the token existed."""
        if len(token) > MAX_TOKEN_CHARS:
            return False
        with self._session() as s:
            gone = s.execute(delete(TokenRow).where(TokenRow.token_hash == _token_hash(token)))
            return bool(getattr(gone, "rowcount", 0))

    def all_users(self) -> list[User]:
        """Every user."""
        with self._session() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]


def _revoke_all(s: Session, username: str) -> int:
    gone = s.execute(delete(TokenRow).where(TokenRow.username == username))
    return int(getattr(gone, "rowcount", 0))


def _stamp(row: UserRow) -> str:
    return hashlib.sha256(row.password_hash.encode()).hexdigest()[:32]


def _user(row: UserRow) -> User:
    return User(
        row.username,
        row.tenant,
        row.role,  # type: ignore[arg-type]
        frozenset(orjson.loads(row.portfolio)),
        _stamp(row),
    )
