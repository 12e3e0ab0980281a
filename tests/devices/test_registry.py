from pathlib import Path

import pytest

from devices.errors import FleetFileError, UnknownEntityError
from devices.fleet_file import load_fleet, save_fleet
from devices.registry import Registry, open_database
from tests.fleets import small_fleet


def test_fleet_file_round_trip_and_registry(tmp_path: Path) -> None:
    fleet = small_fleet()
    save_fleet(fleet, tmp_path / "fleet.yaml")
    loaded = load_fleet(tmp_path / "fleet.yaml")
    assert loaded == fleet
    registry = Registry(open_database(tmp_path / "r.db"))
    registry.import_fleet(loaded)
    registry.import_fleet(loaded)  # re-import replaces, does not duplicate
    assert registry.tenants() == ["bank-a"]
    assert registry.fleet("bank-a") == fleet
    rows = registry.device_rows("bank-a")
    assert [r.id for r in rows] == ["b1-d1", "b1-d2", "b2-d1"]
    assert rows[0].borrower_id == "b1" and rows[0].collateral_id == "b1-c1"
    with pytest.raises(UnknownEntityError):
        registry.fleet("nobody")


def test_fleet_file_error_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    save_fleet(small_fleet(), path)
    path.write_text(path.read_text().replace("advance_rate: 0.7", "advance_rate: 1.7"))
    with pytest.raises(FleetFileError) as info:
        load_fleet(path)
    message = str(info.value)
    assert str(path) in message
    assert "borrowers.0.loans.0.collateral.0.advance_rate" in message


def test_fleet_with_dangling_reference_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    save_fleet(small_fleet(), path)
    path.write_text(path.read_text().replace("site: b1-w1\n", "site: nowhere\n", 1))
    with pytest.raises(FleetFileError, match="unknown site nowhere"):
        load_fleet(path)


def test_bad_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("tenant: {id: x\nborrowers: [\n")
    with pytest.raises(FleetFileError, match="line"):
        load_fleet(path)
