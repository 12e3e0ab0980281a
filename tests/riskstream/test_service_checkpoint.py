"""The service writes its engine checkpoint on shutdown and resumes from it on start."""

import logging
import os
import pickle
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from devices.model import Fleet
from devices.registry import Registry
from riskstream.engine.checkpoint import HEADER_BYTES, MAGIC
from riskstream.engine.checkpoint_key import CheckpointKeyError
from riskstream.engine.core import Engine
from riskstream.engine.lenders import LenderEngines
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.fleets import small_fleet
from tests.riskstream.rules_service import SAMPLE, register, settings
from tests.riskstream.test_checkpoint import RunsCode, new_engine, step
from tests.servers import Mosquitto

SNAPSHOT_5M = ('snapshot_every = "1d"', 'snapshot_every = "5m"')  # as test_checkpoint's rules


def comparable(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alerts without ``detected_at`` (wall time: differs between runs)."""
    return [{k: v for k, v in a.items() if k != "detected_at"} for a in alerts]


def open_of(engine: Engine | LenderEngines) -> list[dict[str, Any]]:
    return comparable(sorted((a.to_dict() for a in engine.open_alerts()), key=lambda a: a["id"]))


def service(tmp_path: Path, broker: str) -> Runtime:
    rules = tmp_path / "rules.toml"
    if not rules.exists():
        rules.write_text(SAMPLE.read_text().replace(*SNAPSHOT_5M))
    db = str(tmp_path / "rs.db")
    if not Path(db).exists():
        register(tmp_path, small_fleet("bank-a"))
    return Runtime(settings(tmp_path, db, broker, rules))


@pytest.mark.broker
async def test_restart_resumes_with_the_same_open_alerts_and_next_alerts(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    uninterrupted = new_engine()
    first = service(tmp_path, mosquitto.url)
    async with first.running():
        for minute in range(0, 45):  # inventory breach pending, geofence exit pending
            step(first.engines, minute)
            step(uninterrupted, minute)
        at_shutdown = open_of(first.engines)
    assert at_shutdown and (tmp_path / "engine.ckpt").is_file()

    second = service(tmp_path, mosquitto.url)
    assert second.engines.open_alerts() == []  # built fresh ...
    async with second.running():
        assert open_of(second.engines) == at_shutdown == open_of(uninterrupted)  # ... resumed
        assert second.engines.watermark == uninterrupted.watermark
        expected, got = [], []
        for minute in range(45, 120):
            expected += step(uninterrupted, minute)
            got += step(second.engines, minute)
    kinds = {(a["kind"], a["status"]) for a in expected}
    assert {("inventory_below_pledge", "open"), ("geofence_exit", "open")} <= kinds
    assert comparable(got) == comparable(expected)

    fresh = new_engine()  # without the checkpoint the next alerts would differ
    assert comparable([a for m in range(45, 120) for a in step(fresh, m)]) != comparable(expected)


@pytest.mark.broker
async def test_checkpoint_of_other_fleets_or_corrupt_is_logged_and_ignored(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = service(tmp_path, mosquitto.url)
    async with first.running():
        for minute in range(0, 45):
            step(first.engines, minute)
    assert first.engines.open_alerts()

    changed = small_fleet("bank-a").model_dump()
    changed["borrowers"][1]["loans"][0]["collateral"][0]["quantity"] = 500  # a pledge grew
    Registry(open_service_database(str(tmp_path / "rs.db"))).import_fleet(
        Fleet.model_validate(changed)
    )
    caplog.set_level(logging.WARNING, logger="riskstream.service.runtime")
    other_fleets = service(tmp_path, mosquitto.url)
    async with other_fleets.running():
        assert other_fleets.engines.open_alerts() == []
        assert other_fleets.engines.watermark is None
    assert "not used, starting fresh" in caplog.text and "another fleets" in caplog.text

    caplog.clear()
    (tmp_path / "engine.ckpt").write_bytes(b"not a pickle")
    corrupt = service(tmp_path, mosquitto.url)
    async with corrupt.running():
        assert corrupt.engines.open_alerts() == []
    assert (
        "not used, starting fresh" in caplog.text and "not a riskstream checkpoint" in caplog.text
    )
    # the shutdown wrote a good checkpoint again
    assert (tmp_path / "engine.ckpt").read_bytes()[: len(MAGIC)] == MAGIC


def test_the_checkpoint_lives_next_to_the_database_whose_alerts_it_holds(tmp_path: Path) -> None:
    db = tmp_path / "data" / "rs.db"
    assert ServiceSettings(database=str(db)).checkpoint_path == tmp_path / "data" / "engine.ckpt"
    server = ServiceSettings(database="postgresql://risk@127.0.0.1/risk")
    assert server.checkpoint_path == Path("riskstream-data/engine.ckpt")
    assert ServiceSettings(database=str(db), checkpoint=tmp_path / "x.ckpt").checkpoint_path == (
        tmp_path / "x.ckpt"
    )
    assert ServiceSettings(database=str(db), checkpoint_enabled=False).checkpoint_path is None


NO_BROKER = "mqtt://127.0.0.1:1"  # restoring and saving a checkpoint never connect


def checkpointed(tmp_path: Path) -> Runtime:
    """A service with 45 minutes of alerts that wrote its checkpoint, as on shutdown."""
    first = service(tmp_path, NO_BROKER)
    for minute in range(0, 45):
        step(first.engines, minute)
    first.save_checkpoint()
    assert first.engines.open_alerts()
    return first


def refused(tmp_path: Path, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    """A service started on ``tmp_path`` logs ``reason`` and starts fresh."""
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="riskstream.service.runtime")
    fresh = service(tmp_path, NO_BROKER)
    assert not fresh.restore_checkpoint()
    assert fresh.engines.open_alerts() == [] and fresh.engines.watermark is None
    assert "not used, starting fresh" in caplog.text and reason in caplog.text


def test_a_tampered_checkpoint_is_refused_logged_and_the_engine_starts_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = checkpointed(tmp_path)
    resumed = service(tmp_path, NO_BROKER)
    assert resumed.restore_checkpoint()
    assert open_of(resumed.engines) == open_of(first.engines)
    ckpt = tmp_path / "engine.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[:-40] + bytes([data[-40] ^ 1]) + data[-39:])
    refused(tmp_path, caplog, "MAC does not match")
    ckpt.write_bytes(data[: len(data) // 2])
    refused(tmp_path, caplog, "cut short")


@pytest.mark.parametrize("form", ["old format", "forged header"])
def test_a_crafted_checkpoint_is_refused_and_never_unpickled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    checkpointed(tmp_path)
    marker = tmp_path / "pwned"
    crafted = pickle.dumps({"format": 2, "parts": RunsCode(marker)})
    ckpt = tmp_path / "engine.ckpt"
    if form == "forged header":  # the real magic and key id, the payload's length
        header = ckpt.read_bytes()[:HEADER_BYTES]
        crafted = header[:16] + len(crafted).to_bytes(8, "big") + header[24:] + crafted
    ckpt.write_bytes(crafted)
    refused(tmp_path, caplog, "older riskstream" if form == "old format" else "MAC does not")
    assert not marker.exists()


def test_the_key_comes_from_the_environment_else_from_a_private_key_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpointed(tmp_path)
    key_file = tmp_path / "engine.key"
    assert re.fullmatch(r"[0-9a-f]{64}\n", key_file.read_text())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "engine.ckpt").stat().st_mode) == 0o600
    monkeypatch.setenv("RISKSTREAM_CHECKPOINT_KEY", "k" * 40)
    refused(tmp_path, caplog, "written with another checkpoint key")
    service(tmp_path, NO_BROKER).save_checkpoint()
    assert service(tmp_path, NO_BROKER).restore_checkpoint()
    monkeypatch.delenv("RISKSTREAM_CHECKPOINT_KEY")
    refused(tmp_path, caplog, "written with another checkpoint key")


async def test_a_key_file_others_may_read_stops_the_start(tmp_path: Path) -> None:
    checkpointed(tmp_path)
    key_file = tmp_path / "engine.key"
    os.chmod(key_file, 0o644)
    unusable = service(tmp_path, NO_BROKER)
    with pytest.raises(CheckpointKeyError, match=re.escape(f"{key_file}: has mode 0644")) as e:
        async with unusable.running():
            pass
    assert f"chmod 600 {key_file}" in str(e.value)
    unusable.db.dispose()
