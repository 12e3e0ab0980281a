"""Lookups the engine needs on the hot path, built once from the registered fleets."""

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devices.model import (
    KG_PER_UNIT,
    Borrower,
    Collateral,
    DeviceKind,
    Fleet,
    LatLon,
    Loan,
    SiteKind,
)


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """Who and what a device speaks for."""

    tenant: str
    borrower_id: str
    device_id: str
    kind: DeviceKind
    site_id: str
    interval_s: float
    loan_id: str | None
    collateral_id: str | None


@dataclass(frozen=True, slots=True)
class SiteContext:
    """A site as the detectors read it: its fleet record's fields, without the pydantic
    record (whose per-object bookkeeping made sites a seventh of the engine's state)."""

    id: str
    kind: SiteKind
    name: str
    timezone: str
    location: LatLon | None
    geofence: list[LatLon] | None


@dataclass(frozen=True, slots=True)
class CollateralContext:
    """A pledged lot with its loan, and the load cells weighing it."""

    tenant: str
    borrower_id: str
    loan_id: str
    collateral: Collateral
    load_cells: tuple[str, ...]
    kg_per_unit: float | None


class FleetIndex:
    """Device, collateral and site lookups across every tenant's fleet."""

    def __init__(self, fleets: Iterable[Fleet]) -> None:
        self.devices: dict[str, DeviceContext] = {}
        self.collateral: dict[str, CollateralContext] = {}
        self.sites: dict[str, SiteContext] = {}
        self.borrowers: dict[str, str] = {}
        # a borrower's record without its devices and sites (each is a `DeviceContext` or
        # `SiteContext` here): the devices' pydantic records, secrets included, were a
        # third of the engine's state; what the records are read for is kept instead
        self.borrower_records: dict[str, Borrower] = {}
        self.device_kinds: dict[str, frozenset[DeviceKind]] = {}
        self.site_kinds: dict[str, frozenset[SiteKind]] = {}
        self.serials: dict[str, str] = {}  # device id → its maker's serial, where registered
        self.loans: dict[str, Loan] = {}
        self.loans_of: dict[str, tuple[str, ...]] = {}
        self.lots_at: dict[str, tuple[str, ...]] = {}
        self._zones: dict[str, ZoneInfo] = {}
        for fleet in fleets:
            tenant = fleet.tenant.id
            for borrower in fleet.borrowers:
                self.borrowers[borrower.id] = tenant
                self.borrower_records[borrower.id] = borrower.model_copy(
                    update={"devices": [], "sites": []}
                )
                self.device_kinds[borrower.id] = frozenset(d.kind for d in borrower.devices)
                self.site_kinds[borrower.id] = frozenset(s.kind for s in borrower.sites)
                loan_of = {c.id: loan.id for loan in borrower.loans for c in loan.collateral}
                first_loan = borrower.loans[0].id if borrower.loans else None
                for site in borrower.sites:
                    self.sites[site.id] = SiteContext(
                        site.id, site.kind, site.name, site.timezone, site.location, site.geofence
                    )
                for device in borrower.devices:
                    loan_id = loan_of.get(device.collateral or "", first_loan)
                    # interned: readings whose ids are interned too are matched by identity
                    device_id = sys.intern(device.id)
                    if device.serial is not None:
                        self.serials[device_id] = device.serial
                    self.devices[device_id] = DeviceContext(
                        tenant=tenant,
                        borrower_id=borrower.id,
                        device_id=device_id,
                        kind=device.kind,
                        site_id=device.site,
                        interval_s=device.interval_s,
                        loan_id=loan_id,
                        collateral_id=device.collateral,
                    )
                self.loans_of[borrower.id] = tuple(loan.id for loan in borrower.loans)
                for loan in borrower.loans:
                    self.loans[loan.id] = loan
                    for c in loan.collateral:
                        self.lots_at[c.site] = (*self.lots_at.get(c.site, ()), c.id)
                        cells = tuple(
                            d.id
                            for d in borrower.devices
                            if d.collateral == c.id and d.kind is DeviceKind.LOAD_CELL
                        )
                        self.collateral[c.id] = CollateralContext(
                            tenant, borrower.id, loan.id, c, cells, KG_PER_UNIT.get(c.unit)
                        )

    def known_devices(self) -> set[tuple[str, str]]:
        """(tenant, device_id) of every registered device."""
        return {(d.tenant, d.device_id) for d in self.devices.values()}

    def zone(self, site_id: str) -> ZoneInfo:
        """The site's timezone, for local hours (UTC for an unknown site or zone name)."""
        zone = self._zones.get(site_id)
        if zone is None:
            site = self.sites.get(site_id)
            try:
                zone = ZoneInfo(site.timezone if site is not None else "UTC")
            except ZoneInfoNotFoundError:
                zone = ZoneInfo("UTC")
            self._zones[site_id] = zone
        return zone
