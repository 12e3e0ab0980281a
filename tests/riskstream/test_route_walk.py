"""Walk every operation of /openapi.json as each role of bank-a, aimed at bank-b's ids.

Twice: once with bank-b's ids its own, once with bank-b registering exactly bank-a's ids
(then bank-a's users reach their own borrower b1 and nothing of bank-b's b1).

A new route is covered without editing this test: path, query and body values are made
from the parameter and field names (an id field gets bank-b's id of that kind). Every
call is made twice, once with bank-b's ids and once with ids nobody has ("ghost"); the
two must answer the same status (no hint that bank-b's exist), no answer may carry
anything of bank-b but what the caller sent, no answer may be a 500, and afterwards
bank-b's alerts, rules and loan events are as they were.
"""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import riskstream.api.app as api_module
from devices.model import Fleet
from devices.registry import Registry
from ingest.stores import open_store
from riskstream.api.app import create_app
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore
from simulator import generate_fleet
from tests.fleets import small_fleet
from tests.riskstream.test_api_access import alert
from tests.servers import app_serving

ROLES = {"rita": "rita-password", "anna": "anna-password", "otto": "otto-password"}
NOW = time.time()


def bank_b_ids(runtime: Runtime) -> dict[str, str]:
    fleet = runtime.registry.fleet("bank-b")
    borrower = fleet.borrowers[0]
    loan = borrower.loans[0]
    return {
        "tenant": "bank-b",
        "borrower": borrower.id,
        "loan": loan.id,
        "collateral": loan.collateral[0].id,
        "device": borrower.devices[0].id,
        "alert": f"bank-b-{borrower.id}-inventory_below_pledge",
        "user": "bob",
    }


GHOST = {
    "tenant": "ghost-bank",
    "borrower": "ghost-b",
    "loan": "ghost-l",
    "collateral": "ghost-c",
    "device": "ghost-d",
    "alert": "ghost-alert",
    "user": "ghost-user",
}


def value_for(name: str, schema: dict[str, Any], ids: dict[str, str]) -> Any:
    """A value for a parameter or body field, by its name; bank-b's (or ghost) ids."""
    lowered = name.lower()
    for kind in ("alert", "borrower", "loan", "collateral", "device", "tenant"):
        if lowered in (kind, f"{kind}_id"):
            return ids[kind]
    if lowered in ("username",):
        return ids["user"]
    if lowered == "metric":
        return "weight_kg"
    if lowered in ("ts", "start", "since"):
        return NOW - 3600
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind in ("number", "integer"):
        if lowered == "end":
            return NOW + 60
        return schema.get("default", max(1, schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    if lowered == "text":
        override = f'\n[[overrides]]\ntenant = "{ids["tenant"]}"\n'
        override += "[overrides.rules.inventory_below_pledge]\nenabled = false\n"
        return Path("config/rules.toml").read_text() + override
    return "walk"


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    if "anyOf" in schema:
        schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), schema)
    return schema


def body_for(spec: dict[str, Any], op: dict[str, Any], ids: dict[str, str]) -> Any:
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = resolve(spec, content["application/json"]["schema"])
    return {
        name: value_for(name, resolve(spec, field), ids)
        for name, field in schema.get("properties", {}).items()
    }


async def call(
    client: httpx.AsyncClient,
    spec: dict[str, Any],
    method: str,
    path: str,
    op: dict[str, Any],
    ids: dict[str, str],
    headers: dict[str, str],
) -> httpx.Response:
    url = path
    params: dict[str, Any] = {}
    for parameter in op.get("parameters", []):
        schema = resolve(spec, parameter.get("schema", {}))
        value = value_for(parameter["name"], schema, ids)
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", str(value))
        elif parameter["in"] == "query" and parameter["name"] != "access_token":
            params[parameter["name"]] = value
    body = body_for(spec, op, ids)
    if path == "/api/alerts/stream":
        params = {"after": 0, "access_token": headers["Authorization"].split()[1]}
        return await read_stream(client, url, params)
    if path == "/api/token":
        return await client.post(url, data={"username": ids["user"], "password": "walk-walk"})
    return await client.request(method, url, params=params, json=body, headers=headers)


async def read_stream(
    client: httpx.AsyncClient, url: str, params: dict[str, Any]
) -> httpx.Response:
    """The first second of the live feed, as one response."""
    chunks: list[bytes] = []
    async with client.stream("GET", url, params=params) as response:
        try:
            async with asyncio.timeout(1.0):
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
        except TimeoutError:
            pass
        return httpx.Response(response.status_code, content=b"".join(chunks))


def scrubbed(text: str, ids: dict[str, str]) -> str:
    """The answer without the values the caller itself sent."""
    for value in sorted(ids.values(), key=len, reverse=True):
        text = text.replace(value, "<sent>")
    return text


TWIN_NAME = "Twin of bank B"
TWIN_WEIGHT = 4242.5


