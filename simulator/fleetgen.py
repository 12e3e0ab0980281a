"""Generate a plausible, deterministic fleet: borrowers, loans, collateral, sites, devices.

Every borrower gets one loan secured by goods in 1–2 warehouses and by 1–2 vehicles,
plus a production line. Each warehouse has a load cell (bound to its collateral), a
door sensor and a thermometer; the production line a power meter and an output
counter; each vehicle a GPS tracker bound to the vehicle's collateral.

Ids follow one scheme, all valid `devices.model.Id` values: borrower ``b001``, loan
``b001-l1``, collateral ``b001-c1``, sites ``b001-w1`` (warehouse), ``b001-p1``
(production line), ``b001-v1`` (vehicle), devices ``b001-d01``.
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

# industry -> commodities: (description, unit value per tonne low, high)
INDUSTRIES: dict[str, tuple[tuple[str, float, float], ...]] = {
    "metals trading": (
        ("copper cathode", 7800.0, 9500.0),
        ("aluminium ingot", 2100.0, 2600.0),
        ("steel coil", 550.0, 800.0),
    ),
    "agribusiness": (
        ("wheat", 200.0, 300.0),
        ("soybeans", 380.0, 520.0),
        ("raw sugar", 400.0, 560.0),
    ),
    "food processing": (
        ("frozen poultry", 2200.0, 3000.0),
        ("dairy powder", 2800.0, 3600.0),
    ),
    "chemicals": (
        ("polyethylene pellets", 1000.0, 1400.0),
        ("fertiliser", 300.0, 450.0),
    ),
}

WAREHOUSE_INTERVALS: dict[DeviceKind, float] = {
    DeviceKind.LOAD_CELL: 60.0,
    DeviceKind.DOOR: 300.0,
    DeviceKind.TEMPERATURE: 300.0,
}
PRODUCTION_INTERVALS: dict[DeviceKind, float] = {
    DeviceKind.POWER_METER: 300.0,
    DeviceKind.OUTPUT_COUNTER: 300.0,
}
GPS_INTERVAL_S = 60.0


def geofence_polygon(rng: random.Random, centre: Point) -> list[Point]:
    """A convex polygon of 4–6 points around ``centre``, 20–45 km across.

    The vertices lie on a rotated ellipse at evenly spread, jittered angles, so the
    polygon is convex and contains its centre.
    """
    n = rng.randint(4, 6)
    a = rng.uniform(10.0, 22.5)
    b = rng.uniform(10.0, 22.5)
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


def _secret(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _borrower(rng: random.Random, number: int, width: int) -> Borrower:
    bid = f"b{number:0{width}d}"
    region_name, region_centre, tz = rng.choice(REGIONS)
    industry = rng.choice(sorted(INDUSTRIES))
    sites: list[Site] = []
    collateral: list[Collateral] = []
    devices: list[Device] = []

    def add_device(kind: DeviceKind, site: str, interval: float, coll: str | None) -> None:
        devices.append(
            Device(
                id=f"{bid}-d{len(devices) + 1:02d}",
                kind=kind,
                site=site,
                collateral=coll,
                interval_s=interval,
                secret=_secret(rng),
            )
        )

    def add_collateral(desc: str, qty: float, unit: str, value: float, site: str) -> str:
        cid = f"{bid}-c{len(collateral) + 1}"
        collateral.append(
            Collateral(
                id=cid,
                description=desc,
                quantity=qty,
                unit=unit,
                unit_value=value,
                advance_rate=round(rng.uniform(0.5, 0.8), 2),
                site=site,
            )
        )
        return cid

    for w in range(1, rng.randint(1, 2) + 1):
        sid = f"{bid}-w{w}"
        sites.append(
            Site(
                id=sid,
                kind=SiteKind.WAREHOUSE,
                name=f"{region_name} warehouse {w}",
                timezone=tz,
                location=_near(rng, region_centre, 8.0),
            )
        )
        desc, low, high = rng.choice(INDUSTRIES[industry])
        qty = float(rng.randint(200, 2000))
        cid = add_collateral(desc, qty, "t", round(rng.uniform(low, high), 2), sid)
        for kind, interval in WAREHOUSE_INTERVALS.items():
            add_device(kind, sid, interval, cid if kind is DeviceKind.LOAD_CELL else None)

    pid = f"{bid}-p1"
    sites.append(
        Site(
            id=pid,
            kind=SiteKind.PRODUCTION_LINE,
            name=f"{region_name} plant",
            timezone=tz,
            location=_near(rng, region_centre, 10.0),
        )
    )
    for kind, interval in PRODUCTION_INTERVALS.items():
        add_device(kind, pid, interval, None)

    for v in range(1, rng.randint(1, 2) + 1):
        sid = f"{bid}-v{v}"
        centre = _near(rng, region_centre, 5.0)
        sites.append(
            Site(
                id=sid,
                kind=SiteKind.VEHICLE,
                name=f"truck {v}",
                timezone=tz,
                location=centre,
                geofence=geofence_polygon(rng, centre),
            )
        )
        value = float(rng.randrange(40_000, 150_000, 1000))
        cid = add_collateral("heavy goods vehicle", 1.0, "vehicle", value, sid)
        add_device(DeviceKind.GPS_TRACKER, sid, GPS_INTERVAL_S, cid)

    base = sum(c.pledged_value * c.advance_rate for c in collateral)
    principal = max(1000.0, round(base * rng.uniform(0.8, 1.0), -3))
    loan = Loan(id=f"{bid}-l1", principal=principal, collateral=collateral)
    return Borrower(
        id=bid,
        name=f"{region_name} {industry.title()} {number}",
        industry=industry,
        timezone=tz,
        loans=[loan],
        sites=sites,
        devices=devices,
    )


def generate_fleet(borrowers: int, seed: int, tenant: str = "demo-bank") -> Fleet:
    """Build a deterministic fleet of ``borrowers`` borrowers.

    Args:
        borrowers: how many borrowers (about 8 devices each).
        seed: the random seed; the same seed gives the same fleet.
        tenant: the lender's tenant id.

    Returns:
        A validated `Fleet`.
    """
    if borrowers < 0:
        raise ValueError(f"borrowers must be >= 0, got {borrowers}")
    rng = random.Random(seed)
    width = max(3, len(str(borrowers)))
    return Fleet(
        tenant=Tenant(id=tenant, name=tenant),
        borrowers=[_borrower(rng, n, width) for n in range(1, borrowers + 1)],
    )
