"""`riskstream demo --second-lender`: two lenders registered, the second echoing one lot."""

import itertools
from pathlib import Path

from devices.registry import Registry
from riskstream.cli.demo import SECOND_LENDER, SECOND_USER, DemoOptions, prepare
from riskstream.service.database import open_service_database
from riskstream.service.users import UserStore

NOW = 1_796_000_000.0


def test_the_second_lender_registers_one_lot_of_the_goods_and_echoes_its_cells(
    tmp_path: Path,
) -> None:
    options = DemoOptions(data_dir=tmp_path / "demo", borrowers=8, history_s=3600.0)
    settings, messages, _, tenant, echoes = prepare(
        DemoOptions(**{**options.__dict__, "second_lender": True}), NOW
    )
    assert echoes is not None
    db = open_service_database(settings.database)
    assert sorted(Registry(db).tenants()) == sorted([tenant, SECOND_LENDER])
    assert UserStore(db).authenticate(SECOND_USER, "riskstream-demo") is not None
    first, second = Registry(db).fleet(tenant), Registry(db).fleet(SECOND_LENDER)
    serial_of = {d.id: d.serial for d in first.devices()}
    twin = next(b for b in second.borrowers if b.id.startswith("x"))
    assert {d.serial for d in twin.devices} <= set(serial_of.values())

    device_of_serial = {serial: device for device, serial in serial_of.items()}
    source = {d.id: device_of_serial[d.serial] for d in twin.devices if d.serial}
    originals = {(m.device_id, m.ts, m.seq): m.values for m in itertools.islice(messages, 5000)}
    read_until = max(ts for _, ts, _ in originals)
    echoed = [
        m for m in itertools.islice(echoes, 300) if m.device_id in source and m.ts < read_until
    ]
    assert echoed
    for m in echoed:
        assert originals[(source[m.device_id], m.ts, m.seq)] == m.values
    db.dispose()
