"""`riskstream bench latency`: publish → alert on the SSE feed, under a fleet's full load.

A load process publishes one reading per device per second (QoS 1) for a fleet of
``--devices`` load cells through a local mosquitto (with ``--batch K``, each device
sends its last K one-second readings every K seconds, as a gateway forwarding
batches does, the gateways' phases spread over the K seconds: the same readings per
second in 1/K of the messages); the service
(ingest, engine, alert store, HTTP) runs in this process as `riskstream serve` would.
Probe vehicles then jump out of their geofence (the bench's rules alert on the first
position outside) and a client in another thread follows ``/api/alerts/stream``:
latency is the wall time from the probe's publish to the alert event on the feed.
"""

import asyncio
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import paho.mqtt.client as paho
import typer
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion

from devices.model import Fleet
from devices.registry import Registry
from riskstream.api.app import create_app
from riskstream.cli.terminal import command_console
from riskstream.service.database import open_service_database
from riskstream.service.local_broker import free_port, local_mosquitto, machine
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore

console = command_console()
TENANT = "bench"
CELLS_PER_BORROWER = 100
INSIDE = (50.10, 8.20)
OUTSIDE = (50.60, 8.20)
FENCE = [[50.0, 8.0], [50.0, 8.5], [50.3, 8.5], [50.3, 8.0]]
RULES = """
[rules.geofence_exit]
for = "0s"
clear_after = "0s"
[rules.inventory_below_pledge]
enabled = false
"""


