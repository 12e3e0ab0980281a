"""Rules changed through the API of `riskstream serve --nats` reach a running risk worker.

One lot reports 85 % of its pledge throughout. Under the rules the service starts on
(coverage below 80 % raises, above 82 % clears) that raises nothing; a risk admin then
lowers the bar to 90 % through the API, and the running worker raises
`inventory_below_pledge` from the first device message after the change on (those in
the telemetry stream before it stay under the rules before); the admin puts the first
rules back, and the same worker resolves it after an hour of event time above 82 %.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import pytest

from devices.fleet_file import load_fleet
from devices.model import KG_PER_UNIT, DeviceKind
from riskstream.cluster.layout import RULES_BUCKET, SERVICE_RULES_KEY, TELEMETRY_STREAM
from riskstream.cluster.messages import decode_rules_entry
from riskstream.cluster.nats_servers import NatsCluster
from riskstream.rules.keeper import built_in_text
from riskstream.service.local_broker import free_port
from tests.cluster.test_workers import KEY, _fresh_topology, riskstream
from tests.paho_publisher import publish_all
from tests.servers import admin_options, device_login

pytestmark = pytest.mark.slow

START = 1_795_000_000.0
EVERY_S = 60.0
PASSWORD = "officer-password-1"
COVERAGE = 0.85
LOOSE = ("coverage_below = 0.8", "clear_above = 0.82")
TIGHT = ("coverage_below = 0.9", "clear_above = 0.95")


def rules_text(bounds: tuple[str, str]) -> str:
    """The built-in rules with the inventory table's bounds ``bounds``."""
    head, table = built_in_text().split("[rules.inventory_below_pledge]\n", 1)
    for line, wanted in zip(TIGHT, bounds, strict=True):
        assert line in table
        table = table.replace(line, wanted, 1)
    return f"{head}[rules.inventory_below_pledge]\n{table}"


@pytest.fixture
def lot(tmp_path: Path) -> tuple[str, str, float]:
    """(borrower, load cell, kg at `COVERAGE`) of a one-borrower fleet in the database."""
    riskstream("simulate", "fleet", "--borrowers", "1", "--seed", "4", cwd=tmp_path)
    riskstream("devices", "import", "fleet.yaml", "--db", "rs.db", cwd=tmp_path)
    riskstream("users", "add", "ria", "--tenant", "demo-bank", "--role", "risk_admin",
               "--db", "rs.db", cwd=tmp_path, env={"RISKSTREAM_NEW_PASSWORD": PASSWORD})  # fmt: skip
    fleet = load_fleet(tmp_path / "fleet.yaml")
    borrower = fleet.borrowers[0]
    lots = {c.id: c for loan in borrower.loans for c in loan.collateral}
    cell = next(
        d
        for d in borrower.devices
        if d.kind is DeviceKind.LOAD_CELL and d.collateral in lots
        and lots[d.collateral].unit in KG_PER_UNIT
    )  # fmt: skip
    collateral = lots[cell.collateral or ""]
    kg = COVERAGE * collateral.quantity * KG_PER_UNIT[collateral.unit]
    return borrower.id, cell.id, kg


@pytest.fixture
def cluster_processes(
    nats_cluster: NatsCluster, tmp_path: Path, lot: tuple[str, str, float]
) -> Iterator[str]:
    """An ingest worker, a risk worker and `serve --nats` on the loose rules: its URL."""
    asyncio.run(_fresh_topology(nats_cluster))
    (tmp_path / "rules.toml").write_text(rules_text(LOOSE))
    nats_url = ",".join(nats_cluster.nats_urls)
    port = free_port()
    env = {**os.environ, "RISKSTREAM_CHECKPOINT_KEY": KEY}
    commands = {
        "ingest": ["worker", "ingest", "--nats", nats_url, "--db", "rs.db", "--store",
                   f"duckdb:///{tmp_path}/i.duckdb", "--deadletter", "dead.jsonl",
                   "--nats-login", str(nats_cluster.login_file("ingest"))],
        "risk": ["worker", "risk", "--nats", nats_url, "--db", "rs.db", "--worker-id", "r1",
                 "--nats-login", str(nats_cluster.login_file("risk"))],
        "api": ["serve", "--nats", nats_url, "--db", "rs.db", "--rules", "rules.toml",
                "--port", str(port), "--nats-login", str(nats_cluster.login_file("api"))],
    }  # fmt: skip
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "riskstream", *args],
            cwd=tmp_path,
            env=env,
            stdout=(tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, args in commands.items()
    ]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


