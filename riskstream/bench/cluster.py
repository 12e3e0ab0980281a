"""`riskstream bench cluster`: readings/s and publish → alert latency through a NATS
JetStream cluster with 1…N risk workers, against single-process `riskstream serve`, in
one run on this machine.

Every configuration gets the same fleet (``--devices`` one-second load cells and one
probe vehicle per borrower, as `bench latency`), a fresh service and fresh streams, and
is measured twice, end to end (MQTT publish → alert on the API's live feed):

* **latency**: while the devices report once a second, probe vehicles jump out of
  their geofence one every 200 ms; p50/p99 from the probe's publish to its alert on
  ``/api/alerts/stream``;
* **throughput**: a burst of ``--burst`` readings per device published as fast as
  MQTT QoS 1 takes them, then one more probe per borrower; readings/s is the burst's
  readings over the time from its first publish to the last probe's alert (each
  partition applies its readings in order, so the last probe's alert comes after
  every reading before it).

Every process (NATS nodes, workers, API, publisher) shares this machine's cores: the
figures say what scales here, not on a cluster of machines.
"""

import asyncio
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import nats
import orjson
import paho.mqtt.client as paho
import typer
from paho.mqtt.enums import CallbackAPIVersion

from devices.model import Fleet
from devices.registry import Registry
from riskstream.bench.latency import FENCE, OUTSIDE, RULES, TENANT, follow_feed, publish_load
from riskstream.cli.terminal import command_console
from riskstream.cluster.layout import LEASES_BUCKET
from riskstream.cluster.logins import NatsLogin
from riskstream.cluster.nats_servers import NatsCluster
from riskstream.cluster.permissions import ADMIN, API, INGEST, RISK, device_user
from riskstream.cluster.topology import prepare_cluster
from riskstream.engine.checkpoint_key import ENV_VAR
from riskstream.service.database import open_service_database
from riskstream.service.local_broker import free_port, local_mosquitto, machine
from riskstream.service.users import UserStore

console = command_console()
PASSWORD = "bench-password"  # noqa: S105 (a throw-away user of a temporary service)
READY_S = 90.0
PROBE_GAP_S = 0.2
BURST_PROBE_GAP_S = 0.02


def cluster_fleet(devices: int, borrowers: int) -> Fleet:
    """``borrowers`` borrowers sharing ``devices`` one-second load cells evenly (so every
    partition carries load), each with two vehicles: ``-gps-a`` probed for latency,
    ``-gps-b`` after the burst."""
    rows = []
    for b in range(borrowers):
        bid = f"b{b:04d}"
        cells = [
            {
                "id": f"d{i:06d}",
                "kind": "load_cell",
                "site": f"{bid}-w",
                "collateral": f"{bid}-c",
                "interval_s": 1,
            }
            for i in range(b, devices, borrowers)
        ]
        vehicles = [
            {
                "id": f"{bid}-gps-{tag}",
                "kind": "gps_tracker",
                "site": f"{bid}-v",
                "collateral": f"{bid}-cv",
                "interval_s": 3600,
            }
            for tag in ("a", "b")
        ]
        collateral = [
            {
                "id": f"{bid}-c",
                "quantity": 1000,
                "unit": "t",
                "unit_value": 1000,
                "advance_rate": 0.6,
                "site": f"{bid}-w",
            },
            {
                "id": f"{bid}-cv",
                "quantity": 2,
                "unit": "vehicle",
                "unit_value": 1e5,
                "advance_rate": 0.6,
                "site": f"{bid}-v",
            },
        ]
        rows.append(
            {
                "id": bid,
                "loans": [{"id": f"{bid}-l", "principal": 1e6, "collateral": collateral}],
                "sites": [
                    {"id": f"{bid}-w", "kind": "warehouse"},
                    {"id": f"{bid}-v", "kind": "vehicle", "geofence": FENCE},
                ],
                "devices": cells + vehicles,
            }
        )
    return Fleet.model_validate({"tenant": {"id": TENANT}, "borrowers": rows})


