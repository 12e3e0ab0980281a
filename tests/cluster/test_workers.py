"""Ingest and risk workers on a real 3-node NATS cluster: the alerts of `riskstream
backtest` for the same telemetry, none lost or repeated when a risk worker is killed
with -9 mid-stream, its partitions taken over within 30 s; the API tier stores them.

The day's double pledge takes goods from a lot of b004 (partition 1) to one of b006
(partition 5): the partitions pair it through the moves stream, and the worker killed is
the one owning the origin's partition, as soon as that partition has told the loss.

An API process (`riskstream serve --nats`) lists the same alerts from its database, shows
each borrower's live engine state as the risk workers sent it (the killed worker's
borrowers' from their new owner) equal to the engine's of one process on the same
telemetry, and a person's acknowledgement through it reaches the alert's partition."""

import asyncio
import json
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
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from devices.fleet_file import load_fleet
from riskstream.api.asset_views import collateral_out
from riskstream.api.live_view import coverage_points
from riskstream.backtest.replay import replay
from riskstream.backtest.telemetry_file import read_telemetry
from riskstream.cluster.layout import (
    ALERTS_STREAM,
    CHECKPOINTS_BUCKET,
    DEFAULT_PARTITIONS,
    LEASES_BUCKET,
    LIVE_BUCKET,
    MOVES_STREAM,
    RISK_STREAM,
    RULES_BUCKET,
    SETTINGS_BUCKET,
    TELEMETRY_STREAM,
    partition_of,
    risk_subject,
)
from riskstream.cluster.messages import decode_move, decode_risk
from riskstream.cluster.nats_servers import NatsCluster
from riskstream.cluster.risk_worker import RiskWorker, RiskWorkerConfig
from riskstream.cluster.topology import prepare_cluster
from riskstream.engine.core import Engine
from riskstream.engine.live_state import borrower_state
from riskstream.rules.schema import RuleSet
from riskstream.scoring.exposure import lot_values
from riskstream.service.local_broker import free_port
from tests.servers import admin_options, device_login

pytestmark = pytest.mark.slow

SEED = 6
START = 1_795_000_000.0
KEY = "cluster-test-key-0123456789abcdef0123"
PASSWORD = "officer-password-1"
TAKEOVER_S = 30.0
Found = tuple[str, str, str, float]


