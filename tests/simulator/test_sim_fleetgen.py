"""Fleet generation: deterministic, valid, varied, with the id scheme and devices the issue names."""

import re
from collections import Counter
from pathlib import Path

from devices.fleet_file import dump_fleet, load_fleet, save_fleet
from devices.model import KG_PER_UNIT, DeviceKind, Fleet, SiteKind
from simulator.catalog import DEFAULT_UNIT_KG, FROZEN_BAND, parse_description
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
    assert 150 <= len(fleet.devices()) <= 300


def test_id_scheme_sites_and_devices_per_borrower() -> None:
    fleet = generate_fleet(30, seed=2)
    for n, b in enumerate(fleet.borrowers, start=1):
        assert b.id == f"b{n:03d}"
        assert b.industry
        assert b.timezone != "UTC"
        coll = {c.id: c for loan in b.loans for c in loan.collateral}
        sites = {s.id: s for s in b.sites}
        ids = [b.id, *(ln.id for ln in b.loans), *coll, *sites, *(d.id for d in b.devices)]
        assert all(ID.match(i) for i in ids)
        assert all(re.fullmatch(rf"{b.id}-d\d\d", d.id) for d in b.devices)
        kinds = Counter(s.kind for s in b.sites)
        warehouses, vehicles = kinds[SiteKind.WAREHOUSE], kinds[SiteKind.VEHICLE]
        assert 1 <= warehouses <= 3
        assert kinds[SiteKind.PRODUCTION_LINE] in (0, 1)
        assert 1 <= vehicles <= 3
        assert [ln.id for ln in b.loans] == [f"{b.id}-l1", f"{b.id}-l2"]
        inventory, equipment = b.loans
        assert {sites[c.site].kind for c in inventory.collateral} == {SiteKind.WAREHOUSE}
        assert {sites[c.site].kind for c in equipment.collateral} == {SiteKind.VEHICLE}
        devs = Counter(d.kind for d in b.devices)
        for kind in (DeviceKind.LOAD_CELL, DeviceKind.RFID_GATE, DeviceKind.DOOR):
            assert devs[kind] == warehouses
        assert devs[DeviceKind.TEMPERATURE] == warehouses
        plant = kinds[SiteKind.PRODUCTION_LINE]
        assert devs[DeviceKind.POWER_METER] == devs[DeviceKind.OUTPUT_COUNTER] == plant
        assert devs[DeviceKind.GENERIC] == plant
        assert devs[DeviceKind.GPS_TRACKER] == vehicles
        for d in b.devices:
            assert d.secret is not None and re.fullmatch(r"[0-9a-f]{32}", d.secret)
            if d.kind in (DeviceKind.LOAD_CELL, DeviceKind.RFID_GATE, DeviceKind.GPS_TRACKER):
                assert d.collateral is not None
                assert coll[d.collateral].site == d.site
        for c in coll.values():
            if sites[c.site].kind is SiteKind.WAREHOUSE:
                unit_kg, _ = parse_description(c.description)
                assert c.unit in KG_PER_UNIT
                assert c.quantity * 1000 >= 10 * unit_kg, "at least ten handling units"
            else:
                assert (c.unit, c.quantity) == ("vehicle", 1.0)
            assert 0.5 <= c.advance_rate <= 0.8
        for s in sites.values():
            if s.kind is SiteKind.VEHICLE:
                assert s.geofence is not None and s.location is not None
                assert 4 <= len(s.geofence) <= 6
                assert point_in_polygon(*s.location, s.geofence)


def test_perishable_lots_carry_a_band_and_a_bound_thermometer() -> None:
    fleet = generate_fleet(40, seed=5)
    perishable = 0
    for b in fleet.borrowers:
        for c in (c for ln in b.loans for c in ln.collateral):
            band = parse_description(c.description)[1]
            if band is None:
                continue
            perishable += 1
            assert band[0] < band[1] <= 6.0
            thermometers = [
                d for d in b.devices if d.kind is DeviceKind.TEMPERATURE and d.site == c.site
            ]
            assert [d.collateral for d in thermometers] == [c.id]
            assert thermometers[0].interval_s == 120.0
    assert perishable >= 3


def test_borrowers_differ_in_region_industry_size_and_intervals() -> None:
    fleet = generate_fleet(40, seed=6)
    assert len({b.timezone for b in fleet.borrowers}) >= 8
    assert len({b.industry for b in fleet.borrowers}) >= 4
    cells = [d for d in fleet.devices() if d.kind is DeviceKind.LOAD_CELL]
    assert len({d.interval_s for d in cells}) >= 3
    lots = [c.quantity for b in fleet.borrowers for c in b.loans[0].collateral]
    assert max(lots) >= 4 * min(lots)
    names = {s.name.rsplit(" ", 1)[0] for b in fleet.borrowers for s in b.sites}
    assert {"heavy goods vehicle", "wheel loader", "delivery van"} <= names


def test_descriptions_parse_back_and_default_sensibly() -> None:
    assert parse_description("frozen poultry; handling unit 800 kg; store at -25..-18 °C") == (
        800.0,
        (-25.0, -18.0),
    )
    assert parse_description("chilled dairy; store at 6..0 C") == (DEFAULT_UNIT_KG, (0.0, 6.0))
    assert parse_description("Frozen peas") == (DEFAULT_UNIT_KG, FROZEN_BAND)
    assert parse_description("wheat; handling unit 0 kg") == (DEFAULT_UNIT_KG, None)
