"""The device registry: a fleet persisted in SQL through SQLAlchemy 2.

SQLite by default (one file, next to the alert store); any SQLAlchemy URL works, so
PostgreSQL can follow. Each fleet is stored whole, one row per entity, and read back
as a validated `Fleet`.
"""

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    create_engine,
    delete,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from devices.errors import ReservedDeviceIdError, UnknownEntityError
from devices.model import Fleet
from devices.private_files import create_private, make_private_dirs
from devices.sparkplug.mapping import sparkplug_map
from devices.topics import reserved_device_id_reason


class Base(DeclarativeBase):
    """Declarative base shared by every riskstream table in the SQL database."""


class TenantRow(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    fleet_json: Mapped[str] = mapped_column(default="{}")


class BorrowerRow(Base):
    """A borrower; its id is its lender's own, so the key is (tenant, id)."""

    __tablename__ = "borrowers"
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    industry: Mapped[str] = mapped_column(String(128), default="")


class DeviceRow(Base):
    """A device; its id is its lender's own, so the key is (tenant, id)."""

    __tablename__ = "devices"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant", "borrower_id"],
            ["borrowers.tenant", "borrowers.id"],
            name="fk_devices_borrower",
        ),
        Index("ix_devices_borrower", "tenant", "borrower_id"),
    )
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    borrower_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(128))
    collateral_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    interval_s: Mapped[float]


def sql_url(path_or_url: str | Path) -> str:
    """Accept a SQLAlchemy URL or a plain file path (taken as SQLite).

    For a path, the directories it needs are made (mode 0700) and a missing database
    file is created empty with mode 0600 before SQLite opens it (SQLite gives its
    journal files the database file's mode).
    """
    text = str(path_or_url)
    if "://" in text:
        return text
    if text not in ("", ":memory:"):
        _create_sqlite_file(Path(text))
    return f"sqlite:///{text}"


def shown_url(path_or_url: str | Path) -> str:
    """A database's path or URL as it may be printed or logged: any password hidden."""
    text = str(path_or_url)
    if "://" not in text:
        return text
    try:
        return make_url(text).render_as_string(hide_password=True)
    except ArgumentError:
        return text.split("://", 1)[0] + "://…"


def _create_sqlite_file(path: Path) -> None:
    make_private_dirs(path.parent)
    created = create_private(path)  # an empty file is an empty SQLite database
    if created is not None:
        created.close()


def open_database(path_or_url: str | Path) -> Engine:
    """Open (and create if needed) the SQL database that holds registry and alerts."""
    engine = create_engine(sql_url(path_or_url))
    Base.metadata.create_all(engine)
    return engine


class SqlStore:
    """Base of every store in the SQL database: creates the tables, opens transactions."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        Base.metadata.create_all(engine)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self._engine) as session, session.begin():
            yield session

    @staticmethod
    def _serialize(session: Session, names: Iterable[str]) -> None:
        """Hold, until the transaction ends, a lock on each of ``names`` (e.g. a lender's
        change counter), so that writers in other processes that number entries one
        after another (next = newest + 1, a hash chain) wait instead of colliding.

        On PostgreSQL these are transaction-scoped advisory locks, taken in one order so
        that two writers cannot deadlock; SQLite lets one writer at a time anyway.
        """
        if session.get_bind().dialect.name != "postgresql":
            return
        for name in sorted(set(names)):
            digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
            key = int.from_bytes(digest, "big", signed=True)
            session.execute(select(func.pg_advisory_xact_lock(key)))


class Registry(SqlStore):
    """Lenders' fleets in SQL: import, list, and load back for the engine and ingest."""

    def import_fleet(self, fleet: Fleet) -> None:
        """Store ``fleet``, replacing whatever was registered for its tenant."""
        tenant = fleet.tenant.id
        for device in fleet.devices():  # a Fleet built without validation is checked too
            reason = reserved_device_id_reason(device.id)
            if reason is not None:
                raise ReservedDeviceIdError(tenant, device.id, reason)
        if fleet.sparkplug is not None:  # a group is one lender's: refuse a clash
            sparkplug_map([*(f for f in self.fleets() if f.tenant.id != tenant), fleet])
        with self._session() as s:
            s.execute(delete(DeviceRow).where(DeviceRow.tenant == tenant))
            s.execute(delete(BorrowerRow).where(BorrowerRow.tenant == tenant))
            s.execute(delete(TenantRow).where(TenantRow.id == tenant))
            s.add(TenantRow(id=tenant, name=fleet.tenant.name, fleet_json=fleet.model_dump_json()))
            s.flush()
            for b in fleet.borrowers:
                s.add(BorrowerRow(id=b.id, tenant=tenant, name=b.name, industry=b.industry))
            s.flush()
            for b in fleet.borrowers:
                for d in b.devices:
                    s.add(
                        DeviceRow(
                            id=d.id,
                            tenant=tenant,
                            borrower_id=b.id,
                            kind=d.kind.value,
                            site_id=d.site,
                            collateral_id=d.collateral,
                            interval_s=d.interval_s,
                        )
                    )

    def tenants(self) -> list[str]:
        """Ids of the registered tenants."""
        with self._session() as s:
            return list(s.scalars(select(TenantRow.id).order_by(TenantRow.id)))

    def fleet(self, tenant: str) -> Fleet:
        """The registered fleet of ``tenant``; `UnknownEntityError` if none."""
        with self._session() as s:
            row = s.get(TenantRow, tenant)
            if row is None:
                raise UnknownEntityError(f"tenant {tenant!r} is not registered")
            return Fleet.model_validate_json(row.fleet_json)

    def fleets(self) -> list[Fleet]:
        """Every registered fleet."""
        return [self.fleet(t) for t in self.tenants()]

    def device_rows(self, tenant: str | None = None) -> list[DeviceRow]:
        """Registered devices, optionally of one tenant, ordered by id."""
        with self._session() as s:
            query = select(DeviceRow).order_by(DeviceRow.tenant, DeviceRow.id)
            if tenant is not None:
                query = query.where(DeviceRow.tenant == tenant)
            rows = list(s.scalars(query))
            s.expunge_all()
            return rows
