"""``cross_pledge``: the same goods pledged to two lenders of one platform.

A borrower of the first lender pledges a warehouse lot to a second lender too (as in
the 2014 Qingdao port fraud): the second lender registers a borrower of its own, with its
own ids, a loan against a lot of the same goods at a site within `MAX_OFFSET_M` metres
of the real one (the address as written up at the second lender), weighed by the same
load cells (the same makers' serials), whose gateway reports to both lenders: the second
lender's telemetry is the first's, under its own device ids. Every device of the first
fleet gets a maker's serial, and the twice-pledged lots an RFID tag set that both
lenders register.

Decoys, which must not be flagged: for each twice-pledged lot the second lender also has
a borrower whose warehouse lies within `MAX_OFFSET_M` of another lot of the first lender
(the same place only, other devices) and whose cells report the telemetry of a third
lot (the same weight changes only, other serials and place): one fact each, never two.

Ground truth: one ``cross_pledge`` record per lender and twice-pledged lot, over the whole
run (the goods are pledged twice from the start). The same seed gives the same fleets.
"""

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from devices.model import Borrower, Collateral, Device, DeviceKind, Fleet, Loan, Site, SiteKind
from devices.truth import TruthRecord
from simulator.errors import FleetError
from simulator.message import Message

SCENARIO = "cross_pledge"
MAX_OFFSET_M = 30.0
TAGS_PER_LOT = 48
_M_PER_DEG = 111_320.0


@dataclass(frozen=True, slots=True)
class CrossPledge:
    """Two lenders' fleets sharing some goods, and what the second lender's devices echo.

    Attributes:
        first: the first lender's fleet, its devices given serials, the twice-pledged
            lots RFID tags.
        second: the second lender's fleet: twins and decoys.
        echoes: first lender's device id → the second lender's device ids reporting its
            telemetry.
        lots: the first lender's twice-pledged lot ids.
    """

    first: Fleet
    second: Fleet
    echoes: dict[str, tuple[str, ...]]
    lots: tuple[str, ...]


def _lots(fleet: Fleet) -> list[tuple[Borrower, Loan, Collateral, Site, list[Device]]]:
    """Warehouse lots with a location and load cells, in fleet order."""
    found = []
    for b in fleet.borrowers:
        sites = {s.id: s for s in b.sites}
        for loan in b.loans:
            for c in loan.collateral:
                site = sites[c.site]
                cells = [
                    d for d in b.devices if d.collateral == c.id and d.kind is DeviceKind.LOAD_CELL
                ]
                if site.kind is SiteKind.WAREHOUSE and site.location is not None and cells:
                    found.append((b, loan, c, site, cells))
    return found


def _near(rng: random.Random, place: tuple[float, float]) -> tuple[float, float]:
    bearing, metres = rng.uniform(0, 2 * math.pi), rng.uniform(2.0, MAX_OFFSET_M)
    lat = place[0] + metres * math.cos(bearing) / _M_PER_DEG
    lon = place[1] + metres * math.sin(bearing) / (_M_PER_DEG * math.cos(math.radians(place[0])))
    return (round(lat, 6), round(lon, 6))


