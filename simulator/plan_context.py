"""Planning ground: a fleet indexed for scenario planning, and local-time slots.

`PlanContext` indexes a fleet once (lots with the devices that watch them, sites,
timezones, loans) and knows the run's window; `find_slot` finds a random time in a
window of local hours ("night" is 22:00–04:00, which no borrower's business hours
reach).
"""

import random
from dataclasses import dataclass

from devices.model import (
    KG_PER_UNIT,
    Borrower,
    Collateral,
    Device,
    DeviceKind,
    Fleet,
    Site,
    SiteKind,
)
from simulator.catalog import DEFAULT_HOLIDAYS, HOLIDAYS, Band, lot_properties
from simulator.clock import LocalDay

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Subject:
    """What a scenario acts on; ids that do not apply are None."""

    collateral_id: str | None
    site_id: str | None
    device_id: str | None
    loan_id: str | None = None
    counterpart_device_id: str | None = None


@dataclass(frozen=True, slots=True)
class Lot:
    """A pledged lot kept at a warehouse, with the devices that watch it."""

    borrower_id: str
    loan_id: str
    collateral: Collateral
    unit_kg: float
    band: Band | None
    site: Site
    timezone: str
    load_cell: str | None
    gate: str | None
    door: str | None
    thermometer: str | None
    cells: tuple[str, ...] = ()


def _timezone(borrower: Borrower, site: Site) -> str:
    return site.timezone if site.timezone != "UTC" else borrower.timezone


def _first(devices: list[Device], kind: DeviceKind, collateral_id: str) -> str | None:
    """The first device of ``kind`` bound to the collateral, else the first unbound one."""
    bound = [d.id for d in devices if d.kind is kind and d.collateral == collateral_id]
    loose = [d.id for d in devices if d.kind is kind and d.collateral is None]
    return bound[0] if bound else loose[0] if loose else None


class PlanContext:
    """A fleet indexed for planning, and the run's window."""

    def __init__(self, fleet: Fleet, start_ts: float, end_ts: float) -> None:
        """Index ``fleet`` for a run over [start_ts, end_ts)."""
        self.fleet = fleet
        self.start = start_ts
        self.end = end_ts
        self.window = end_ts - start_ts
        self.borrowers = {b.id: b for b in fleet.borrowers}
        self.lots: dict[str, list[Lot]] = {}
        self.unit_owners: dict[float, set[str]] = {}
        self.sites: dict[str, Site] = {}
        self.timezones: dict[str, str] = {}
        self.loan_of: dict[str, str] = {}
        self.busy: set[str] = set()  # borrowers already hit; a counterpart avoids them
        for b in fleet.borrowers:
            for loan in b.loans:
                self.loan_of.update((c.id, loan.id) for c in loan.collateral)
            sites = {s.id: s for s in b.sites}
            self.sites.update(sites)
            for s in b.sites:
                self.timezones[s.id] = _timezone(b, s)
            lots: list[Lot] = []
            for loan in b.loans:
                for c in loan.collateral:
                    site = sites[c.site]
                    if site.kind is SiteKind.VEHICLE or c.unit not in KG_PER_UNIT:
                        continue
                    unit_kg, band = lot_properties(c)
                    at = [d for d in b.devices if d.site == site.id]

                    lots.append(
                        Lot(
                            b.id,
                            loan.id,
                            c,
                            unit_kg,
                            band,
                            site,
                            self.timezones[site.id],
                            _first(at, DeviceKind.LOAD_CELL, c.id),
                            _first(at, DeviceKind.RFID_GATE, c.id),
                            _first(at, DeviceKind.DOOR, c.id),
                            _first(at, DeviceKind.TEMPERATURE, c.id),
                            tuple(
                                d.id
                                for d in at
                                if d.kind is DeviceKind.LOAD_CELL and d.collateral == c.id
                            ),
                        )
                    )
            self.lots[b.id] = lots
            for lot in lots:
                if lot.load_cell is not None:
                    self.unit_owners.setdefault(lot.unit_kg, set()).add(b.id)

    def anytime(self, rng: random.Random) -> float:
        """A start 10–40 % into the window."""
        return self.start + self.window * rng.uniform(0.1, 0.4)

    def slot(
        self,
        rng: random.Random,
        timezone: str,
        hours: tuple[float, float],
        latest: float,
        weekdays: frozenset[int] | None = None,
    ) -> float | None:
        """A random time in the first local ``hours`` window from 10–40 % into the run.

        Falls back to the first such window of the run; None if none starts by ``latest``.
        """
        for after in (self.anytime(rng), self.start + 0.05 * self.window):
            found = find_slot(rng, after, latest, timezone, hours, weekdays)
            if found is not None:
                return found
        return None


def find_slot(
    rng: random.Random,
    after: float,
    before: float,
    timezone: str,
    hours: tuple[float, float],
    weekdays: frozenset[int] | None = None,
) -> float | None:
    """A random time in [after, before) within local ``hours`` of the first fitting day.

    ``hours`` may run past 24 (``(22, 28)`` is 22:00 to 04:00 the next day); with
    ``weekdays`` the day must be one of them and no public holiday.
    """
    if before <= after:
        return None
    holidays = set(HOLIDAYS.get(timezone, DEFAULT_HOLIDAYS))
    day = LocalDay(timezone)
    day.roll(after)
    day.roll(day.start - 1.0)
    while day.start < before:
        ok = weekdays is None or (day.weekday in weekdays and (day.month, day.mday) not in holidays)
        low = max(after, day.start + hours[0] * HOUR)
        high = min(before, day.start + hours[1] * HOUR)
        if ok and low < high:
            return rng.uniform(low, high)
        day.roll(day.end)
    return None
