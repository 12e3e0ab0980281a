"""Checkpoint and restore: a restored engine continues exactly like an uninterrupted one;
a checkpoint not written with the key, or altered, is refused before it is unpickled."""

import os
import pickle
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.reading import Reading
from riskstream.engine.checkpoint import (
    HEADER_BYTES,
    MAGIC,
    CheckpointError,
    read_state,
    write_state,
)
from riskstream.engine.core import Engine
from riskstream.engine.lenders import LenderEngines
from riskstream.rules.schema import RuleSet, parse_rules
from tests.fleets import small_fleet
from tests.riskstream.test_engine import INSIDE, OUTSIDE, T0, minute_readings
from tests.riskstream.test_scorecard import SAMPLE

KEY = b"test-checkpoint-key-0123456789abcdef"


def rules() -> RuleSet:
    return parse_rules(SAMPLE.read_text().replace('snapshot_every = "1d"', 'snapshot_every = "5m"'))


def new_engine() -> Engine:
    return Engine([small_fleet()], rules(), wall_clock=lambda: 42.0)


def step(e: "Engine | LenderEngines", minute: int) -> list[dict[str, object]]:
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
    uninterrupted.checkpoint(path, key=KEY)

    restored = new_engine()
    restored.restore(path, key=KEY)
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
    assert model.bad_outcomes_seen == 1 and model.labelled_bad
    assert restored.readings_processed == uninterrupted.readings_processed


def test_an_engine_that_ran_before_it_restored_continues_like_the_checkpointed_one(
    tmp_path: Path,
) -> None:
    """The lot route keeps each lot's detector state at hand: a restore must drop what it
    kept, or the lots' readings would go on changing the state the checkpoint replaced."""
    uninterrupted = new_engine()
    for minute in range(0, 45):  # inventory breach pending
        step(uninterrupted, minute)
    path = tmp_path / "engine.ckpt"
    uninterrupted.checkpoint(path, key=KEY)
    busy = new_engine()
    for minute in range(0, 10):  # its lots' state built and kept at hand
        step(busy, minute)
    busy.restore(path, key=KEY)

    expected, got = [], []
    for minute in range(45, 120):
        expected += step(uninterrupted, minute)
        got += step(busy, minute)
    assert ("inventory_below_pledge", "open") in {(a["kind"], a["status"]) for a in expected}
    assert got == expected


def test_restore_keeps_the_current_rules_and_refuses_other_files(tmp_path: Path) -> None:
    e = new_engine()
    e.process([Reading("bank-a", "b1-d1", T0, "weight_kg", 850_000.0, 1)])
    path = tmp_path / "engine.ckpt"
    e.checkpoint(path, key=KEY)
    idle_off = '[[overrides]]\nloan = "b1-l1"\n[overrides.rules.machine_idle]\nenabled = false\n'
    other = Engine([small_fleet()], parse_rules(idle_off), wall_clock=lambda: 0.0)
    other.restore(path, key=KEY)
    # the operations detector keeps the current rules' per-loan scope, not the saved one
    assert other.operations.scope is other.scope
    assert not other.operations.scope.of("bank-a", "b1-l1").machine_idle.enabled
    assert other.scoring.models.of("bank-a").settings == RuleSet().models
    assert other.book.update_every_s == RuleSet().alerts.update_every
    assert other.watermark == T0
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"junk" * 20)
    with pytest.raises(ValueError, match="not a riskstream checkpoint"):
        other.restore(junk, key=KEY)


def test_a_checkpoint_from_before_a_detector_existed_restores_it_afresh(tmp_path: Path) -> None:
    e = new_engine()
    for minute in range(0, 45):
        step(e, minute)
    parts = e.state()
    del parts["decline"]  # as written by a riskstream without the decline detector
    path = tmp_path / "old.ckpt"
    write_state(path, {**parts, "meta": {}}, key=KEY)
    restored = new_engine()
    restored.restore(path, key=KEY)
    assert restored.watermark == e.watermark
    assert [a.to_dict() for a in restored.open_alerts()] == [a.to_dict() for a in e.open_alerts()]
    assert restored.detector("decline").lines == new_engine().detector("decline").lines


