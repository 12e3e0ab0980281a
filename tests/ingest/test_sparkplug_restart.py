"""Sparkplug B through a real mosquitto while ingest is killed (SIGKILL) and restarted:
every reading an edge node sent at QoS 1 is stored exactly once and none is refused, and
the Primary Host STATE is retained online, offline by the will, online again."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.fleet_file import save_fleet
from devices.sparkplug.host_state import HostState, parse_state, state_topic
from tests.ingest.sparkplug_messages import dbirth, ddata, nbirth, sparkplug_fleet, topic
from tests.ingest.test_zero_loss import wait_until
from tests.mosquitto_control import ControlledMosquitto
from tests.paho_publisher import publish_all

pytestmark = [pytest.mark.broker, pytest.mark.slow]

HOST_ID = "rs-restart-test"
MESSAGES = 700  # more than 256: seq wraps twice


class StateWatcher:
    """Records every STATE message of the host (with its retain flag)."""

    def __init__(self, port: int) -> None:
        self.seen: list[tuple[HostState | None, bool]] = []
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="state-watcher")
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.subscribe(state_topic(HOST_ID), qos=1)
        self._client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.seen.append((parse_state(bytes(message.payload)), bool(message.retain)))

    def states(self) -> list[HostState | None]:
        with self._lock:
            return [state for state, _ in self.seen]

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def retained_state(port: int) -> HostState | None:
    """What a client subscribing now is given: the retained STATE."""
    got: list[HostState | None] = []
    done = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"late-{time.time_ns()}")

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        if message.retain:
            got.append(parse_state(bytes(message.payload)))
        done.set()

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(state_topic(HOST_ID), qos=1)
    client.loop_start()
    done.wait(5)
    client.loop_stop()
    client.disconnect()
    return got[0] if got else None


def start_ingest(broker_url: str, workdir: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [
        *(sys.executable, "-m", "riskstream", "ingest", "--broker", broker_url),
        *("--store", f"duckdb:///{workdir / 't.duckdb'}", "--fleet", str(workdir / "fleet.yaml")),
        *("--client-id", "sparkplug-killed", "--deadletter", str(workdir / "dead.jsonl")),
        *("--spool-dir", str(workdir / "spool"), "--sparkplug-host-id", HOST_ID),
    ]
    return subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stored_values(store: Path) -> list[tuple[float, int]]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute(
            "SELECT value, count(*) FROM readings WHERE device_id = 'b1-d1' GROUP BY value"
        ).fetchall()
    finally:
        con.close()
    return sorted((float(v), int(n)) for v, n in rows)


def edge_node_messages(start_ts: float) -> list[tuple[str, bytes]]:
    """One edge node's session: NBIRTH, DBIRTH (value 0), then DDATA values 1..MESSAGES."""
    messages = [
        (topic("NBIRTH", device=None), nbirth(seq=0, bd_seq=1, ts=start_ts)),
        (topic("DBIRTH"), dbirth(1, {"weight_kg": (1, 0.0)}, ts=start_ts)),
    ]
    for i in range(1, MESSAGES + 1):
        messages.append((topic("DDATA"), ddata((i + 1) % 256, {1: float(i)}, ts=start_ts + i)))
    return messages


async def test_ingest_killed_mid_stream_stores_every_reading_once(tmp_path: Path) -> None:
    broker = ControlledMosquitto(tmp_path)
    broker.start()
    save_fleet(sparkplug_fleet(), tmp_path / "fleet.yaml")
    log = tmp_path / "ingest.log"
    watcher = StateWatcher(broker.port)
    process: subprocess.Popen[bytes] | None = None
    try:
        process = start_ingest(broker.url, tmp_path, log)
        await wait_until(lambda: "subscribed" in log.read_text(), "ingest subscribed")
        await wait_until(lambda: len(watcher.states()) >= 1, "STATE online")
        first_online = watcher.states()[-1]
        assert first_online is not None and first_online.online
        assert retained_state(broker.port) == first_online  # retained for who comes later

        messages = edge_node_messages(time.time() - MESSAGES - 60)
        sender = asyncio.create_task(
            asyncio.to_thread(publish_all, broker.port, messages, MESSAGES / 4.0, "edge-b1-w1")
        )
        await asyncio.sleep(1.5)  # about a third sent, some of it not yet acknowledged
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        await wait_until(lambda: len(watcher.states()) >= 2, "the will: STATE offline")
        will = watcher.states()[1]
        assert will == HostState(online=False, timestamp_ms=first_online.timestamp_ms)
        assert retained_state(broker.port) == will

        process = start_ingest(broker.url, tmp_path, log)
        await wait_until(lambda: log.read_text().count("subscribed") == 2, "ingest restarted")
        await wait_until(lambda: len(watcher.states()) >= 3, "STATE online again")
        second_online = watcher.states()[2]
        assert second_online is not None and second_online.online
        assert second_online.timestamp_ms > first_online.timestamp_ms
        await asyncio.wait_for(sender, 60)
        await asyncio.sleep(2.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-2000:]
        await wait_until(lambda: len(watcher.states()) >= 4, "STATE offline at a clean stop")
        assert watcher.states()[3] == HostState(False, second_online.timestamp_ms)
    finally:
        watcher.stop()
        if process is not None and process.poll() is None:
            process.kill()
        broker.stop()
    dead = tmp_path / "dead.jsonl"
    assert not dead.exists(), dead.read_text()[:1000]
    assert stored_values(tmp_path / "t.duckdb") == [(float(i), 1) for i in range(MESSAGES + 1)]
    assert (tmp_path / "sparkplug-sessions.sqlite").exists()