def bench_fleet(devices: int, probes: int) -> Fleet:
    """Borrowers with 100 one-second load cells each, and one probe vehicle each."""
    borrowers = []
    n_borrowers = max(probes, -(-devices // CELLS_PER_BORROWER))
    for b in range(n_borrowers):
        bid = f"b{b:04d}"
        cells = range(b * CELLS_PER_BORROWER, min(devices, (b + 1) * CELLS_PER_BORROWER))
        borrowers.append(
            {
                "id": bid,
                "loans": [
                    {
                        "id": f"{bid}-l",
                        "principal": 1e6,
                        "collateral": [
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
                                "quantity": 1,
                                "unit": "vehicle",
                                "unit_value": 1e5,
                                "advance_rate": 0.6,
                                "site": f"{bid}-v",
                            },
                        ],
                    }
                ],
                "sites": [
                    {"id": f"{bid}-w", "kind": "warehouse"},
                    {"id": f"{bid}-v", "kind": "vehicle", "geofence": FENCE},
                ],
                "devices": [
                    {
                        "id": f"d{i:06d}",
                        "kind": "load_cell",
                        "site": f"{bid}-w",
                        "collateral": f"{bid}-c",
                        "interval_s": 1,
                    }
                    for i in cells
                ]
                + [
                    {
                        "id": f"{bid}-gps",
                        "kind": "gps_tracker",
                        "site": f"{bid}-v",
                        "collateral": f"{bid}-cv",
                        "interval_s": 3600,
                    }
                ],
            }
        )
    return Fleet.model_validate({"tenant": {"id": TENANT}, "borrowers": borrowers})


def publish_load(
    port: int,
    devices: int,
    seconds: float,
    sent: Any,
    batch: int,
    login: tuple[str, str] | None = None,
) -> None:
    """Child process: every device takes one reading per second, sent every ``batch`` s
    (logging in with ``login``, user name and password, when given)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-load")
    if login is not None:
        client.username_pw_set(*login)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    topics = [f"rs/v1/{TENANT}/d{i:06d}/telemetry" for i in range(devices)]
    began = time.time()
    second = 0
    while time.time() - began < seconds:
        now = time.time()
        # gateways are not synchronised: each second a 1/K share of the devices sends
        phase = second % batch
        count = 0
        for i in range(phase, devices, batch):
            readings = [
                {"ts": now - k, "seq": second + 1 - k, "values": {"weight_kg": 2e6 + i % 13}}
                for k in reversed(range(batch))
                if second - k >= 0
            ]
            body = readings[0] if len(readings) == 1 else readings
            client.publish(topics[i], orjson.dumps(body), qos=1)
            count += len(readings)
        with sent.get_lock():
            sent.value += count
        second += 1
        wait = began + second - time.time()
        if wait > 0:
            time.sleep(wait)
    client.disconnect()
    client.loop_stop()


def follow_feed(url: str, token: str, arrivals: dict[str, float], stop: threading.Event) -> None:
    """Thread: read the SSE feed, note when each probe's alert opens."""
    # the feed is open-ended: no read timeout, 10 s to connect
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
        client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        data = None
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("data:"):
                data = line[5:].strip()
            elif line == "" and data:
                alert = orjson.loads(data)
                if alert["kind"] == "geofence_exit" and alert["status"] == "open":
                    arrivals.setdefault(alert["device_id"], time.time())
                data = None


def latency(
    devices: Annotated[int, typer.Option(min=100, help="devices reporting every second")] = 5000,
    probes: Annotated[int, typer.Option(min=10, help="alerts to time")] = 100,
    warmup: Annotated[float, typer.Option(help="seconds of load before the first probe")] = 10.0,
    batch: Annotated[
        int,
        typer.Option(min=1, max=60, help="readings per message: each device sends every K s"),
    ] = 1,
) -> None:
    """p50 and p99 of publish → alert on the SSE feed while DEVICES report every second.

    \b
    Example: riskstream bench latency --devices 5000 --probes 100 --batch 10
    """
    asyncio.run(_run(devices, probes, warmup, batch))


async def _run(devices: int, probes: int, warmup: float, batch: int) -> None:
    fleet = bench_fleet(devices, probes)
    with tempfile.TemporaryDirectory(prefix="rs-bench-latency-") as tmp:
        work = Path(tmp)
        (work / "rules.toml").write_text(RULES)
        db = open_service_database(work / "rs.db")
        Registry(db).import_fleet(fleet)
        UserStore(db).add("bench", "bench-password", TENANT, "risk_admin")
        with local_mosquitto(work) as mqtt_port:
            runtime = Runtime(
                ServiceSettings(
                    broker=f"mqtt://127.0.0.1:{mqtt_port}",
                    store=f"duckdb:///{work}/t.duckdb",
                    database=str(work / "rs.db"),
                    rules=work / "rules.toml",
                    deadletter=None,
                )
            )
            http_port = free_port()
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(runtime), host="127.0.0.1", port=http_port, log_level="warning"
                )
            )
            async with runtime.running():
                serving = asyncio.create_task(server.serve())
                while not server.started:
                    if serving.done():
                        raise RuntimeError("the HTTP service did not start")
                    await asyncio.sleep(0.05)
                base = f"http://127.0.0.1:{http_port}"
                async with httpx.AsyncClient(base_url=base) as client:
                    login = await client.post(
                        "/api/token", data={"username": "bench", "password": "bench-password"}
                    )
                token = login.json()["access_token"]
                arrivals: dict[str, float] = {}
                stop = threading.Event()
                follower = threading.Thread(
                    target=follow_feed,
                    daemon=True,
                    args=(f"{base}/api/alerts/stream", token, arrivals, stop),
                )
                follower.start()
                duration = warmup + probes * 0.2 + 10
                sent = multiprocessing.get_context("spawn").Value("q", 0)
                load = multiprocessing.get_context("spawn").Process(
                    target=publish_load, args=(mqtt_port, devices, duration, sent, batch)
                )
                load.start()
                with console.status(f"{devices:,} devices at 1 Hz: warming up {warmup:.0f} s"):
                    await asyncio.sleep(warmup)
                counted_from = (time.monotonic(), runtime.engines.readings_processed)
                published = await asyncio.to_thread(probe_fences, mqtt_port, fleet, probes)
                await asyncio.sleep(3.0)
                rate = (runtime.engines.readings_processed - counted_from[1]) / (
                    time.monotonic() - counted_from[0]
                )
                load.join(duration + 30)
                stop.set()
                server.should_exit = True
                await serving
    latencies = [(arrivals[d] - t) * 1000 for d, t in published.items() if d in arrivals]
    missing = len(published) - len(latencies)
    console.print(f"machine: {machine()}; mosquitto QoS 1; service and load on this machine")
    console.print(
        f"load: {devices:,} devices × 1 reading/s, {batch} reading(s) per message; service "
        f"ingested {rate:,.0f} readings/s while probing; {sent.value:,} readings sent"
    )
    if not latencies:
        console.print(f"[red]no probe alert arrived ({missing} missing)[/red]")
        raise typer.Exit(1)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    console.print(
        f"publish → SSE alert over {len(latencies)} probes: "
        f"p50 {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms, "
        f"max {latencies[-1]:.0f} ms (target p99 ≤ 250 ms)"
        + (f"; {missing} probes never arrived" if missing else "")
    )


def probe_fences(port: int, fleet: Fleet, probes: int) -> dict[str, float]:
    """Move each probe vehicle out of its fence, one every 200 ms; return publish times."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-probe")
    client.connect("127.0.0.1", port)
    client.loop_start()
    published: dict[str, float] = {}
    for borrower in fleet.borrowers[:probes]:
        device = f"{borrower.id}-gps"
        topic = f"rs/v1/{TENANT}/{device}/telemetry"
        now = time.time()
        body = {"ts": now, "seq": 1, "values": {"lat_deg": OUTSIDE[0], "lon_deg": OUTSIDE[1]}}
        published[device] = time.time()
        client.publish(topic, orjson.dumps(body), qos=1)
        time.sleep(0.2)
    client.disconnect()
    client.loop_stop()
    return published


def register(bench_app: typer.Typer) -> None:
    """Add `bench latency`."""
    bench_app.command("latency")(latency)
