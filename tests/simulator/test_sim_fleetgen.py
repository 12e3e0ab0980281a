"""Fleet generation: deterministic, valid, with the id scheme and devices the brief names."""

import re
from collections import Counter
from pathlib import Path

from devices.fleet_file import dump_fleet, load_fleet, save_fleet
from devices.model import DeviceKind, Fleet, SiteKind
from simulator.fleetgen import generate_fleet
from simulator.geo import point_in_polygon

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def test_same_seed_gives_identical_yaml() -> None:
    assert dump_fleet(generate_fleet(5, seed=3)) == dump_fleet(generate_fleet(5, seed=3))
    assert dump_fleet(generate_fleet(5, seed=3)) != dump_fleet(generate_fleet(5, seed=4))


def test_fleet_validates_and_round_trips(tmp_path: Path) -> None:
    fleet = generate_fleet(20, seed=1, tenant="acme-bank")
    assert Fleet.model_validate(fleet.model_dump()) == fleet
    save_fleet(fleet, tmp_path / "fleet.yaml")
    assert load_fleet(tmp_path / "fleet.yaml") == fleet
    assert fleet.tenant.id == "acme-bank"
    assert 150 <= len(fleet.devices()) <= 210


def test_id_scheme_and_devices_per_borrower() -> None:
    fleet = generate_fleet(20, seed=2)
    for n, b in enumerate(fleet.borrowers, start=1):
        assert b.id == f"b{n:03d}"
        assert b.industry
        assert b.timezone != "UTC"
        assert [loan.id for loan in b.loans] == [f"{b.id}-l1"]
        coll = {c.id: c for c in b.loans[0].collateral}
        sites = {s.id: s for s in b.sites}
        ids = [b.id, *coll, *sites, *(d.id for d in b.devices)]
        assert all(ID.match(i) for i in ids)
        assert all(re.fullmatch(rf"{b.id}-d\d\d", d.id) for d in b.devices)
        kinds = Counter(s.kind for s in b.sites)
        assert 1 <= kinds[SiteKind.WAREHOUSE] <= 2
        assert kinds[SiteKind.PRODUCTION_LINE] == 1
        assert 1 <= kinds[SiteKind.VEHICLE] <= 2
        devs = Counter(d.kind for d in b.devices)
        assert devs[DeviceKind.LOAD_CELL] == devs[DeviceKind.DOOR] == kinds[SiteKind.WAREHOUSE]
        assert devs[DeviceKind.TEMPERATURE] == kinds[SiteKind.WAREHOUSE]
        assert devs[DeviceKind.POWER_METER] == devs[DeviceKind.OUTPUT_COUNTER] == 1
        assert devs[DeviceKind.GPS_TRACKER] == kinds[SiteKind.VEHICLE]
        for d in b.devices:
            assert d.secret is not None
            assert re.fullmatch(r"[0-9a-f]{32}", d.secret)
            expected = 60.0 if d.kind in (DeviceKind.LOAD_CELL, DeviceKind.GPS_TRACKER) else 300.0
            assert d.interval_s == expected
            if d.kind in (DeviceKind.LOAD_CELL, DeviceKind.GPS_TRACKER):
                assert d.collateral is not None
                assert coll[d.collateral].site == d.site
        for c in coll.values():
            site = sites[c.site]
            if site.kind is SiteKind.WAREHOUSE:
                assert c.unit == "t"
                assert 200 <= c.quantity <= 2000
            else:
                assert site.kind is SiteKind.VEHICLE
                assert (c.unit, c.quantity) == ("vehicle", 1.0)
            assert 0.5 <= c.advance_rate <= 0.8
        for s in sites.values():
            if s.kind is SiteKind.VEHICLE:
                assert s.geofence is not None
                assert s.location is not None
                assert 4 <= len(s.geofence) <= 6
                assert point_in_polygon(*s.location, s.geofence)
