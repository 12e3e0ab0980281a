"""The shipped mosquitto ACL, broker logins, and MQTT 5 shared subscriptions."""

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from ingest.device_table import device_table
from ingest.service import IngestSettings, run_ingest
from ingest.subscriber import IngestRunner, MqttOptions
from tests.fleets import small_fleet
from tests.mosquitto_control import ControlledMosquitto
from tests.paho_publisher import publish_all, sequenced_payloads

pytestmark = pytest.mark.broker

SHIPPED_ACL = Path(__file__).resolve().parents[2] / "config" / "mosquitto.acl"


def password_file(path: Path, users: dict[str, str]) -> Path:
    binary = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    for i, (user, password) in enumerate(users.items()):
        flags = ["-b", "-c"] if i == 0 else ["-b"]
        subprocess.run([binary, *flags, str(path), user, password], check=True)
    return path


def rows(store: Path) -> list[tuple[str, int]]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return [
            (d, int(s)) for d, s in con.execute("SELECT device_id, seq FROM readings").fetchall()
        ]
    finally:
        con.close()


async def start(
    settings: IngestSettings, stop: asyncio.Event
) -> tuple[asyncio.Task[IngestRunner], IngestRunner]:
    ready: list[IngestRunner] = []
    task = asyncio.create_task(
        run_ingest(settings, device_table([small_fleet()]), stop, on_ready=ready.append)
    )
    deadline = time.monotonic() + 10
    while not ready or not ready[0].connected.is_set():
        if time.monotonic() > deadline or task.done():
            raise TimeoutError("ingest did not connect")
        await asyncio.sleep(0.05)
    return task, ready[0]


async def test_device_may_publish_only_under_its_own_topic(tmp_path: Path) -> None:
    passwd = password_file(
        tmp_path / "passwd", {"bank-a/b1-d1": "device-secret", "riskstream-ingest": "ingest-pw"}
    )
    broker = ControlledMosquitto(
        tmp_path,
        f"password_file {passwd}\nacl_file {SHIPPED_ACL}\n",
        persistent=False,
        anonymous=False,
    )
    broker.start()
    store = tmp_path / "t.duckdb"
    stop = asyncio.Event()
    task, _ = await start(
        IngestSettings(
            broker=broker.url,
            store=f"duckdb:///{store}",
            mqtt=MqttOptions(
                client_id="acl-ingest", username="riskstream-ingest", password="ingest-pw"
            ),
        ),
        stop,
    )
    now = time.time() - 100
    own = sequenced_payloads("bank-a", ("b1-d1",), 5, now)
    foreign = sequenced_payloads("bank-a", ("b2-d1",), 5, now)
    other_tenant = [(t.replace("bank-a", "bank-b"), p) for t, p in own]
    await asyncio.to_thread(
        publish_all,
        broker.port,
        own + foreign + other_tenant,
        500.0,
        "dev-b1-d1",
        ("bank-a/b1-d1", "device-secret"),
    )
    await asyncio.sleep(0.5)
    stop.set()
    runner = await task
    broker.stop()
    assert sorted(rows(store)) == [("b1-d1", s) for s in range(1, 6)]
    assert runner.readings_written == 5


async def test_wrong_password_is_refused_and_retried_without_crash(tmp_path: Path) -> None:
    passwd = password_file(tmp_path / "passwd", {"riskstream-ingest": "ingest-pw"})
    broker = ControlledMosquitto(
        tmp_path, f"password_file {passwd}\n", persistent=False, anonymous=False
    )
    broker.start()
    stop = asyncio.Event()
    settings = IngestSettings(
        broker=broker.url,
        store=f"duckdb:///{tmp_path}/t.duckdb",
        mqtt=MqttOptions(client_id="bad-login", username="riskstream-ingest", password="wrong"),
    )
    ready: list[IngestRunner] = []
    task = asyncio.create_task(
        run_ingest(settings, device_table([small_fleet()]), stop, on_ready=ready.append)
    )
    await asyncio.sleep(1.5)
    assert ready and not ready[0].connected.is_set()
    stop.set()
    await task
    broker.stop()


async def test_shared_subscription_splits_load_over_two_ingesters(tmp_path: Path) -> None:
    broker = ControlledMosquitto(tmp_path, persistent=False)
    broker.start()
    stop = asyncio.Event()
    started = []
    for name in ("one", "two"):
        started.append(
            await start(
                IngestSettings(
                    broker=broker.url,
                    store=f"duckdb:///{tmp_path}/{name}.duckdb",
                    mqtt=MqttOptions(client_id=f"share-{name}", share_group="ingest", protocol="5"),
                ),
                stop,
            )
        )
    messages = sequenced_payloads("bank-a", ("b1-d1", "b1-d2", "b2-d1"), 200, time.time() - 1000)
    await asyncio.to_thread(publish_all, broker.port, messages, 2000.0, "share-pub")
    deadline = time.monotonic() + 20
    while (
        sum(r.readings_written for _, r in started) < len(messages) and time.monotonic() < deadline
    ):
        await asyncio.sleep(0.05)
    stop.set()
    for task, _ in started:
        await task
    broker.stop()
    one, two = rows(tmp_path / "one.duckdb"), rows(tmp_path / "two.duckdb")
    assert one and two, "both ingesters took a share"
    assert len(one) + len(two) == len(messages)
    assert set(one).isdisjoint(two)


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=riskstream-test-ca",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
    )
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


async def test_tls_with_login(tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path)
    passwd = password_file(tmp_path / "passwd", {"riskstream-ingest": "ingest-pw", "gw": "gw-pw"})
    broker = ControlledMosquitto(
        tmp_path,
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\npassword_file {passwd}\n",
        persistent=False,
        anonymous=False,
    )
    broker.start()
    store = tmp_path / "t.duckdb"
    stop = asyncio.Event()
    task, runner = await start(
        IngestSettings(
            broker=f"mqtts://127.0.0.1:{broker.port}",
            store=f"duckdb:///{store}",
            mqtt=MqttOptions(
                client_id="tls-ingest",
                username="riskstream-ingest",
                password="ingest-pw",
                tls_ca=str(ca),
            ),
        ),
        stop,
    )
    messages = sequenced_payloads("bank-a", ("b1-d1",), 20, time.time() - 100)
    await asyncio.to_thread(
        publish_all, broker.port, messages, 200.0, "tls-gw", ("gw", "gw-pw"), str(ca)
    )
    deadline = time.monotonic() + 10
    while runner.readings_written < 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    broker.stop()
    assert sorted(rows(store)) == [("b1-d1", s) for s in range(1, 21)]
