"""Generate a plausible, deterministic fleet: borrowers, loans, collateral, sites, devices.

Borrowers differ in region (and so timezone and public holidays), industry, size and
equipment. Each has 1–3 warehouses; each warehouse holds one pledged lot of its
industry's goods (200–2000 t, scaled by the borrower's size) and has a load cell and
an RFID gate counter bound to the lot, a door contact and a thermometer (bound to the
lot when the goods are perishable). Manufacturers run a production line with a power
meter, a machine monitor (current and vibration; device kind ``generic``) and an
output counter. Every borrower has 1–3 vehicles (trucks, delivery vans or wheel
loaders), each with a GPS tracker and a geofence. The lots secure an inventory loan
(``l1``); the vehicles an equipment loan (``l2``). Reporting intervals vary by
borrower.

Ids follow one scheme, all valid `devices.model.Id` values: borrower ``b001``, loans
``b001-l1`` and ``b001-l2``, collateral ``b001-c1``, sites ``b001-w1`` (warehouse),
``b001-p1`` (production line), ``b001-v1`` (vehicle), devices ``b001-d01``.
"""

import math
import random

from devices.model import (
    Borrower,
    Collateral,
    Device,
    DeviceKind,
    Fleet,
    Loan,
    Site,
    SiteKind,
    Tenant,
)
from simulator.catalog import INDUSTRIES, VEHICLES, Commodity, describe
from simulator.geo import Point, to_latlon

# name, (lat, lon), IANA timezone
REGIONS: tuple[tuple[str, Point, str], ...] = (
    ("Rotterdam", (51.92, 4.48), "Europe/Amsterdam"),
    ("Hamburg", (53.55, 9.99), "Europe/Berlin"),
    ("Antwerp", (51.22, 4.40), "Europe/Brussels"),
    ("Lyon", (45.76, 4.84), "Europe/Paris"),
    ("Milan", (45.46, 9.19), "Europe/Rome"),
    ("Valencia", (39.47, -0.38), "Europe/Madrid"),
    ("Gdansk", (54.35, 18.65), "Europe/Warsaw"),
    ("Qingdao", (36.07, 120.38), "Asia/Shanghai"),
    ("Chicago", (41.88, -87.63), "America/Chicago"),
    ("Santos", (-23.96, -46.33), "America/Sao_Paulo"),
    ("Singapore", (1.29, 103.85), "Asia/Singapore"),
    ("Mumbai", (19.08, 72.88), "Asia/Kolkata"),
)

# (kind, radius km low, high) of a vehicle's geofence
FENCE_RADIUS_KM: dict[str, tuple[float, float]] = {
    "truck": (10.0, 22.5),
    "van": (5.0, 10.0),
    "loader": (1.0, 2.5),
}


def geofence_polygon(
    rng: random.Random, centre: Point, radius_km: tuple[float, float] = (10.0, 22.5)
) -> list[Point]:
    """A convex polygon of 4–6 points around ``centre``, its semi-axes in ``radius_km``.

    The vertices lie on a rotated ellipse at evenly spread, jittered angles, so the
    polygon is convex and contains its centre.
    """
    n = rng.randint(4, 6)
    a = rng.uniform(*radius_km)
    b = rng.uniform(*radius_km)
    rot = rng.uniform(0.0, math.pi)
    step = 2 * math.pi / n
    points: list[Point] = []
    for k in range(n):
        theta = k * step + rng.uniform(-0.25, 0.25) * step
        ex, ey = a * math.cos(theta), b * math.sin(theta)
        x = ex * math.cos(rot) - ey * math.sin(rot)
        y = ex * math.sin(rot) + ey * math.cos(rot)
        lat, lon = to_latlon(centre, x, y)
        points.append((round(lat, 6), round(lon, 6)))
    return points


def _near(rng: random.Random, centre: Point, radius_km: float) -> Point:
    lat, lon = to_latlon(
        centre, rng.uniform(-radius_km, radius_km), rng.uniform(-radius_km, radius_km)
    )
    return (round(lat, 6), round(lon, 6))


MAX_LOAD_CELLS = 8


def parse_load_cells(text: str) -> tuple[int, int] | None:
    """``"4"`` → (4, 4), ``"1-8"`` → (1, 8); None unless 1 <= fewest <= most <= 8."""
    low, _, high = text.strip().partition("-")
    if not low.isdigit() or not (high or low).isdigit():
        return None
    fewest, most = int(low), int(high or low)
    return (fewest, most) if 1 <= fewest <= most <= MAX_LOAD_CELLS else None


class _Builder:
    """Accumulates one borrower's sites, collateral and devices."""

    def __init__(self, rng: random.Random, bid: str) -> None:
        self.rng = rng
        self.bid = bid
        self.sites: list[Site] = []
        self.lots: list[Collateral] = []
        self.vehicles: list[Collateral] = []
        self.devices: list[Device] = []

    def device(self, kind: DeviceKind, site: str, interval: float, coll: str | None) -> None:
        self.devices.append(
            Device(
                id=f"{self.bid}-d{len(self.devices) + 1:02d}",
                kind=kind,
                site=site,
                collateral=coll,
                interval_s=interval,
                secret=f"{self.rng.getrandbits(128):032x}",
            )
        )

    def collateral(
        self,
        desc: str,
        qty: float,
        unit: str,
        value: float,
        site: str,
        vehicle: bool,
        goods: Commodity | None = None,
    ) -> str:
        cid = f"{self.bid}-c{len(self.lots) + len(self.vehicles) + 1}"
        item = Collateral(
            id=cid,
            description=desc,
            quantity=qty,
            unit=unit,
            unit_value=value,
            advance_rate=round(self.rng.uniform(0.5, 0.8), 2),
            site=site,
            handling_unit_kg=goods.unit_kg if goods is not None else None,
            temperature_band_c=goods.band_c if goods is not None else None,
        )
        (self.vehicles if vehicle else self.lots).append(item)
        return cid