def test_engine_rebuilt_for_new_fleets_keeps_outcome_models_and_histories() -> None:
    old = new_engine()
    for minute in range(0, 30):
        step(old, minute)
    old.record_outcome("b1", "default", T0 + 29 * 60)
    rebuilt = new_engine()
    rebuilt.keep_learning_of(old)
    assert rebuilt.scoring.models.of("bank-a").bad_outcomes_seen == 1
    assert rebuilt.scoring.history_of("b1") == old.scoring.history_of("b1") != []


class RunsCode:
    """Unpickling this creates ``marker``: what a crafted checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_the_crafted_pickle_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The control for the tests below: this pickle does create its marker."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(RunsCode(marker))).close()
    assert marker.exists()


def written(tmp_path: Path) -> Path:
    path = tmp_path / "engine.ckpt"
    write_state(path, {"meta": {"fleets": "f"}}, key=KEY)
    return path


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: flip(d, len(d) - 3), "MAC does not match"),  # body altered
        (lambda d: flip(d, HEADER_BYTES - 1), "MAC does not match"),  # MAC altered
        (lambda d: d[:HEADER_BYTES], "cut short"),  # body missing
        (lambda d: d[: len(d) - 1], "cut short"),
        (lambda d: d[:30], "cut short"),  # no MAC at all
        (lambda d: d + b"x", "extended"),
        (lambda d: b"", "cut short: 0 bytes"),
        (lambda d: flip(d, 9), "another checkpoint key"),  # key id altered
        (lambda d: pickle.dumps({"format": 1, "parts": {}}), "older riskstream"),
        (lambda d: b"not a pickle", "not a riskstream checkpoint"),
    ],
)
def test_altered_cut_short_old_or_foreign_files_are_refused_with_the_reason(
    tmp_path: Path, change: Callable[[bytes], bytes], reason: str
) -> None:
    path = written(tmp_path)
    assert read_state(path, key=KEY) == {"meta": {"fleets": "f"}}
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(CheckpointError, match=reason) as caught:
        read_state(path, key=KEY)
    assert caught.value.path == path


def test_a_checkpoint_of_another_key_is_refused(tmp_path: Path) -> None:
    path = written(tmp_path)
    with pytest.raises(CheckpointError, match="written with another checkpoint key"):
        read_state(path, key=b"another-key-" * 3)
    with pytest.raises(ValueError, match="non-empty bytes"):
        read_state(path, key=b"")


def test_a_crafted_pickle_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"format": 2, "parts": RunsCode(marker)})
    path = written(tmp_path)
    header = path.read_bytes()[:HEADER_BYTES]  # the right magic and key id, a stale MAC
    forged_length = header[:16] + len(payload).to_bytes(8, "big") + header[24:]
    for crafted in (payload, header + payload, forged_length + payload, MAGIC + payload):
        path.write_bytes(crafted)
        with pytest.raises(CheckpointError):
            read_state(path, key=KEY)
        with pytest.raises(CheckpointError):
            new_engine().restore(path, key=KEY)
    assert not marker.exists()


def test_checkpoint_and_its_temporary_file_are_private(tmp_path: Path) -> None:
    """The temporary file is 0600 even when a crash left one readable by others."""
    directory_mode = stat.S_IMODE(tmp_path.stat().st_mode)
    path = tmp_path / "engine.ckpt"
    stale = tmp_path / "engine.ckpt.tmp"
    stale.write_bytes(b"left by a crash")
    os.chmod(stale, 0o644)
    new_engine().checkpoint(path, key=KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not stale.exists()
    assert stat.S_IMODE(tmp_path.stat().st_mode) == directory_mode  # not ours: left alone
    stale.symlink_to(tmp_path / "elsewhere")  # a link planted at the temporary name
    with pytest.raises(OSError):
        new_engine().checkpoint(path, key=KEY)
    assert not (tmp_path / "elsewhere").exists()