@dataclass
class Figures:
    """One configuration's measurements."""

    name: str
    readings_per_s: float
    burst_readings: int
    p50_ms: float
    p99_ms: float
    probes: int
    missing: int


def _riskstream(args: list[str], log: Path, env: dict[str, str] | None = None) -> Any:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 (this interpreter, our own command)
            [sys.executable, "-m", "riskstream", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )


@contextlib.contextmanager
def _processes() -> Iterator[list[Any]]:
    children: list[Any] = []
    try:
        yield children
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()


Login = tuple[str, str] | None
"""MQTT user name and password of the devices (the cluster's ``devices-{tenant}``)."""


def _connected(port: int, client_id: str, login: Login) -> paho.Client:
    """A started MQTT client whose CONNECT the broker accepted."""
    accepted = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if login is not None:
        client.username_pw_set(*login)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            accepted.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not accepted.wait(30):
        client.loop_stop()
        raise RuntimeError(f"MQTT broker on port {port} did not accept {client_id}")
    return client


def _burst(
    port: int, devices: int, readings: int, first_seq: int, began: Any, login: Login
) -> None:
    """Child process: ``readings`` readings per device, as fast as QoS 1 takes them."""
    client = _connected(port, "bench-burst", login)
    topics = [f"rs/v1/{TENANT}/d{i:06d}/telemetry" for i in range(devices)]
    began.value = time.time()
    last = None
    for k in range(readings):
        now = time.time()
        for i in range(devices):
            body = {"ts": now, "seq": first_seq + k, "values": {"weight_kg": 2e6 + i % 13}}
            last = client.publish(topics[i], orjson.dumps(body), qos=1)
    if last is not None:
        last.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def _probe(port: int, vehicles: list[str], gap_s: float, login: Login) -> dict[str, float]:
    """Move each vehicle out of its fence, one every ``gap_s``; return the publish times."""
    # NATS refuses MQTT client ids with a dot
    client = _connected(port, f"bench-probe-{round(gap_s * 1000)}ms", login)
    published: dict[str, float] = {}
    for device in vehicles:
        body = {
            "ts": time.time(),
            "seq": 1,
            "values": {"lat_deg": OUTSIDE[0], "lon_deg": OUTSIDE[1]},
        }
        published[device] = time.time()
        client.publish(f"rs/v1/{TENANT}/{device}/telemetry", orjson.dumps(body), qos=1)
        time.sleep(gap_s)
    client.disconnect()
    client.loop_stop()
    return published


async def _login(base: str) -> str:
    deadline = time.monotonic() + READY_S
    async with httpx.AsyncClient(base_url=base, timeout=5.0) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                response = await client.post(
                    "/api/token", data={"username": "bench", "password": PASSWORD}
                )
                if response.status_code == 200:
                    token: str = response.json()["access_token"]
                    return token
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API at {base} did not answer in {READY_S:.0f} s")
            await asyncio.sleep(0.3)