def pledge_twice(fleet: Fleet, tenant: str, lots: int, seed: int) -> CrossPledge:
    """Let ``lots`` warehouse lots of ``fleet`` be pledged to lender ``tenant`` too.

    Raises:
        FleetError: ``tenant`` is the fleet's own, or the fleet has too few located
            warehouse lots with load cells (each twin needs two more for its decoy).
    """
    if tenant == fleet.tenant.id:
        raise FleetError("tenant.id", f"the second lender must differ from the fleet's ({tenant})")
    rng = random.Random(f"{SCENARIO}:{seed}")
    candidates = _lots(fleet)
    if lots < 1 or len(candidates) < 3 * lots:
        raise FleetError(
            "borrowers",
            f"{lots} twice-pledged lots need {3 * lots} located warehouse lots with load "
            f"cells; the fleet has {len(candidates)}",
        )
    picked = rng.sample(range(len(candidates)), 3 * lots)
    twins, places, moves = picked[:lots], picked[lots : 2 * lots], picked[2 * lots :]
    serial_of = {d.id: f"SN-{rng.getrandbits(48):012X}" for b in fleet.borrowers for d in b.devices}
    tags_of = {
        candidates[i][2].id: [f"E280{rng.getrandbits(80):020X}" for _ in range(TAGS_PER_LOT)]
        for i in twins
    }
    first = _with_serials_and_tags(fleet, serial_of, tags_of)
    borrowers: list[Borrower] = []
    echoes: dict[str, list[str]] = {}
    for n, (twin, place, move) in enumerate(zip(twins, places, moves, strict=True), start=1):
        _, _, lot, site, cells = candidates[twin]
        borrowers.append(
            _borrower(f"x{n:03d}", lot, _near(rng, site.location or (0, 0)), cells, serial_of)
        )
        for cell, copy in zip(cells, borrowers[-1].devices, strict=True):
            echoes.setdefault(cell.id, []).append(copy.id)
        # a decoy: at the place of one lot, the weight changes of another
        _, _, placed_lot, placed_site, _ = candidates[place]
        _, _, _, _, moving_cells = candidates[move]
        decoy_serials = {d.id: f"SN-{rng.getrandbits(48):012X}" for d in moving_cells}
        decoy = _borrower(
            f"y{n:03d}",
            placed_lot,
            _near(rng, placed_site.location or (0, 0)),
            moving_cells,
            decoy_serials,
        )
        borrowers.append(decoy)
        for cell, copy in zip(moving_cells, decoy.devices, strict=True):
            echoes.setdefault(cell.id, []).append(copy.id)
    second = Fleet.model_validate(
        {"tenant": {"id": tenant, "name": tenant}, "borrowers": [b.model_dump() for b in borrowers]}
    )
    return CrossPledge(
        first,
        second,
        {k: tuple(v) for k, v in echoes.items()},
        tuple(candidates[i][2].id for i in twins),
    )


def _with_serials_and_tags(
    fleet: Fleet, serial_of: dict[str, str], tags_of: dict[str, list[str]]
) -> Fleet:
    data = fleet.model_dump()
    for b in data["borrowers"]:
        for d in b["devices"]:
            d["serial"] = serial_of[d["id"]]
        for loan in b["loans"]:
            for c in loan["collateral"]:
                if c["id"] in tags_of:
                    c["rfid_tags"] = tags_of[c["id"]]
    return Fleet.model_validate(data)


def _borrower(
    bid: str,
    lot: Collateral,
    place: tuple[float, float],
    cells: list[Device],
    serial_of: dict[str, str],
) -> Borrower:
    """The second lender's borrower of a lot like ``lot`` at ``place``, weighed by cells
    with the serials ``serial_of`` gives ``cells``."""
    site = Site(id=f"{bid}-w1", kind=SiteKind.WAREHOUSE, timezone="UTC", location=place)
    copy = lot.model_copy(update={"id": f"{bid}-c1", "site": site.id})
    principal = max(1000.0, round(copy.pledged_value * copy.advance_rate * 0.9, -3))
    devices = [
        Device(
            id=f"{bid}-d{k}",
            kind=DeviceKind.LOAD_CELL,
            site=site.id,
            collateral=copy.id,
            interval_s=cell.interval_s,
            serial=serial_of[cell.id],
        )
        for k, cell in enumerate(cells, start=1)
    ]
    loan = Loan(id=f"{bid}-l1", principal=principal, collateral=[copy])
    return Borrower(id=bid, name=f"Borrower {bid}", loans=[loan], sites=[site], devices=devices)


def truth(pledge: CrossPledge, start: float, end: float) -> list[TruthRecord]:
    """One ``cross_pledge`` record per lender and twice-pledged lot."""
    records = []
    for fleet, lot_ids in (
        (pledge.first, set(pledge.lots)),
        (pledge.second, {f"{b.id}-c1" for b in pledge.second.borrowers if b.id.startswith("x")}),
    ):
        for b in fleet.borrowers:
            for loan in b.loans:
                for c in loan.collateral:
                    if c.id in lot_ids:
                        cell = next(d.id for d in b.devices if d.collateral == c.id)
                        records.append(
                            TruthRecord(
                                SCENARIO,
                                fleet.tenant.id,
                                b.id,
                                c.id,
                                c.site,
                                cell,
                                start,
                                end,
                                loan_id=loan.id,
                            )
                        )
    return records


def both_lenders(messages: Iterable[Message], pledge: CrossPledge) -> Iterator[tuple[str, Message]]:
    """The first lender's messages, each followed by its echoes at the second lender."""
    first, second = pledge.first.tenant.id, pledge.second.tenant.id
    for m in messages:
        yield first, m
        for copy in pledge.echoes.get(m.device_id, ()):
            yield second, Message(m.ts, copy, m.seq, m.values, m.kind)