def _borrower(
    rng: random.Random, number: int, width: int, seed: int, cells: tuple[int, int]
) -> Borrower:
    bid = f"b{number:0{width}d}"
    region_name, region_centre, tz = rng.choice(REGIONS)
    kind = INDUSTRIES[rng.choice(sorted(INDUSTRIES))]
    size = math.exp(rng.gauss(0.0, 0.5))
    weigh_every = float(rng.choice((30, 60, 60, 120)))
    count_every = float(rng.choice((300, 600)))
    gps_every = float(rng.choice((30, 60, 60, 120)))
    b = _Builder(rng, bid)

    for w in range(1, rng.choices((1, 2, 3), weights=(50, 35, 15))[0] + 1):
        sid = f"{bid}-w{w}"
        b.sites.append(
            Site(
                id=sid,
                kind=SiteKind.WAREHOUSE,
                name=f"{region_name} warehouse {w}",
                timezone=tz,
                location=_near(rng, region_centre, 8.0),
            )
        )
        goods = rng.choice(kind.commodities)
        tonnes = max(10 * goods.unit_kg / 1000, min(2000.0, rng.uniform(200, 2000) * size))
        value = round(rng.uniform(goods.value_low, goods.value_high), 2)
        cid = b.collateral(describe(goods), float(round(tonnes)), "t", value, sid, False, goods)
        perishable = goods.band_c is not None
        # the cell count has its own generator: fleets of one cell per lot stay as they were
        low, high = cells
        n_cells = low if high <= low else random.Random(f"{seed}:{sid}:cells").randint(low, high)
        for _ in range(n_cells):
            b.device(DeviceKind.LOAD_CELL, sid, weigh_every, cid)
        b.device(DeviceKind.RFID_GATE, sid, count_every, cid)
        b.device(DeviceKind.DOOR, sid, 300.0, None)
        b.device(
            DeviceKind.TEMPERATURE, sid, 120.0 if perishable else 300.0, cid if perishable else None
        )

    if rng.random() < kind.production_share:
        pid = f"{bid}-p1"
        b.sites.append(
            Site(
                id=pid,
                kind=SiteKind.PRODUCTION_LINE,
                name=f"{region_name} plant",
                timezone=tz,
                location=_near(rng, region_centre, 10.0),
            )
        )
        b.device(DeviceKind.POWER_METER, pid, float(rng.choice((60, 300))), None)
        b.device(DeviceKind.GENERIC, pid, 60.0, None)
        b.device(DeviceKind.OUTPUT_COUNTER, pid, 300.0, None)

    for v in range(1, rng.choices((1, 2, 3), weights=(45, 40, 15))[0] + 1):
        sid = f"{bid}-v{v}"
        vkind = rng.choice(kind.vehicles)
        vehicle = VEHICLES[vkind]
        centre = _near(rng, region_centre, 5.0)
        b.sites.append(
            Site(
                id=sid,
                kind=SiteKind.VEHICLE,
                name=f"{vehicle.description} {v}",
                timezone=tz,
                location=centre,
                geofence=geofence_polygon(rng, centre, FENCE_RADIUS_KM[vkind]),
            )
        )
        value = float(rng.randrange(int(vehicle.value_low), int(vehicle.value_high), 1000))
        cid = b.collateral(vehicle.description, 1.0, "vehicle", value, sid, True)
        b.device(DeviceKind.GPS_TRACKER, sid, gps_every, cid)

    loans = [_loan(rng, f"{bid}-l1", b.lots)]
    if b.vehicles:
        loans.append(_loan(rng, f"{bid}-l2", b.vehicles))
    return Borrower(
        id=bid,
        name=f"{region_name} {kind.name.title()} {number}",
        industry=kind.name,
        timezone=tz,
        loans=loans,
        sites=b.sites,
        devices=b.devices,
    )


def _loan(rng: random.Random, loan_id: str, collateral: list[Collateral]) -> Loan:
    base = sum(c.pledged_value * c.advance_rate for c in collateral)
    principal = max(1000.0, round(base * rng.uniform(0.8, 1.0), -3))
    return Loan(id=loan_id, principal=principal, collateral=collateral)


def generate_fleet(
    borrowers: int, seed: int, tenant: str = "demo-bank", load_cells: tuple[int, int] = (1, 1)
) -> Fleet:
    """Build a deterministic fleet of ``borrowers`` borrowers.

    Args:
        borrowers: how many borrowers (about 11 devices each).
        seed: the random seed; the same seed gives the same fleet.
        tenant: the lender's tenant id.
        load_cells: (fewest, most) load cells weighing each warehouse lot, 1–8; the
            count is drawn per lot.

    Returns:
        A validated `Fleet`.
    """
    if borrowers < 0:
        raise ValueError(f"borrowers must be >= 0, got {borrowers}")
    if not 1 <= load_cells[0] <= load_cells[1] <= MAX_LOAD_CELLS:
        raise ValueError(f"load_cells must be 1 <= fewest <= most <= 8, got {load_cells}")
    rng = random.Random(seed)
    width = max(3, len(str(borrowers)))
    return Fleet(
        tenant=Tenant(id=tenant, name=tenant),
        borrowers=[_borrower(rng, n, width, seed, load_cells) for n in range(1, borrowers + 1)],
    )
