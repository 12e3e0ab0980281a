"""Replays, forged senders and lost messages: from ingest's signals to data-integrity alerts."""

from pathlib import Path

import numpy as np

from devices.fleet_file import load_fleet
from ingest.integrity import IntegritySignal
from riskstream.backtest import read_telemetry, replay
from riskstream.backtest.sequence_pass import sequence_pass
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from simulator import generate_fleet
from tests.riskstream.backtest_data import DAY, START, simulate


def test_replayed_and_forged_devices_are_found_in_a_recorded_file(tmp_path: Path) -> None:
    run = simulate(
        tmp_path, 8, 3, seed=12, assign={"b002": "replay", "b004": "spoof", "b006": "replay"}
    )
    assert {t.scenario for t in run.truth} == {"replay", "spoof"}
    telemetry = read_telemetry(run.telemetry)
    assert telemetry.refused > 0, "the replayed messages are dropped as ingest would"
    engine = Engine([load_fleet(run.fleet_file)], RuleSet(), wall_clock=lambda: 0.0)
    alerts = replay(engine, telemetry, run.fleet.tenant.id).alerts
    flagged = {(a["borrower_id"], a["subject"]) for a in alerts if a["kind"] == "data_integrity"}
    assert flagged == {(t.borrower_id, t.device_id) for t in run.truth}
    assert not [a for a in alerts if a["kind"] == "messages_lost"]
    for alert in alerts:
        if alert["kind"] != "data_integrity":
            continue
        record = next(t for t in run.truth if t.device_id == alert["subject"])
        assert record.start_ts - 300 <= alert["opened_at"] <= (record.end_ts or 1e12)
        assert alert["severity"] == "critical"
        word = "replayed" if record.scenario == "replay" else "sharing a seq"
        assert any(word in reason for reason in alert["reasons"]), alert["reasons"]


def test_a_clean_recording_has_no_integrity_alert(tmp_path: Path) -> None:
    run = simulate(tmp_path, 6, 10, seed=3, assign=None)
    engine = Engine([load_fleet(run.fleet_file)], RuleSet(), wall_clock=lambda: 0.0)
    alerts = replay(engine, read_telemetry(run.telemetry), run.fleet.tenant.id).alerts
    assert [a for a in alerts if a["kind"] in ("data_integrity", "messages_lost")] == []


def test_sequence_pass_keeps_first_copies_and_signals_in_arrival_order() -> None:
    # rows in arrival order: seq 1..3, seq 7 (3 missing), a redelivery of 3 soon after,
    # seq 20 an hour later, then seq 2 again: an hour after its first arrival
    ts = np.array([0.0, 60, 120, 360, 120, 3660, 60], dtype=np.float64)
    seq = np.array([1, 2, 3, 7, 3, 20, 2], dtype=np.int64)
    result = sequence_pass(ts, np.zeros(7, dtype=np.int32), seq, ["d"])
    assert result.keep.tolist() == [True, True, True, True, False, True, False]
    assert [(s.kind, s.count, s.at) for s in result.signals] == [
        ("gap", 3, 360.0),
        ("gap", 12, 3660.0),
        ("replayed", 1, 3660.0),
    ]
    assert result.duplicates == 1 and result.replayed == 1


def lost(tenant: str, device: str, at: float, count: int) -> IntegritySignal:
    return IntegritySignal(tenant, device, "gap", at, at, count)


def test_lost_messages_raise_a_warning_that_clears_when_they_stop() -> None:
    fleet = generate_fleet(2, seed=4)
    device = next(iter(fleet.devices()))
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    tenant = fleet.tenant.id
    assert engine.integrity([lost(tenant, device.id, START, 4)]) == []
    assert engine.integrity([lost(tenant, device.id, START + 600, 5)]) == []
    [alert] = engine.integrity([lost(tenant, device.id, START + 1200, 3)])
    assert (alert.kind, alert.subject, alert.severity, alert.status) == (
        "messages_lost",
        device.id,
        "warning",
        "open",
    )
    assert alert.opened_at == START and "12 messages" in alert.reasons[0]
    assert [a for a in engine.tick(START + 1200 + 3600) if a.kind == "messages_lost"] == []
    [cleared] = [a for a in engine.tick(START + 1200 + 7200) if a.kind == "messages_lost"]
    assert cleared.id == alert.id and cleared.status == "resolved"
    # other tenants' devices of the same name are not ours
    assert engine.integrity([lost("other-bank", device.id, START + DAY, 50)]) == []
