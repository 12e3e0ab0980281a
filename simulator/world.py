"""Build the signal models of a fleet, with what they share (ledgers, plants, profiles).

One `LoadCellModel` and one `RfidGateModel` watching the same lot read one `Ledger`;
the devices of one production line read one `Plant`; all devices of a borrower follow
its `BusinessProfile`. A fleet that validates but cannot be played (an unknown
timezone, a GPS tracker on a site without geofence, a load cell weighing goods counted
in pieces) raises `FleetError` naming the field.
"""

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devices.model import KG_PER_UNIT, Borrower, Collateral, Device, DeviceKind, Fleet, Site
from simulator.business import BusinessProfile, business_profile
from simulator.catalog import DEFAULT_UNIT_KG, VEHICLES, Band, lot_properties
from simulator.errors import FleetError
from simulator.faults import DeviceFaults
from simulator.production import MachineModel, OutputModel, Plant, PowerModel
from simulator.signals import DeviceModel, DoorModel, TemperatureModel
from simulator.vehicle import GpsModel
from simulator.warehouse import CellSpec, Ledger, LoadCellModel, RfidGateModel, cell_shares

UNBOUND_STOCK_KG = 100_000.0  # what a load cell bound to no collateral weighs


@dataclass
class World:
    """Every device model of a fleet and the state they share.

    Attributes:
        models: one per device, in fleet order.
        by_id: models by device id.
        faults: glitch and integrity state by device id.
        ledgers: stock ledgers by collateral id (or device id for unbound devices).
        plants: production activity by site id.
        doors: door models by site id.
        seed: the signals' seed.
    """

    models: list[DeviceModel]
    by_id: dict[str, DeviceModel]
    faults: dict[str, DeviceFaults]
    seed: int
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    plants: dict[str, Plant] = field(default_factory=dict)
    doors: dict[str, DoorModel] = field(default_factory=dict)


def _check_timezone(name: str, where: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FleetError(where, f"unknown timezone {name!r} (use an IANA name)") from None


class _BorrowerModels:
    """Builds the models of one borrower into a `World`."""

    def __init__(self, world: World, borrower: Borrower, index: int) -> None:
        self.world = world
        self.b = borrower
        self.where = f"borrowers.{index}"
        self.profile: BusinessProfile = business_profile(borrower, world.seed)
        self.sites: dict[str, Site] = {s.id: s for s in borrower.sites}
        self.collateral: dict[str, Collateral] = {
            c.id: c for loan in borrower.loans for c in loan.collateral
        }
        _check_timezone(borrower.timezone, f"{self.where}.timezone")
        for k, s in enumerate(borrower.sites):
            _check_timezone(s.timezone, f"{self.where}.sites.{k}.timezone")

    def timezone(self, site: Site) -> str:
        return site.timezone if site.timezone != "UTC" else self.b.timezone

    def ledger(self, device: Device, j: int, coll: Collateral | None) -> Ledger:
        key = coll.id if coll is not None else device.id
        found = self.world.ledgers.get(key)
        if found is not None:
            return found
        site = self.sites[device.site]
        if coll is None:
            pledge_kg, unit_kg = UNBOUND_STOCK_KG, DEFAULT_UNIT_KG
        else:
            per_unit = KG_PER_UNIT.get(coll.unit)
            if per_unit is None:
                raise FleetError(
                    f"{self.where}.devices.{j}.collateral",
                    f"{device.kind} {device.id} watches collateral {coll.id} counted in "
                    f"{coll.unit!r}, not in a mass unit ({', '.join(KG_PER_UNIT)})",
                )
            pledge_kg = coll.quantity * per_unit
            unit_kg = lot_properties(coll)[0]
        made = Ledger(key, pledge_kg, unit_kg, self.profile, self.timezone(site), self.world.seed)
        self.world.ledgers[key] = made
        return made

    def cell(self, device: Device) -> CellSpec:
        """The share and noise of a load cell among the cells weighing its lot."""
        if device.collateral is None:
            return CellSpec()
        cells = [
            d.id
            for d in self.b.devices
            if d.kind is DeviceKind.LOAD_CELL and d.collateral == device.collateral
        ]
        if len(cells) <= 1:
            return CellSpec()
        specs = cell_shares(device.collateral, len(cells), self.world.seed)
        return specs[cells.index(device.id)]

    def lot_at(self, site_id: str) -> Collateral | None:
        for c in self.collateral.values():
            if c.site == site_id and c.unit in KG_PER_UNIT:
                return c
        return None

    def band_at(self, device: Device) -> Band | None:
        bound = self.collateral.get(device.collateral or "")
        lots = [bound] if bound is not None else []
        lots += [c for c in self.collateral.values() if c.site == device.site]
        for c in lots:
            band = lot_properties(c)[1]
            if band is not None:
                return band
        return None

    def plant(self, site: Site) -> Plant:
        found = self.world.plants.get(site.id)
        if found is None:
            found = Plant(site.id, self.profile, self.timezone(site), self.world.seed)
            self.world.plants[site.id] = found
        return found

    def model(self, device: Device, j: int) -> DeviceModel:
        site = self.sites[device.site]
        args = (device.id, device.interval_s, self.timezone(site), self.world.seed)
        kind = device.kind
        coll = self.collateral.get(device.collateral or "")
        if kind is DeviceKind.LOAD_CELL:
            return LoadCellModel(*args, ledger=self.ledger(device, j, coll), cell=self.cell(device))
        if kind is DeviceKind.RFID_GATE:
            lot = coll or self.lot_at(site.id)
            return RfidGateModel(*args, ledger=self.ledger(device, j, lot))
        if kind is DeviceKind.DOOR:
            door = DoorModel(*args, profile=self.profile)
            self.world.doors.setdefault(site.id, door)
            return door
        if kind is DeviceKind.TEMPERATURE:
            return TemperatureModel(*args, band=self.band_at(device))
        if kind is DeviceKind.POWER_METER:
            return PowerModel(*args, plant=self.plant(site))
        if kind is DeviceKind.OUTPUT_COUNTER:
            return OutputModel(*args, plant=self.plant(site))
        if kind is DeviceKind.GPS_TRACKER:
            if site.geofence is None:
                raise FleetError(
                    f"{self.where}.devices.{j}.site",
                    f"gps tracker {device.id} is on site {site.id}, which has no geofence",
                )
            label = f"{coll.description if coll else ''} {site.name}"
            vehicle = next((v for v in VEHICLES.values() if v.description in label), None)
            return GpsModel(
                *args,
                geofence=site.geofence,
                centre=site.location,
                profile=self.profile,
                kind=vehicle,
            )
        return MachineModel(*args, plant=self.plant(site))


def build_world(fleet: Fleet, seed: int, start_ts: float, glitches: bool = True) -> World:
    """Signal models for every device of ``fleet``, before any scenario is applied.

    Raises:
        FleetError: the fleet cannot be simulated; names the field.
    """
    world = World([], {}, {}, seed)
    for i, borrower in enumerate(fleet.borrowers):
        builder = _BorrowerModels(world, borrower, i)
        for j, device in enumerate(borrower.devices):
            model = builder.model(device, j)
            world.models.append(model)
            world.by_id[device.id] = model
            world.faults[device.id] = DeviceFaults(device.id, seed, start_ts, glitches)
    return world