async def _measure(
    name: str,
    mqtt: tuple[int, Login],
    base: str,
    fleet: Fleet,
    devices: int,
    probes: int,
    burst: int,
) -> Figures:
    """Latency under load, then a burst; the service is up and owns its partitions."""
    mqtt_port, login = mqtt
    token = await _login(base)
    arrivals: dict[str, float] = {}
    stop = threading.Event()
    threading.Thread(
        target=follow_feed,
        daemon=True,
        args=(f"{base}/api/alerts/stream", token, arrivals, stop),
    ).start()
    spawn = multiprocessing.get_context("spawn")
    warmup = 5.0
    duration = warmup + probes * PROBE_GAP_S + 5
    sent = spawn.Value("q", 0)
    load = spawn.Process(target=publish_load, args=(mqtt_port, devices, duration, sent, 1, login))
    load.start()
    with console.status(f"{name}: {devices:,} devices at 1 Hz, then {probes} probes"):
        await asyncio.sleep(warmup)
        vehicles = [f"{b.id}-gps-a" for b in fleet.borrowers]
        published = await asyncio.to_thread(_probe, mqtt_port, vehicles, PROBE_GAP_S, login)
        load.join(duration + 30)
        await _wait_for(arrivals, published, 30.0)
    latencies = sorted((arrivals[d] - t) * 1000 for d, t in published.items() if d in arrivals)
    began = spawn.Value("d", 0.0)
    first_seq = int(duration) + 10
    burster = spawn.Process(
        target=_burst, args=(mqtt_port, devices, burst, first_seq, began, login)
    )
    with console.status(f"{name}: a burst of {burst * devices:,} readings"):
        burster.start()
        await asyncio.to_thread(burster.join, 600)
        vehicles = [f"{b.id}-gps-b" for b in fleet.borrowers]
        last_probes = await asyncio.to_thread(_probe, mqtt_port, vehicles, BURST_PROBE_GAP_S, login)
        await _wait_for(arrivals, last_probes, 300.0)
    stop.set()
    done = [arrivals[d] for d in last_probes if d in arrivals]
    readings = burst * devices
    rate = readings / (max(done) - began.value) if done else 0.0
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return Figures(
        name=name,
        readings_per_s=rate,
        burst_readings=readings,
        p50_ms=statistics.median(latencies) if latencies else 0.0,
        p99_ms=p99,
        probes=len(latencies),
        missing=len(published) - len(latencies) + len(last_probes) - len(done),
    )


async def _wait_for(arrivals: dict[str, float], published: dict[str, float], wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if all(d in arrivals for d in published):
            return
        await asyncio.sleep(0.1)


def _prepare(work: Path, fleet: Fleet) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / "rules.toml").write_text(RULES)
    db = open_service_database(work / "rs.db")
    Registry(db).import_fleet(fleet)
    UserStore(db).add("bench", PASSWORD, TENANT, "risk_admin")
    db.dispose()
    return work / "rs.db"


async def _single(work: Path, fleet: Fleet, devices: int, probes: int, burst: int) -> Figures:
    db = _prepare(work, fleet)
    http_port = free_port()
    with local_mosquitto(work) as mqtt_port, _processes() as children:
        children.append(
            _riskstream(
                [
                    "serve",
                    f"--broker=mqtt://127.0.0.1:{mqtt_port}",
                    f"--store=duckdb:///{work}/t.duckdb",
                    f"--db={db}",
                    f"--rules={work / 'rules.toml'}",
                    f"--port={http_port}",
                ],
                work / "serve.log",
            )
        )
        return await _measure(
            "serve",
            (mqtt_port, None),
            f"http://127.0.0.1:{http_port}",
            fleet,
            devices,
            probes,
            burst,
        )


async def _owned(
    urls: list[str], partitions: int, roles: tuple[str, ...], admin: NatsLogin
) -> None:
    """Wait until every partition of each role has an owner."""
    nc = await nats.connect(servers=urls, **admin.connect_options())
    try:
        kv = await nc.jetstream().key_value(LEASES_BUCKET)
        deadline = time.monotonic() + READY_S
        while True:
            with contextlib.suppress(Exception):
                keys = await kv.keys()
                if all(
                    sum(k.startswith(f"{role}.p") for k in keys) == partitions for role in roles
                ):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"partitions not owned within {READY_S:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await nc.close()