async def _device_messages(cluster: NatsCluster) -> int:
    nc = await nats.connect(servers=cluster.nats_urls, **admin_options(cluster))
    try:
        return (await nc.jetstream().stream_info(TELEMETRY_STREAM)).state.messages
    finally:
        await nc.close()


async def _service_rules_version(cluster: NatsCluster) -> int | None:
    nc = await nats.connect(servers=cluster.nats_urls, **admin_options(cluster))
    try:
        bucket = await nc.jetstream().key_value(RULES_BUCKET)
        entry = await bucket.get(SERVICE_RULES_KEY)
        return decode_rules_entry(entry.value or b"")[0]
    except nats.js.errors.KeyNotFoundError:
        return None
    finally:
        await nc.close()


def wait_for(what: str, found: Any, timeout_s: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = found()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f} s: {what}"
        time.sleep(0.5)


class Lot:
    """Publishes the load cell's readings, one a minute of event time, over MQTT."""

    def __init__(self, port: int, cell: str, kg: float, login: tuple[str, str]) -> None:
        self.port, self.cell, self.kg, self.login = port, cell, kg, login
        self.n = 0

    def report(self, minutes: int) -> tuple[float, float]:
        """(event time of the first reading, of the last)."""
        first = START + self.n * EVERY_S
        messages = []
        for _ in range(minutes):
            ts = START + self.n * EVERY_S
            payload = {"ts": ts, "seq": self.n + 1, "values": {"weight_kg": self.kg}}
            messages.append((f"rs/v1/demo-bank/{self.cell}/telemetry", orjson.dumps(payload)))
            self.n += 1
        publish_all(self.port, messages, 500.0, f"cell-{self.cell}", login=self.login)
        return first, START + (self.n - 1) * EVERY_S


def test_a_threshold_changed_through_the_api_raises_and_clears_in_a_running_worker(
    nats_cluster: NatsCluster, lot: tuple[str, str, float], cluster_processes: str
) -> None:
    borrower, cell, kg = lot
    mqtt_port = int(nats_cluster.mqtt_urls[0].rsplit(":", 1)[1])
    cell_lot = Lot(mqtt_port, cell, kg, device_login(nats_cluster, "demo-bank"))
    with httpx.Client(base_url=cluster_processes, timeout=10.0) as client:
        wait_for("the API answers", lambda: _answers(client))
        token = client.post("/api/token", data={"username": "ria", "password": PASSWORD})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        loose = wait_for("the service's rules in the bucket", lambda: asyncio.run(
            _service_rules_version(nats_cluster)))  # fmt: skip

        def inventory() -> list[dict[str, Any]]:
            items = client.get(f"/api/alerts?borrower={borrower}&limit=100", headers=headers)
            return [a for a in items.json()["items"] if a["kind"] == "inventory_below_pledge"]

        def stored(n: int) -> bool:
            return asyncio.run(_device_messages(nats_cluster)) >= n

        cell_lot.report(90)  # 1.5 h at 85 %: nothing under the loose rules
        wait_for("the device's messages in the telemetry stream", lambda: stored(90))
        changed = client.put("/api/rules", headers=headers, json={"text": rules_text(TIGHT)})
        assert changed.status_code == 200, changed.text
        tight = wait_for("the tight rules in the bucket", lambda: (
            (v := asyncio.run(_service_rules_version(nats_cluster))) and v > loose and v))  # fmt: skip
        first_tight, _ = cell_lot.report(60)
        raised = wait_for("inventory_below_pledge raised", inventory)
        assert len(raised) == 1 and raised[0]["status"] == "open"
        # raised on the tight rules, from the first reading after the change: not before
        assert first_tight <= raised[0]["opened_at"] < first_tight + 600

        wait_for("the device's messages in the telemetry stream", lambda: stored(150))
        back = client.put("/api/rules", headers=headers, json={"text": rules_text(LOOSE)})
        assert back.status_code == 200, back.text
        wait_for("the loose rules again in the bucket", lambda: (
            (v := asyncio.run(_service_rules_version(nats_cluster))) and v > tight))  # fmt: skip
        first_loose, _ = cell_lot.report(90)
        resolved = wait_for(
            "inventory_below_pledge resolved",
            lambda: [a for a in inventory() if a["status"] == "resolved"],
        )
        assert resolved[0]["id"] == raised[0]["id"]
        assert resolved[0]["updated_at"] >= first_loose + 3600  # its clear_after, 1 h


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False
