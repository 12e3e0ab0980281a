"""A gateway's death certificate (ingest's ``offline`` signal) makes the deadman count the
device silent at once, not after its missed intervals; a reading resolves it."""

from devices.reading import Reading
from ingest.integrity import IntegritySignal
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from simulator import generate_fleet

START = 1_790_000_000.0


def test_declared_offline_device_is_silent_at_the_next_tick_and_a_reading_clears_it() -> None:
    fleet = generate_fleet(2, seed=4)
    tenant = fleet.tenant.id
    cell = next(d for d in fleet.devices() if d.kind.value == "load_cell")
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    engine.process([Reading(tenant, cell.id, START, "weight_kg", 50_000.0)])
    assert [a for a in engine.tick(START + 1) if a.kind == "device_silent"] == []
    # another lender's device of the same id, and a device nobody registered: nothing
    assert engine.integrity([IntegritySignal("other-bank", cell.id, "offline", START + 2)]) == []
    assert engine.integrity([IntegritySignal(tenant, "no-such", "offline", START + 2)]) == []
    assert [a for a in engine.tick(START + 3) if a.kind == "device_silent"] == []
    assert engine.integrity([IntegritySignal(tenant, cell.id, "offline", START + 4)]) == []
    [alert] = [a for a in engine.tick(START + 5) if a.kind == "device_silent"]
    assert (alert.subject, alert.status) == (cell.id, "open")
    assert "declared offline by its gateway (Sparkplug death certificate)" in alert.reasons
    assert alert.opened_at == START + 5  # not last reading + limit, which is still ahead
    # the offline signal is no data-integrity doubt
    assert [a for a in engine.open_alerts() if a.kind in ("data_integrity", "messages_lost")] == []
    [cleared] = engine.process([Reading(tenant, cell.id, START + 60, "weight_kg", 50_000.0)])
    assert (cleared.id, cleared.status) == (alert.id, "resolved")