async def _clustered(
    work: Path, fleet: Fleet, devices: int, probes: int, burst: int, risk: int, ingest: int
) -> Figures:
    db = _prepare(work, fleet)
    cluster = NatsCluster.plan(work / "nats", 3, 0)
    cluster.add_tenants([TENANT])
    cluster.start()
    try:
        urls = cluster.nats_urls
        admin = cluster.login(ADMIN)
        partitions = await prepare_cluster(urls, cluster.replicas, login=admin)
        nats_arg = ",".join(urls)
        http_port = free_port()
        key = {ENV_VAR: os.urandom(24).hex()}
        with _processes() as children:
            for k in range(ingest):
                children.append(
                    _riskstream(
                        [
                            "worker",
                            "ingest",
                            f"--nats={nats_arg}",
                            f"--db={db}",
                            f"--store=duckdb:///{work}/t{k}.duckdb",
                            f"--deadletter={work}/dead{k}.jsonl",
                            f"--nats-login={cluster.login_file(INGEST)}",
                        ],
                        work / f"ingest{k}.log",
                    )
                )
            for k in range(risk):
                children.append(
                    _riskstream(
                        [
                            "worker",
                            "risk",
                            f"--nats={nats_arg}",
                            f"--db={db}",
                            f"--rules={work / 'rules.toml'}",
                            f"--nats-login={cluster.login_file(RISK)}",
                        ],
                        work / f"risk{k}.log",
                        key,
                    )
                )
            children.append(
                _riskstream(
                    [
                        "serve",
                        f"--nats={nats_arg}",
                        f"--db={db}",
                        # the API tier's rules are the cluster's: it puts them in force in
                        # every risk partition, over the workers' own --rules
                        f"--rules={work / 'rules.toml'}",
                        f"--port={http_port}",
                        f"--nats-login={cluster.login_file(API)}",
                    ],
                    work / "serve.log",
                )
            )
            with console.status(f"cluster: {risk} risk worker(s) taking partitions"):
                await _owned(urls, partitions, ("ingest", "risk"), admin)
            device = cluster.login(device_user(TENANT))
            mqtt: tuple[int, Login] = (cluster.ports[0].mqtt, (device.user, device.password))
            name = f"cluster, {ingest} ingest + {risk} risk worker{'s' if risk > 1 else ''}"
            return await _measure(
                name, mqtt, f"http://127.0.0.1:{http_port}", fleet, devices, probes, burst
            )
    finally:
        cluster.stop()


def bench_cluster(
    risk_workers: Annotated[
        int, typer.Option(min=1, max=8, help="measure with 1, 2, … up to N risk workers")
    ] = 2,
    ingest_workers: Annotated[int, typer.Option(min=1, max=8, help="ingest workers")] = 1,
    devices: Annotated[int, typer.Option(min=100, help="devices reporting every second")] = 500,
    probes: Annotated[int, typer.Option(min=10, help="alerts to time")] = 50,
    burst: Annotated[int, typer.Option(min=1, help="readings per device in the burst")] = 20,
    work_dir: Annotated[
        Path | None, typer.Option(help="keep the logs here (default: a temporary directory)")
    ] = None,
) -> None:
    """Readings/s and publish → alert p50/p99 through a 3-node NATS cluster with 1…N risk
    workers, against single-process `serve`, in one run.

    \b
    Example: riskstream bench cluster --risk-workers 2 --devices 500
    """
    fleet = cluster_fleet(devices, probes)
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="rs-bench-cluster-") as tmp:
        root = work_dir or Path(tmp)
        results.append(asyncio.run(_single(root / "serve", fleet, devices, probes, burst)))
        _show(results[-1])
        for risk in range(1, risk_workers + 1):
            results.append(
                asyncio.run(
                    _clustered(
                        root / f"cluster-{risk}",
                        fleet,
                        devices,
                        probes,
                        burst,
                        risk,
                        ingest_workers,
                    )
                )
            )
            _show(results[-1])
    base = results[0].readings_per_s
    console.print(f"machine: {machine()}; every process on this machine; MQTT QoS 1")
    console.print(
        f"{'configuration':<44} {'readings/s':>11} {'vs serve':>9} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for r in results:
        ratio = r.readings_per_s / base if base else 0.0
        console.print(
            f"{r.name:<44} {r.readings_per_s:>11,.0f} {ratio:>8.2f}× "
            f"{r.p50_ms:>7.0f} {r.p99_ms:>7.0f}"
            + (f"  ({r.missing} probe alerts missing)" if r.missing else "")
        )
    if any(r.missing for r in results):
        raise typer.Exit(1)


def _show(r: Figures) -> None:
    console.print(
        f"{r.name}: {r.readings_per_s:,.0f} readings/s over a burst of {r.burst_readings:,} "
        f"readings; publish → alert p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms "
        f"over {r.probes} probes"
    )


def register(bench_app: typer.Typer) -> None:
    """Add `bench cluster`."""
    bench_app.command("cluster")(bench_cluster)