def bank_b_fleet(ids: str) -> Fleet:
    """bank-b's fleet: its own ids ("distinct"), or exactly bank-a's ("shared")."""
    if ids == "distinct":
        return generate_fleet(2, seed=4, tenant="bank-b")
    twin = small_fleet("bank-b")
    named = [b.model_copy(update={"name": TWIN_NAME}) for b in twin.borrowers]
    return twin.model_copy(update={"borrowers": named})


@pytest.fixture(params=["distinct", "shared"])
def two_lenders(tmp_path: Path, request: pytest.FixtureRequest) -> Runtime:
    db = tmp_path / "rs.db"
    engine = open_service_database(db)
    Registry(engine).import_fleet(small_fleet("bank-a"))
    Registry(engine).import_fleet(bank_b_fleet(request.param))
    users = UserStore(engine)
    users.add("anna", "anna-password", "bank-a", "loan_officer", ["b1"])
    users.add("rita", "rita-password", "bank-a", "risk_admin")
    users.add("otto", "otto-password", "bank-a", "auditor")
    users.add("bob", "bob-password!", "bank-b", "risk_admin")
    rules = tmp_path / "rules.toml"
    rules.write_text(Path("config/rules.toml").read_text())
    runtime = Runtime(
        ServiceSettings(
            database=str(db),
            rules=rules,
            deadletter=tmp_path / "dead.jsonl",
            checkpoint_enabled=False,
        )
    )
    b = bank_b_ids(runtime)
    runtime.publish([alert("bank-a", "b1"), alert("bank-b", b["borrower"])])
    runtime.loan_events.add(
        tenant="bank-b",
        borrower_id=b["borrower"],
        loan_id=b["loan"],
        event="default",
        ts=NOW - 99,
        by="bob",
    )
    runtime.audit.record(tenant="bank-b", actor="bob", action="login", target="user:bob")
    runtime.pipeline.handle(f"rs/v1/bank-b/{b['device']}/telemetry", b"{bad", NOW)
    store = open_store(f"duckdb:///{tmp_path}/t.duckdb")
    values = {"weight_kg": TWIN_WEIGHT, "lat_deg": 1.0}
    payload = orjson.dumps({"ts": NOW - 30, "seq": 1, "values": values})
    runtime.pipeline.handle(f"rs/v1/bank-b/{b['device']}/telemetry", payload, NOW)
    batch = runtime.pipeline.drain()
    store.write(batch)
    runtime.on_batch(batch)
    runtime.store = store
    bank_b_rules = Path("config/rules.toml").read_text().replace("= 0.9", "= 0.777")
    runtime.save_own_rules("bank-b", bank_b_rules, "bob")
    return runtime


def bank_b_state(runtime: Runtime) -> tuple[object, ...]:
    """What bank-a's users must not change of bank-b."""
    other = bank_b_ids(runtime)
    return (
        runtime.alerts.get(other["alert"]),
        runtime.rules.overrides,
        runtime.lender_rules.current.get("bank-b"),
        runtime.engines.of("bank-b").open_alerts(),
        runtime.loan_events.list("bank-b"),
    )


async def test_no_route_shows_changes_or_hints_at_another_lender(
    two_lenders: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_module, "STREAM_WAIT_S", 0.05)
    runtime = two_lenders
    other = bank_b_ids(runtime)
    shared = other["borrower"] in runtime.engines.of("bank-a").index.borrowers
    markers = {"bank-b", TWIN_NAME, str(TWIN_WEIGHT), "0.777"}
    if not shared:  # with shared ids, these are the caller's own too
        markers |= {v for k, v in other.items() if k != "tenant"}
        markers |= {d.id for d in runtime.registry.fleet("bank-b").devices()}
    before = bank_b_state(runtime)
    walked = 0
    async with (
        app_serving(create_app(runtime)) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        spec = (await client.get("/openapi.json")).json()
        tokens = {}
        for user, password in ROLES.items():
            login = await client.post("/api/token", data={"username": user, "password": password})
            tokens[user] = login.json()["access_token"]
        for user in ROLES:
            headers = {"Authorization": f"Bearer {tokens[user]}"}
            for path, operations in spec["paths"].items():
                for method, op in operations.items():
                    if path == "/api/logout":
                        continue  # would end the session the walk goes on with
                    if path == "/api/token" and user != "rita":
                        continue  # wrong passwords from one address are soon throttled
                    aimed = await call(client, spec, method, path, op, other, headers)
                    ghost = await call(client, spec, method, path, op, GHOST, headers)
                    where = f"{user}: {method.upper()} {path}"
                    assert aimed.status_code < 500, f"{where}: {aimed.text[:300]}"
                    assert shared or aimed.status_code == ghost.status_code, (
                        f"{where}: {aimed.status_code} for bank-b's ids, "
                        f"{ghost.status_code} for ids nobody has"
                    )
                    leaked = [m for m in markers if m in scrubbed(aimed.text, other)]
                    assert not leaked, f"{where} shows {leaked}: {aimed.text[:300]}"
                    walked += 1
    assert walked >= 3 * 25
    assert bank_b_state(runtime) == before, "something of bank-b changed"
