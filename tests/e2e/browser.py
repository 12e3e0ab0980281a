"""What the browser tests share: Debian's Chromium, the app on a loopback port, a page
that collects console errors, and logging in."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, Playwright

from devices.model import Fleet
from devices.registry import Registry
from riskstream.api.app import create_app
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore
from simulator import Message, generate, generate_fleet, plan_scenarios, publish
from simulator.publisher import parse_broker_url
from tests.servers import Mosquitto, app_serving

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


SEED = 8


def bank_with_rita(tmp_path: Path) -> tuple[Fleet, str]:
    """Three generated borrowers in a fresh database with rita, a risk admin (password
    ``rita-password``); returns the fleet and the database path."""
    fleet = generate_fleet(3, seed=SEED)
    db = str(tmp_path / "rs.db")
    Registry(open_service_database(db)).import_fleet(fleet)
    UserStore(open_service_database(db)).add("rita", "rita-password", fleet.tenant.id, "risk_admin")
    return fleet, db


def recent_messages(
    fleet: Fleet, window_s: float, assign: dict[str, str]
) -> tuple[float, list[Message]]:
    """The fleet's messages of the last ``window_s`` with the ``assign``ed scenarios; returns
    the window's start and the messages."""
    start = float(int(time.time() - window_s))
    injections = plan_scenarios(fleet, SEED, start, start + window_s, assign=assign)
    return start, list(generate(fleet, injections, start, start + window_s, SEED))


def service_settings(
    broker: Mosquitto, tmp_path: Path, database: str, name: str, **more: Any
) -> ServiceSettings:
    """Settings of a service on ``broker`` with its store in ``tmp_path`` and no dead letters."""
    return ServiceSettings(
        broker=broker.url,
        store=f"duckdb:///{tmp_path}/t.duckdb",
        database=database,
        deadletter=None,
        client_id=f"{name}-{time.time_ns()}",
        **more,
    )


@asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[str]:
    """The app on a free loopback port while ``runtime`` runs; yields its base URL."""
    async with runtime.running(), app_serving(create_app(runtime)) as base:
        yield base


async def open_page(
    pw: Playwright,
    problems: list[str],
    width: int = 1440,
    excused: Callable[[ConsoleMessage], bool] = lambda _message: False,
) -> tuple[Browser, Page]:
    """Chromium with one page whose console errors (but the ``excused``) go to ``problems``."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: make test installs it"
    ARTIFACTS.mkdir(exist_ok=True)
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = await browser.new_page(viewport={"width": width, "height": 900})

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not excused(message):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return browser, page


async def log_in(page: Page, user: str, password: str) -> None:
    """Log in on the dashboard's form and wait for the live feed."""
    await page.fill("#login-user", user)
    await page.fill("#login-password", password)
    await page.click("#login button[type=submit]")
    await page.wait_for_selector("#feed-state.live")


async def publish_part(
    messages: list[Any], fleet: Fleet, mosquitto: Mosquitto, start: float, tag: str
) -> None:
    """Publish simulated messages as fast as the broker takes them."""
    host, port = parse_broker_url(mosquitto.url)
    await publish(
        messages,
        tenant=fleet.tenant.id,
        host=host,
        port=port,
        speed=0,
        start_ts=start,
        client_id=f"pages-sim-{tag}-{time.time_ns()}",
    )
