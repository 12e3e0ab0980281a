"""Zero loss: QoS 1, persistent sessions and seq de-duplication across restarts."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from devices.fleet_file import save_fleet
from ingest.device_table import device_table
from ingest.service import IngestSettings, run_ingest
from ingest.subscriber import IngestRunner, MqttOptions
from tests.fleets import small_fleet
from tests.mosquitto_control import ControlledMosquitto
from tests.paho_publisher import publish_all, sequenced_payloads

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DEVICES = ("b1-d1", "b1-d2", "b2-d1")
PER_DEVICE = 1500


def messages() -> list[tuple[str, bytes]]:
    return sequenced_payloads("bank-a", DEVICES, PER_DEVICE, time.time() - 3 * PER_DEVICE)


async def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {limit_s} s: {what}")
        await asyncio.sleep(0.02)


def stored(path: Path) -> list[tuple[str, int, int]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT device_id, seq, count(*) FROM readings GROUP BY device_id, seq"
        ).fetchall()
    finally:
        con.close()
    return [(d, int(s), int(n)) for d, s, n in rows]


def assert_exactly_once(path: Path) -> None:
    dead = path.parent / "dead.jsonl"
    refused = dead.read_text().count("\n") if dead.exists() else 0
    assert refused == 0, f"{refused} messages refused: {dead.read_text()[:600]}"
    rows = stored(path)
    assert [r for r in rows if r[2] != 1] == [], "a reading was stored more than once"
    seen = {(d, s) for d, s, _ in rows}
    expected = {(d, i + 1) for i in range(PER_DEVICE) for d in DEVICES}
    missing = expected - seen
    assert not missing, f"{len(missing)} readings lost, e.g. {sorted(missing)[:5]}"


async def test_broker_restart_mid_stream_loses_nothing(tmp_path: Path) -> None:
    broker = ControlledMosquitto(tmp_path)
    broker.start()
    store = tmp_path / "t.duckdb"
    settings = IngestSettings(
        broker=broker.url,
        store=f"duckdb:///{store}",
        deadletter=tmp_path / "dead.jsonl",
        mqtt=MqttOptions(client_id="zero-loss-ingest"),
    )
    stop = asyncio.Event()
    runners: list[IngestRunner] = []
    ingest = asyncio.create_task(
        run_ingest(settings, device_table([small_fleet()]), stop, on_ready=runners.append)
    )
    await wait_until(lambda: bool(runners) and runners[0].connected.is_set(), "ingest connected")
    batch = messages()
    sender = asyncio.create_task(
        asyncio.to_thread(publish_all, broker.port, batch, len(batch) / 4.0, "zero-loss-pub")
    )
    await wait_until(lambda: runners[0].readings_written >= len(batch) // 3, "a third stored")
    broker.stop()
    await asyncio.sleep(1.0)
    broker.start()
    await asyncio.wait_for(sender, 60)
    deadline = time.monotonic() + 60
    while runners[0].readings_written < len(batch) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await ingest
    broker.stop()
    assert_exactly_once(store)


def start_ingest_process(
    broker_url: str, store: Path, fleet_file: Path, log: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "riskstream",
            "ingest",
            "--broker",
            broker_url,
            "--store",
            f"duckdb:///{store}",
            "--fleet",
            str(fleet_file),
            "--client-id",
            "zero-loss-killed",
            "--deadletter",
            str(store.parent / "dead.jsonl"),
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def count_rows(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        con = duckdb.connect(str(store), read_only=True)
    except duckdb.Error:
        return -1  # the writer holds the lock
    try:
        row = con.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


async def test_ingester_killed_mid_stream_loses_nothing(tmp_path: Path) -> None:
    broker = ControlledMosquitto(tmp_path)
    broker.start()
    process: subprocess.Popen[bytes] | None = None
    try:
        fleet_file = tmp_path / "fleet.yaml"
        save_fleet(small_fleet(), fleet_file)
        store = tmp_path / "t.duckdb"
        log = tmp_path / "ingest.log"
        process = start_ingest_process(broker.url, store, fleet_file, log)
        # once subscribed, the persistent session keeps everything published from then on
        await wait_until(lambda: "subscribed" in log.read_text(), "ingest process subscribed")
        batch = messages()
        sender = asyncio.create_task(
            asyncio.to_thread(publish_all, broker.port, batch, len(batch) / 5.0, "zero-loss-pub-2")
        )
        await asyncio.sleep(2.0)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        await asyncio.sleep(1.0)
        process = start_ingest_process(broker.url, store, fleet_file, log)
        # a SIGTERM before the restarted process has set up its handlers would kill it
        await wait_until(
            lambda: log.read_text().count("subscribed") == 2, "restarted ingest process subscribed"
        )
        await asyncio.wait_for(sender, 60)
        await asyncio.sleep(3.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-2000:]
        broker.stop()
        assert "ingest stopped" in log.read_text()
        assert_exactly_once(store)

    finally:
        if process is not None and process.poll() is None:
            process.kill()
        broker.stop()
