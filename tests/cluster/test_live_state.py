"""Borrowers' live state on a real 3-node cluster: `riskstream serve --nats` shows each
lender only the state filed under its own borrowers (its coverage chart too), says how
old it is, and refuses a state filed under another borrower's key or with a coverage
history that cannot be true; the cluster refuses one over its entry limit; only the risk
workers may write the bucket.

Two lenders use the same borrower ids (b001, b002). The states are put in the bucket as
the `risk` user, as a risk worker does (the workers' own sending is in
`test_workers.py`)."""

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import pytest

from devices.fleet_file import load_fleet
from riskstream.cluster.layout import LIVE_BUCKET, live_state_key
from riskstream.cluster.nats_servers import NatsCluster
from riskstream.engine.coverage_history import BUCKET_S, LotHistory
from riskstream.engine.live_state import MAX_STATE_BYTES, BorrowerState, LotState, encode_state
from riskstream.service.local_broker import free_port
from tests.cluster.test_rules_live import wait_for
from tests.cluster.test_workers import _fresh_topology, riskstream

pytestmark = pytest.mark.slow

T0 = 1_795_000_000.0
AGE_S = 100.0
PASSWORD = "officer-password-1"


@pytest.fixture
def two_lenders(nats_cluster: NatsCluster, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """bank-a and bank-b, the same borrower ids, a risk admin each; `serve --nats`."""
    asyncio.run(_fresh_topology(nats_cluster))
    for tenant, user in (("bank-a", "anna"), ("bank-b", "bob")):
        riskstream("simulate", "fleet", "--borrowers", "2", "--seed", "3", "--tenant", tenant,
                   "--out", f"{tenant}.yaml", cwd=tmp_path)  # fmt: skip
        riskstream("devices", "import", f"{tenant}.yaml", "--db", "rs.db", cwd=tmp_path)
        riskstream("users", "add", user, "--tenant", tenant, "--role", "risk_admin",
                   "--db", "rs.db", cwd=tmp_path, env={"RISKSTREAM_NEW_PASSWORD": PASSWORD})  # fmt: skip
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "riskstream", "serve", "--nats", ",".join(nats_cluster.nats_urls),
         "--db", "rs.db", "--port", str(port), "--nats-login", str(nats_cluster.login_file("api"))],
        cwd=tmp_path, stdout=(tmp_path / "api.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(30)
        except subprocess.TimeoutExpired:
            api.kill()


def _state(folder: Path, tenant: str, borrower_id: str, score: float) -> BorrowerState:
    """A state of ``tenant``'s borrower with its first lot at half its pledge."""
    fleet = load_fleet(folder / f"{tenant}.yaml")
    borrower = next(b for b in fleet.borrowers if b.id == borrower_id)
    lot = borrower.loans[0].collateral[0]
    return BorrowerState(
        tenant=tenant, borrower_id=borrower_id, score=score, computed_at=T0,
        reasons=[f"{tenant} reason"], components={"scorecard": score},
        matrix={"segment": "default", "score": score, "notes": [], "components": []},
        history=[(T0 - 60, 1.0), (T0, score)],
        lots=[LotState(lot.id, lot.quantity / 2, lot.quantity, lot.unit)],
        published_at=time.time() - AGE_S, worker=f"worker-of-{tenant}",
    )  # fmt: skip


async def _put(cluster: NatsCluster, role: str, entries: dict[str, bytes]) -> None:
    nc = await nats.connect(servers=cluster.nats_urls, **cluster.login(role).connect_options())
    try:
        bucket = await nc.jetstream().key_value(LIVE_BUCKET)
        for key, value in entries.items():
            await bucket.put(key, value)
    finally:
        await nc.close()


def _login(client: httpx.Client, user: str) -> dict[str, str]:
    def token() -> Any:
        try:
            done = client.post("/api/token", data={"username": user, "password": PASSWORD})
        except httpx.TransportError:
            return None
        return done.json()["access_token"] if done.status_code == 200 else None

    return {"Authorization": f"Bearer {wait_for('the API answers', token)}"}


def test_each_lender_sees_only_its_own_borrowers_live_state(
    nats_cluster: NatsCluster, two_lenders: tuple[str, Path]
) -> None:
    base, folder = two_lenders
    a1, b1 = _state(folder, "bank-a", "b001", 11.0), _state(folder, "bank-b", "b001", 77.0)
    forged = _state(folder, "bank-b", "b002", 99.0)
    asyncio.run(
        _put(
            nats_cluster,
            "risk",
            {
                live_state_key("bank-a", "b001"): encode_state(a1),
                live_state_key("bank-b", "b001"): encode_state(b1),
                live_state_key("bank-a", "b002"): encode_state(forged),  # bank-b's, misfiled
            },
        )
    )
    with httpx.Client(base_url=base, timeout=10.0) as client:
        anna, bob = _login(client, "anna"), _login(client, "bob")

        def detail(headers: dict[str, str], borrower_id: str) -> Any:
            body = client.get(f"/api/borrowers/{borrower_id}", headers=headers).json()
            return body if body["live_state"]["source"] == "risk_worker" else None

        mine = wait_for("bank-a's state reaches the API", lambda: detail(anna, "b001"))
        theirs = wait_for("bank-b's state reaches the API", lambda: detail(bob, "b001"))
        assert (mine["tenant"], mine["score"], mine["reasons"]) == (
            "bank-a",
            11.0,
            ["bank-a reason"],
        )
        assert (theirs["tenant"], theirs["score"]) == ("bank-b", 77.0)
        assert mine["live_state"]["worker"] == "worker-of-bank-a"
        assert AGE_S <= mine["live_state"]["age_s"] < AGE_S + 300
        assert mine["score_history"] == [{"ts": T0 - 60, "value": 1.0}, {"ts": T0, "value": 11.0}]
        lot = next(c for c in mine["collateral"] if c["id"] == a1.lots[0].collateral_id)
        assert (lot["on_hand"], lot["coverage"]) == (a1.lots[0].on_hand, 0.5)
        # the misfiled state of bank-b is shown to no one under bank-a's b002
        other = client.get("/api/borrowers/b002", headers=anna).json()
        assert other["live_state"]["source"] == "none" and other["score"] is None
        risk = client.get("/api/borrowers/b001/risk", headers=anna).json()
        assert (risk["score"], risk["live_state"]["source"]) == (11.0, "risk_worker")
        rows = {r["borrower_id"]: r for r in client.get("/api/borrowers", headers=bob).json()}
        assert rows["b001"]["score"] == 77.0 and rows["b002"]["live_state"]["source"] == "none"
        assert rows["b002"]["score"] is None
        page = client.get("/api/portfolio", headers=anna).json()
        scores = {r["borrower_id"]: r["score"] for r in page["items"]}
        assert scores["b001"] == 11.0 and 77.0 not in scores.values()
        assert page["event_time"] == T0


def test_only_the_risk_workers_may_write_the_live_states(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    state = msgspec.json.encode({"forged": True})
    for role in ("api", "ingest"):
        with pytest.raises((nats.errors.Error, nats.js.errors.Error, TimeoutError)):
            asyncio.run(_put(nats_cluster, role, {live_state_key("bank-a", "b001"): state}))


def _weighed_lot(folder: Path, tenant: str, borrower_id: str) -> str:
    """The first lot of ``tenant``'s borrower that a load cell weighs."""
    fleet = load_fleet(folder / f"{tenant}.yaml")
    borrower = next(b for b in fleet.borrowers if b.id == borrower_id)
    return next(d.collateral for d in borrower.devices if d.kind == "load_cell" and d.collateral)


def _with_history(state: BorrowerState, lot: str, values: list[float | None]) -> BorrowerState:
    start = T0 - len(values) * BUCKET_S
    history = LotHistory(lot, start, BUCKET_S, values)
    return msgspec.structs.replace(state, coverage_history=[history])


def test_the_coverage_chart_behind_serve_nats_is_each_lenders_own_and_a_hostile_one_is_refused(
    nats_cluster: NatsCluster, two_lenders: tuple[str, Path]
) -> None:
    base, folder = two_lenders
    lot = _weighed_lot(folder, "bank-a", "b001")
    assert lot == _weighed_lot(folder, "bank-b", "b001")  # same seed: the same lot ids
    mine = _with_history(_state(folder, "bank-a", "b001", 11.0), lot, [None, 0.9, 0.8, 0.7])
    theirs = _state(folder, "bank-b", "b001", 77.0)  # sent no history
    key_a, key_b = live_state_key("bank-a", "b001"), live_state_key("bank-b", "b001")
    asyncio.run(
        _put(nats_cluster, "risk", {key_a: encode_state(mine), key_b: encode_state(theirs)})
    )
    first = T0 - 3 * BUCKET_S
    chart = [{"ts": first + k * BUCKET_S, "value": v} for k, v in enumerate((0.9, 0.8, 0.7))]
    with httpx.Client(base_url=base, timeout=10.0) as client:
        anna, bob = _login(client, "anna"), _login(client, "bob")

        def lot_chart(headers: dict[str, str], score: float) -> Any:
            body = client.get("/api/borrowers/b001", headers=headers).json()
            if body["score"] != score:
                return None
            return next(s["points"] for s in body["coverage_history"] if s["collateral_id"] == lot)

        assert wait_for("bank-a's chart reaches the API", lambda: lot_chart(anna, 11.0)) == chart
        assert wait_for("bank-b's state reaches the API", lambda: lot_chart(bob, 77.0) == [])

        # a hostile state (coverage 5,000 × the pledge) is refused, the one before stays;
        # a later good state of b002 shows the watch has read past it
        hostile = _with_history(_state(folder, "bank-a", "b001", 99.0), lot, [5000.0])
        later = _state(folder, "bank-a", "b002", 22.0)
        asyncio.run(
            _put(
                nats_cluster,
                "risk",
                {
                    key_a: encode_state(hostile),
                    live_state_key("bank-a", "b002"): encode_state(later),
                },
            )
        )

        def b002_score() -> Any:
            return client.get("/api/borrowers/b002", headers=anna).json()["score"] == 22.0

        wait_for("bank-a's b002 reaches the API", b002_score)
        assert lot_chart(anna, 11.0) == chart
        # one over the bucket's entry limit is refused by the cluster itself
        oversized = _with_history(mine, lot, [0.5] * 40)
        data = encode_state(oversized)[:-1] + b" " * MAX_STATE_BYTES + b"}"
        with pytest.raises((nats.errors.Error, nats.js.errors.Error)):
            asyncio.run(_put(nats_cluster, "risk", {key_a: data}))
        assert lot_chart(anna, 11.0) == chart
    assert "refused" in (folder / "api.log").read_text()
