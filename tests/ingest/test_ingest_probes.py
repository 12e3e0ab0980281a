"""A standalone `riskstream ingest --metrics-port P` answers /healthz, /readyz and /metrics."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devices.fleet_file import save_fleet
from riskstream.service.local_broker import free_port
from tests.fleets import small_fleet
from tests.mosquitto_control import ControlledMosquitto

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def wait_status(url: str, wanted: int, limit_s: float) -> httpx.Response:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == wanted:
                return response
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered {wanted}"
        time.sleep(0.1)


def test_ingest_probes_follow_the_broker(tmp_path: Path) -> None:
    broker = ControlledMosquitto(tmp_path)
    broker.start()
    fleet_file = tmp_path / "fleet.yaml"
    save_fleet(small_fleet(), fleet_file)
    port = free_port()
    log = tmp_path / "ingest.log"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "riskstream", "ingest",
            "--broker", broker.url,
            "--store", f"duckdb:///{tmp_path}/t.duckdb",
            "--fleet", str(fleet_file),
            "--deadletter", str(tmp_path / "dead.jsonl"),
            "--metrics-port", str(port),
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        ready = wait_status(f"{base}/readyz", 200, 30).json()
        assert ready["checks"] == {
            "broker_connected": True,
            "ingest_loop_alive": True,
            "store_writable": True,
            "messages_flowing": True,
        }
        assert httpx.get(f"{base}/healthz").json() == {"status": "alive"}
        metrics = httpx.get(f"{base}/metrics").text
        assert "ingest_loop_alive 1.0" in metrics
        assert "ingest_last_message_age_seconds" in metrics
        assert httpx.get(f"{base}/other").status_code == 404
        broker.stop()
        body = wait_status(f"{base}/readyz", 503, 10).json()
        assert body["checks"]["broker_connected"] is False
        broker.start()
        wait_status(f"{base}/readyz", 200, 30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
        broker.stop()
