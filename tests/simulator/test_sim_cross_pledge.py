"""The ``cross_pledge`` scenario: deterministic, and the first lender's fleet and telemetry
are what they were but for the serials and tags it adds."""

from pathlib import Path

import pytest

from devices.fleet_file import dump_fleet
from devices.model import Fleet
from simulator import generate, generate_fleet
from simulator.cross_pledge import MAX_OFFSET_M, both_lenders, pledge_twice, truth
from simulator.errors import FleetError
from simulator.run import run_lenders_to_file

START = 1_767_571_200.0
END = START + 3 * 3600.0


def _without_new_fields(fleet: Fleet) -> dict[str, object]:
    data = fleet.model_dump()
    for b in data["borrowers"]:
        for d in b["devices"]:
            d["serial"] = None
        for loan in b["loans"]:
            for c in loan["collateral"]:
                c["rfid_tags"] = None
    return data


def test_same_seed_same_bytes_and_the_first_fleet_only_gains_serials_and_tags(
    tmp_path: Path,
) -> None:
    fleet = generate_fleet(10, seed=3, tenant="bank-a")
    one, two = pledge_twice(fleet, "bank-b", 2, seed=9), pledge_twice(fleet, "bank-b", 2, seed=9)
    assert dump_fleet(one.first) == dump_fleet(two.first)
    assert dump_fleet(one.second) == dump_fleet(two.second)
    assert _without_new_fields(one.first) == _without_new_fields(fleet)
    assert "serial" not in dump_fleet(fleet) and "rfid_tags" not in dump_fleet(fleet)

    files = []
    for n, pledge in enumerate((one, two)):
        path = tmp_path / f"t{n}.csv"
        run_lenders_to_file(both_lenders(generate(pledge.first, [], START, END, 9), pledge), path)
        files.append(path.read_bytes())
    assert files[0] == files[1]
    # the first lender's telemetry is the plain fleet's: the serials change nothing
    plain = list(generate(fleet, [], START, END, 9))
    firsts = [
        m
        for tenant, m in both_lenders(generate(one.first, [], START, END, 9), one)
        if tenant == "bank-a"
    ]
    assert firsts == plain
    assert pledge_twice(fleet, "bank-b", 2, seed=10).second != one.second


def test_twins_share_serials_tags_and_place_and_truth_names_both_lenders() -> None:
    fleet = generate_fleet(10, seed=3, tenant="bank-a")
    pledge = pledge_twice(fleet, "bank-b", 2, seed=9)
    records = truth(pledge, START, END)
    assert (
        sorted((r.tenant, r.scenario) for r in records)
        == [("bank-a", "cross_pledge")] * 2 + [("bank-b", "cross_pledge")] * 2
    )
    serials = {d.serial for d in pledge.first.devices()}
    assert len(serials) == len(pledge.first.devices())  # one per device, none twice
    for twin in (b for b in pledge.second.borrowers if b.id.startswith("x")):
        assert all(d.serial in serials for d in twin.devices)
    for decoy in (b for b in pledge.second.borrowers if b.id.startswith("y")):
        assert not any(d.serial in serials for d in decoy.devices)
    assert MAX_OFFSET_M <= 30.0


def test_too_small_a_fleet_or_the_same_lender_is_refused() -> None:
    fleet = generate_fleet(1, seed=3, tenant="bank-a")
    with pytest.raises(FleetError, match="need"):
        pledge_twice(fleet, "bank-b", 5, seed=1)
    with pytest.raises(FleetError, match="must differ"):
        pledge_twice(fleet, "bank-a", 1, seed=1)
