"""Checkpoint and restore: a restored engine continues exactly like an uninterrupted one."""

from pathlib import Path

import pytest

from devices.reading import Reading
from riskstream.engine import Engine
from riskstream.rules_file import RuleSet, parse_rules
from tests.fleets import small_fleet
from tests.riskstream.test_engine import INSIDE, OUTSIDE, T0, minute_readings
from tests.riskstream.test_scorecard import SAMPLE


def rules() -> RuleSet:
    return parse_rules(SAMPLE.read_text().replace('snapshot_every = "1d"', 'snapshot_every = "5m"'))


def new_engine() -> Engine:
    return Engine([small_fleet()], rules(), wall_clock=lambda: 42.0)


def step(e: Engine, minute: int) -> list[dict[str, object]]:
    weight = 1200.0 if minute < 20 else 850.0  # inventory breach from minute 20
    pos = INSIDE if minute < 40 else OUTSIDE  # geofence exit from minute 40
    batch = [
        r for r in minute_readings(minute, weight, pos) if r.device_id != "b2-d1" or minute < 30
    ]  # b2's load cell goes silent at minute 30
    changed = e.process(batch) + e.tick(T0 + minute * 60)
    return [a.to_dict() for a in changed]


def test_restored_engine_gives_the_same_next_alerts_as_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    uninterrupted = new_engine()
    for minute in range(0, 45):  # inventory breach pending, geofence exit pending
        step(uninterrupted, minute)
    uninterrupted.record_outcome("b1", "payment_missed", T0 + 44 * 60)
    path = tmp_path / "engine.ckpt"
    uninterrupted.checkpoint(path)

    restored = new_engine()
    restored.restore(path)
    fresh = new_engine()  # what a restart without a checkpoint would do

    expected, got, without = [], [], []
    for minute in range(45, 120):
        expected += step(uninterrupted, minute)
        got += step(restored, minute)
        without += step(fresh, minute)
    kinds = {(a["kind"], a["status"]) for a in expected}
    assert {("inventory_below_pledge", "open"), ("geofence_exit", "open")} <= kinds
    assert ("device_silent", "open") in kinds
    assert got == expected
    assert without != expected  # the state carried by the checkpoint matters
    assert restored.borrower_risk("b1") == uninterrupted.borrower_risk("b1")
    assert restored.scoring.history_of("b1") == uninterrupted.scoring.history_of("b1")
    model = restored.scoring.models.of("bank-a")
    assert model.summary() == uninterrupted.scoring.models.of("bank-a").summary()
    assert model.bad_outcomes == 1
    assert restored.readings_processed == uninterrupted.readings_processed


def test_restore_keeps_the_current_rules_and_refuses_other_files(tmp_path: Path) -> None:
    e = new_engine()
    e.process([Reading("bank-a", "b1-d1", T0, "weight_kg", 850_000.0, 1)])
    path = tmp_path / "engine.ckpt"
    e.checkpoint(path)
    idle_off = '[[overrides]]\nloan = "b1-l1"\n[overrides.rules.machine_idle]\nenabled = false\n'
    other = Engine([small_fleet()], parse_rules(idle_off), wall_clock=lambda: 0.0)
    other.restore(path)
    # the operations detector keeps the current rules' per-loan scope, not the saved one
    assert other.operations.scope is other.scope
    assert not other.operations.scope.of("bank-a", "b1-l1").machine_idle.enabled
    assert other.scoring.models.of("bank-a").settings == RuleSet().models
    assert other.book.update_every_s == RuleSet().alerts.update_every
    assert other.watermark == T0
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x80\x05N.")  # a pickled None
    with pytest.raises(ValueError, match="not a riskstream checkpoint"):
        other.restore(junk)


def test_engine_rebuilt_for_new_fleets_keeps_outcome_models_and_histories() -> None:
    old = new_engine()
    for minute in range(0, 30):
        step(old, minute)
    old.record_outcome("b1", "default", T0 + 29 * 60)
    rebuilt = new_engine()
    rebuilt.keep_learning_of(old)
    assert rebuilt.scoring.models.of("bank-a").bad_outcomes == 1
    assert rebuilt.scoring.history_of("b1") == old.scoring.history_of("b1") != []