def riskstream(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "riskstream", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def _fresh_topology(cluster: NatsCluster) -> None:
    """Streams, consumers and buckets as `cluster up` makes them, with nothing in them."""
    nc = await nats.connect(servers=cluster.nats_urls, **admin_options(cluster))
    js = nc.jetstream()
    for stream in (TELEMETRY_STREAM, RISK_STREAM, ALERTS_STREAM, MOVES_STREAM):
        try:
            await js.delete_stream(stream)
        except nats.js.errors.NotFoundError:
            pass
    for bucket in (LEASES_BUCKET, RULES_BUCKET, LIVE_BUCKET):
        try:
            await js.delete_key_value(bucket)
        except nats.js.errors.NotFoundError:
            pass
    try:
        await js.delete_object_store(CHECKPOINTS_BUCKET)
    except nats.js.errors.NotFoundError:
        pass
    try:  # the ingest partitions' positions in the old telemetry stream
        settings = await js.key_value(SETTINGS_BUCKET)
        for key in await settings.keys():
            if key.startswith("position."):
                await settings.purge(key)
    except (nats.js.errors.BucketNotFoundError, nats.js.errors.NoKeysError):
        pass
    await nc.close()
    await prepare_cluster(cluster.nats_urls, cluster.replicas, login=cluster.login("admin"))


async def _cluster_state(
    cluster: NatsCluster,
) -> tuple[dict[str, int], list[dict[str, Any]], dict[str, str]]:
    """(messages per stream, every alert change in order, lease key -> owner)."""
    nc = await nats.connect(servers=cluster.nats_urls, **admin_options(cluster))
    js = nc.jetstream()
    counts = {
        s: (await js.stream_info(s)).state.messages
        for s in (TELEMETRY_STREAM, RISK_STREAM, ALERTS_STREAM, MOVES_STREAM)
    }
    changes: list[dict[str, Any]] = []
    alerts = (await js.stream_info(ALERTS_STREAM)).state
    for seq in range(max(alerts.first_seq, 1), alerts.last_seq + 1) if alerts.messages else ():
        for _attempt in range(20):  # a stream's leader may be moving: ask again
            try:
                message = await js.get_msg(ALERTS_STREAM, seq)
                break
            except (nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError):
                await asyncio.sleep(0.25)  # or the machine is too loaded to answer in time
        else:
            raise AssertionError(f"alert change {seq} unreadable")
        assert message.data is not None
        changes.append(json.loads(message.data))
    leases: dict[str, str] = {}
    kv = await js.key_value(LEASES_BUCKET)
    try:
        for key in await kv.keys():
            try:
                entry = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:  # handed back or expired meanwhile
                continue
            leases[key] = (entry.value or b"").decode()
    except nats.js.errors.NoKeysError:
        pass
    await nc.close()
    return counts, changes, leases


async def _losses_told(cluster: NatsCluster, collateral_id: str) -> int:
    """Losses of lot ``collateral_id`` on the moves stream."""
    nc = await nats.connect(servers=cluster.nats_urls, **admin_options(cluster))
    try:
        js = nc.jetstream()
        state = (await js.stream_info(MOVES_STREAM)).state
        found = 0
        for seq in range(max(state.first_seq, 1), state.last_seq + 1) if state.messages else ():
            message = await js.get_msg(MOVES_STREAM, seq)
            assert message.data is not None
            move = decode_move(message.data)
            found += move.collateral_id == collateral_id and move.delta_kg < 0
        return found
    finally:
        await nc.close()


def cluster_state(
    cluster: NatsCluster,
) -> tuple[dict[str, int], list[dict[str, Any]], dict[str, str]]:
    return asyncio.run(_cluster_state(cluster))


def leases_holding(cluster: NatsCluster, key: str) -> dict[str, str]:
    """The leases once ``key`` is held: a lease renewed late on a loaded machine expires
    and is taken again, and a read in between finds no holder (seen once in a full run)."""
    began = time.monotonic()
    while True:
        leases = cluster_state(cluster)[2]
        if key in leases:
            return leases
        assert time.monotonic() - began < TAKEOVER_S, f"no holder of {key}: {sorted(leases)}"
        time.sleep(0.2)


def final_alerts(changes: list[dict[str, Any]]) -> set[Found]:
    final = {c["id"]: c for c in changes}
    return {(a["kind"], a["borrower_id"], a["subject"], a["opened_at"]) for a in final.values()}


@pytest.fixture
def fleet_and_backtest(tmp_path: Path) -> tuple[Path, set[Found]]:
    riskstream("simulate", "fleet", "--borrowers", "6", "--seed", str(SEED), cwd=tmp_path)
    riskstream("devices", "import", "fleet.yaml", "--db", "rs.db", cwd=tmp_path)
    play = ["--fleet", "fleet.yaml", "--days", "1", "--start", str(START), "--seed", str(SEED)]
    riskstream(
        "simulate", "run", *play, "--scenario-rate", "0.6", "--out", "t.parquet", cwd=tmp_path
    )
    riskstream(
        "backtest",
        "--telemetry",
        "t.parquet",
        "--fleet",
        "fleet.yaml",
        "--out",
        "bt.jsonl",
        cwd=tmp_path,
    )
    alerts = [json.loads(line) for line in (tmp_path / "bt.jsonl").read_text().splitlines()]
    expected = {(a["kind"], a["borrower_id"], a["subject"], a["opened_at"]) for a in alerts}
    return tmp_path, expected


@pytest.fixture
def workers(
    nats_cluster: NatsCluster, tmp_path: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    asyncio.run(_fresh_topology(nats_cluster))
    nats_url = ",".join(nats_cluster.nats_urls)
    env = {**os.environ, "RISKSTREAM_CHECKPOINT_KEY": KEY}
    started: dict[str, subprocess.Popen[bytes]] = {}
    for name in ("i1", "i2"):
        started[name] = subprocess.Popen(
            [sys.executable, "-m", "riskstream", "worker", "ingest", "--nats", nats_url,
             "--db", "rs.db", "--store", f"duckdb:///{tmp_path}/{name}.duckdb",
             "--deadletter", f"{name}-dead.jsonl", "--worker-id", name,
             "--nats-login", str(nats_cluster.login_file("ingest"))],
            cwd=tmp_path, env=env, stdout=(tmp_path / f"{name}.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
    for name in ("r1", "r2", "r3"):
        started[name] = subprocess.Popen(
            [sys.executable, "-m", "riskstream", "worker", "risk", "--nats", nats_url,
             "--db", "rs.db", "--worker-id", name, "--checkpoint-every", "2",
             "--nats-login", str(nats_cluster.login_file("risk"))],
            cwd=tmp_path, env=env, stdout=(tmp_path / f"{name}.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield started
    finally:
        for process in started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def api_tier(nats_cluster: NatsCluster, tmp_path: Path) -> Iterator[str]:
    """`riskstream serve --nats` on the workers' database, with a risk admin: its URL."""
    port = free_port()
    riskstream("users", "add", "ria", "--tenant", "demo-bank", "--role", "risk_admin",
               "--db", "rs.db", cwd=tmp_path, env={"RISKSTREAM_NEW_PASSWORD": PASSWORD})  # fmt: skip
    api = subprocess.Popen(
        [sys.executable, "-m", "riskstream", "serve", "--nats", ",".join(nats_cluster.nats_urls),
         "--db", "rs.db", "--port", str(port), "--nats-login", str(nats_cluster.login_file("api"))],
        cwd=tmp_path, stdout=(tmp_path / "api.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(30)
        except subprocess.TimeoutExpired:
            api.kill()


def test_workers_raise_the_alerts_of_backtest_and_a_killed_risk_worker_loses_none(
    nats_cluster: NatsCluster,
    fleet_and_backtest: tuple[Path, set[Found]],
    workers: dict[str, subprocess.Popen[bytes]],
    api_tier: str,
) -> None:
    folder, expected = fleet_and_backtest
    kinds = {kind for kind, *_ in expected}
    assert len(kinds) >= 4, f"the day's scenarios must raise several kinds: {kinds}"
    pledge = next(e for e in expected if e[0] == "double_pledge")
    origin = partition_of("demo-bank", pledge[1], DEFAULT_PARTITIONS)
    assert (pledge[1], origin) == ("b004", 1)
    assert partition_of("demo-bank", "b006", DEFAULT_PARTITIONS) != origin
    play = ["--fleet", "fleet.yaml", "--days", "1", "--start", str(START), "--seed", str(SEED)]
    user, password = device_login(nats_cluster, "demo-bank")
    publisher = subprocess.Popen(
        [sys.executable, "-m", "riskstream", "simulate", "run", *play, "--scenario-rate", "0.6",
         "--broker", nats_cluster.mqtt_urls[1], "--truth", "truth-live.jsonl", "--username", user],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "RISKSTREAM_MQTT_PASSWORD": password},
    )  # fmt: skip
    deadline = time.monotonic() + 600  # the day is published in minutes on a loaded machine
    while asyncio.run(_losses_told(nats_cluster, pledge[2])) == 0:
        assert time.monotonic() < deadline, (
            f"the origin's partition told no loss: {cluster_state(nats_cluster)[0]}"
        )
        time.sleep(0.2)
    leases_before = leases_holding(nats_cluster, f"risk.p{origin}")
    victim = leases_before[f"risk.p{origin}"]
    victims_partitions = {
        int(k.removeprefix("risk.p"))
        for k, v in leases_before.items()
        if v == victim and k.startswith("risk.p")
    }
    workers[victim].kill()  # -9, mid-stream: its partitions have readings held and unsaved
    killed_at = time.monotonic()
    killed_wall = time.time()
    while True:  # its partitions are taken over while the devices go on publishing
        leases = cluster_state(nats_cluster)[2]
        risk = {k: v for k, v in leases.items() if k.startswith("risk.p")}
        if len(risk) == DEFAULT_PARTITIONS and victim not in risk.values():
            break
        assert time.monotonic() - killed_at < TAKEOVER_S, f"not taken over: {sorted(risk.items())}"
        time.sleep(0.5)
    taken_over = time.monotonic() - killed_at
    out, _ = publisher.communicate(timeout=300)
    assert publisher.returncode == 0, out
    published = int(out.split("published ")[1].split(" messages")[0].replace(",", ""))

    wanted = expected
    deadline = time.monotonic() + 240
    while True:
        counts, changes, _ = cluster_state(nats_cluster)
        if counts[TELEMETRY_STREAM] >= published and final_alerts(changes) >= wanted:
            time.sleep(6)  # anything late or repeated would show now
            counts, changes, _ = cluster_state(nats_cluster)
            break
        assert time.monotonic() < deadline, (
            f"streams {counts}: alerts {sorted(final_alerts(changes))}, backtest {sorted(expected)}"
        )
        time.sleep(1)
    print(f"partitions of the killed worker taken over after {taken_over:.1f} s")
    assert counts[TELEMETRY_STREAM] == published
    assert final_alerts(changes) == wanted
    repeated = [
        key
        for key, n in _count(
            (c["id"], c["status"], c["severity"], c["updated_at"]) for c in changes
        ).items()
        if n > 1
    ]
    assert repeated == [], f"alert changes stored twice: {repeated[:3]}"
    assert all(w.poll() is None for name, w in workers.items() if name != victim)
    _the_api_tier_shows_the_engines_live_state(
        api_tier, folder, victim, victims_partitions, killed_wall
    )
    _the_api_tier_lists_them_and_passes_an_acknowledgement_on(
        nats_cluster, api_tier, final_alerts(changes)
    )


def _engine_fields(body: dict[str, Any]) -> dict[str, Any]:
    keys = ("score", "computed_at", "reasons", "components", "matrix", "collateral")
    return {k: body[k] for k in keys}


def _the_api_tier_shows_the_engines_live_state(
    base: str, folder: Path, victim: str, victims_partitions: set[int], killed_wall: float
) -> None:
    """Every borrower's engine fields and coverage chart from `serve --nats` are those of
    one engine fed the same telemetry, scored at the same event time; the killed worker's
    borrowers' state comes from their new owner, sent after the kill."""
    fleet = load_fleet(folder / "fleet.yaml")
    engine = Engine([fleet], RuleSet())
    engine.coverage.keep_history()  # as a risk partition's engine does
    replay(engine, read_telemetry(folder / "t.parquet"), fleet.tenant.id)
    charted = 0

    def expected_chart(borrower_id: str, start: float, end: float) -> list[dict[str, Any]]:
        """The coverage chart of the engine's history, in the window the API chose."""
        state = borrower_state(engine, borrower_id)
        borrower = next(b for b in fleet.borrowers if b.id == borrower_id)
        chart = []
        for lot in lot_values(borrower, engine.coverage):
            if not engine.index.collateral[lot.collateral.id].load_cells:
                continue
            points = coverage_points(state.coverage_of(lot.collateral.id), start, end, 120)
            chart.append(
                {
                    "collateral_id": lot.collateral.id,
                    "unit": lot.collateral.unit,
                    "points": [{"ts": ts, "value": v} for ts, v in points],
                }
            )
        return chart

    def expected(borrower_id: str, computed_at: float) -> dict[str, Any]:
        borrower = next(b for b in fleet.borrowers if b.id == borrower_id)
        alerts = [a for a in engine.open_alerts() if a.borrower_id == borrower_id]
        risk = engine.scoring.score(fleet.tenant.id, borrower_id, alerts, computed_at, record=False)
        lots = [collateral_out(lot) for lot in lot_values(borrower, engine.coverage)]
        body = {**risk.to_dict(), "collateral": lots}
        return dict(json.loads(json.dumps(_engine_fields(body))))

    with httpx.Client(base_url=base, timeout=10.0) as client:
        token = client.post("/api/token", data={"username": "ria", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for borrower in fleet.borrowers:
            taken_over = partition_of("demo-bank", borrower.id, DEFAULT_PARTITIONS) in (
                victims_partitions
            )
            body: dict[str, Any] = {}
            deadline = time.monotonic() + 90  # a state changes within 2 s, refreshed each 30 s
            while time.monotonic() < deadline:
                body = client.get(f"/api/borrowers/{borrower.id}", headers=headers).json()
                state = body["live_state"]
                fresh = state["source"] == "risk_worker" and (
                    not taken_over
                    or (state["worker"] != victim and state["published_at"] > killed_wall)
                )
                chart = expected_chart(borrower.id, body["window_start"], body["window_end"])
                if (
                    fresh
                    and _engine_fields(body) == expected(borrower.id, body["computed_at"])
                    and body["coverage_history"] == chart
                ):
                    break
                time.sleep(1)
            assert body["live_state"]["source"] == "risk_worker", body["live_state"]
            assert 0 <= body["live_state"]["age_s"] < 120
            if taken_over:
                assert body["live_state"]["worker"] != victim
                assert body["live_state"]["published_at"] > killed_wall
            assert _engine_fields(body) == expected(borrower.id, body["computed_at"])
            # the coverage chart behind serve --nats is the engine's, after the takeover too
            assert body["coverage_history"] == chart
            charted += sum(len(series["points"]) for series in body["coverage_history"])
        assert any(b["score"] > 0 for b in _borrower_rows(client, headers))
    assert charted > 0, "no coverage chart to compare"


def _borrower_rows(client: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get("/api/borrowers", headers=headers).json()
    assert all(r["live_state"]["source"] == "risk_worker" for r in rows)
    return rows


def _the_api_tier_lists_them_and_passes_an_acknowledgement_on(
    cluster: NatsCluster, base: str, found: set[Found]
) -> None:
    with httpx.Client(base_url=base, timeout=10.0) as client:
        token = client.post("/api/token", data={"username": "ria", "password": PASSWORD})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        deadline = time.monotonic() + 30
        while True:
            items = client.get("/api/alerts?limit=1000", headers=headers).json()["items"]
            listed = {(a["kind"], a["borrower_id"], a["subject"], a["opened_at"]) for a in items}
            if listed == found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert listed == found
        still_open = [a for a in items if a["status"] == "open"]
        assert still_open, "the day left no alert open to acknowledge"
        alert = still_open[0]
        subject = risk_subject(partition_of("demo-bank", alert["borrower_id"], DEFAULT_PARTITIONS))
        actions = asyncio.run(
            _actions_after(cluster, subject, lambda: _acknowledge(client, headers, alert["id"]))
        )
    assert ("acknowledge", "demo-bank", alert["id"]) in actions


def _acknowledge(client: httpx.Client, headers: dict[str, str], alert_id: str) -> None:
    done = client.post(f"/api/alerts/{alert_id}/ack", headers=headers, json={"comment": "on it"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "acknowledged"


async def _actions_after(cluster: NatsCluster, subject: str, act: Any) -> set[tuple[str, ...]]:
    """The people's actions put on a risk partition's subject after ``act()``."""
    nc = await nats.connect(servers=cluster.nats_urls, **admin_options(cluster))
    try:
        js = nc.jetstream()
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW, inactive_threshold=30.0)
        subscription = await js.pull_subscribe(subject, stream=RISK_STREAM, config=config)
        await asyncio.to_thread(act)
        found: set[tuple[str, ...]] = set()
        deadline = time.monotonic() + 20
        while not found and time.monotonic() < deadline:
            try:
                messages = await subscription.fetch(500, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            for message in messages:
                found |= {tuple(a) for a in decode_risk(message.data).actions}
        return found
    finally:
        await nc.close()


def _count(keys: Any) -> dict[Any, int]:
    counted: dict[Any, int] = {}
    for key in keys:
        counted[key] = counted.get(key, 0) + 1
    return counted


async def _rebalance(cluster: NatsCluster) -> tuple[int, float]:
    """One risk worker owns every partition; a second joins. (partitions the second
    owns, seconds it took)."""
    await _fresh_topology(cluster)
    config = {
        "fleets": [],
        "rules": RuleSet(),
        "own_rules": {},
        "checkpoint_key": KEY.encode(),
        "login": cluster.login("risk"),
    }
    first = RiskWorker(cluster.nats_urls, RiskWorkerConfig(**config, worker_id="first"))
    second = RiskWorker(cluster.nats_urls, RiskWorkerConfig(**config, worker_id="second"))
    stop = asyncio.Event()
    runs = [asyncio.create_task(first.run(stop))]
    try:
        deadline = time.monotonic() + 30
        while len(first.owned) < DEFAULT_PARTITIONS:
            assert time.monotonic() < deadline, f"first owns {sorted(first.owned)}"
            await asyncio.sleep(0.2)
        runs.append(asyncio.create_task(second.run(stop)))
        joined = time.monotonic()
        while len(second.owned) < DEFAULT_PARTITIONS // 2 or set(first.owned) & set(second.owned):
            assert time.monotonic() - joined < TAKEOVER_S, (
                f"first {sorted(first.owned)}, second {sorted(second.owned)}"
            )
            await asyncio.sleep(0.2)
        return len(second.owned), time.monotonic() - joined
    finally:
        stop.set()
        await asyncio.gather(*runs)


def test_a_worker_that_joins_gets_its_share_of_partitions(nats_cluster: NatsCluster) -> None:
    owned, took = asyncio.run(_rebalance(nats_cluster))
    assert owned == DEFAULT_PARTITIONS // 2
    print(f"a joining risk worker owned {owned} partitions after {took:.1f} s")


async def _without_moves_stream(cluster: NatsCluster) -> None:
    await _fresh_topology(cluster)
    nc = await nats.connect(servers=cluster.nats_urls, **admin_options(cluster))
    try:
        await nc.jetstream().delete_stream(MOVES_STREAM)
    finally:
        await nc.close()


def test_a_risk_worker_on_a_cluster_without_the_moves_stream_says_what_to_do(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """A cluster made by an older `cluster up`: one line, exit code 2, and running
    `cluster up` again (here: the same `prepare_cluster`) adds the stream."""
    asyncio.run(_without_moves_stream(nats_cluster))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "riskstream", "worker", "risk", "--nats",
             ",".join(nats_cluster.nats_urls), "--db", "rs.db",
             "--nats-login", str(nats_cluster.login_file("risk"))],
            cwd=tmp_path, env={**os.environ, "RISKSTREAM_CHECKPOINT_KEY": KEY},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"no stream {MOVES_STREAM}" in done.stderr
        assert "cluster up" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        asyncio.run(
            prepare_cluster(
                nats_cluster.nats_urls, nats_cluster.replicas, login=nats_cluster.login("admin")
            )
        )
