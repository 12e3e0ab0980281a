"""A riskstream service on temporary files, for the rules and checkpoint tests."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import FastAPI

from devices.model import Fleet
from devices.registry import Registry
from riskstream.api.app import create_app
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.toml"
USERS = {
    "rita": ("rita-password", "risk_admin", None),
    "anna": ("anna-password", "loan_officer", ["b002"]),
    "otto": ("otto-password", "auditor", None),
}


def register(where: Path, fleet: Fleet) -> str:
    """A database in ``where`` with ``fleet`` and the users of `USERS`; its path."""
    db = str(where / "rs.db")
    engine = open_service_database(db)
    Registry(engine).import_fleet(fleet)
    users = UserStore(engine)
    for name, (password, role, portfolio) in USERS.items():
        users.add(name, password, fleet.tenant.id, role, portfolio)
    engine.dispose()
    return db


def settings(where: Path, db: str, broker: str, rules: Path | None) -> ServiceSettings:
    """Service settings with every file under ``where``."""
    return ServiceSettings(
        broker=broker,
        store=f"duckdb:///{where}/telemetry.duckdb",
        database=db,
        rules=rules,
        deadletter=None,
        spool_dir=where / "spool",
        checkpoint=where / "engine.ckpt",
        client_id=f"rules-test-{time.time_ns()}",
    )


def client_of(runtime: Runtime) -> httpx.AsyncClient:
    """An HTTP client calling the app in-process, on the caller's event loop."""
    app: FastAPI = create_app(runtime)
    app.state.runtime = runtime  # what the lifespan does for a runtime run by its caller
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rs")


async def login(client: httpx.AsyncClient, user: str) -> dict[str, str]:
    """Bearer header of ``user``."""
    response = await client.post("/api/token", data={"username": user, "password": USERS[user][0]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def eventually(check: Callable[[], bool], within_s: float = 15.0) -> None:
    """Wait until ``check()`` holds; fail after ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
