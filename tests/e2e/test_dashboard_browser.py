"""The dashboard in a real headless Chromium (Debian's, never a downloaded browser)."""

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import ConsoleMessage, Dialog, async_playwright

from devices.registry import Registry, open_database
from riskstream.api import create_app
from riskstream.local_broker import free_port
from riskstream.runtime import Runtime
from riskstream.settings import ServiceSettings
from riskstream.users import UserStore
from simulator import generate, generate_fleet, plan_scenarios, publish
from simulator.publisher import parse_broker_url
from tests.servers import Mosquitto

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow]

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


async def test_officer_sees_alert_arrive_live_acknowledges_it_and_sees_the_audit_entry(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: make test installs it"
    ARTIFACTS.mkdir(exist_ok=True)
    fleet = generate_fleet(3, seed=8)
    db = str(tmp_path / "rs.db")
    Registry(open_database(db)).import_fleet(fleet)
    UserStore(open_database(db)).add("rita", "rita-password", fleet.tenant.id, "risk_admin")
    window = 6 * 3600.0
    start = float(int(time.time() - window))
    injections = plan_scenarios(fleet, 8, start, start + window, assign={"b001": "inventory_drain"})
    runtime = Runtime(
        ServiceSettings(
            broker=mosquitto.url,
            store=f"duckdb:///{tmp_path}/t.duckdb",
            database=db,
            deadletter=None,
            client_id=f"browser-{time.time_ns()}",
        )
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    base = f"http://127.0.0.1:{port}"
    problems: list[str] = []
    async with runtime.running():
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 900})

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    problems.append(message.text)

            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(base)
            await page.screenshot(path=str(ARTIFACTS / "login.png"))
            await page.fill("#login-user", "rita")
            await page.fill("#login-password", "rita-password")
            await page.click("#login button[type=submit]")
            await page.wait_for_selector("#main:not([hidden])")
            await page.wait_for_selector("#feed-state.live")
            assert await page.locator("#login").is_hidden()
            # the scenario is published only now: the alert must arrive through the live feed
            host, mqtt_port = parse_broker_url(mosquitto.url)
            await publish(
                generate(fleet, injections, start, start + window, 8),
                tenant=fleet.tenant.id,
                host=host,
                port=mqtt_port,
                speed=0,
                start_ts=start,
                client_id=f"browser-sim-{time.time_ns()}",
            )
            row = page.locator("tr[data-kind=inventory_below_pledge][data-borrower=b001]")
            await row.wait_for(timeout=30_000)
            await page.screenshot(path=str(ARTIFACTS / "alert-feed.png"), full_page=True)
            assert "pledged" in await row.inner_text()

            async def answer(dialog: Dialog) -> None:
                await dialog.accept("called the warehouse manager")

            page.on("dialog", answer)
            await row.locator("button[data-action=ack]").click()
            await page.wait_for_function(
                "document.querySelector('tr[data-kind=inventory_below_pledge] td.status')"
                ".textContent === 'acknowledged'"
            )
            audit_row = page.locator("#audit-table tr[data-action=acknowledge]")
            await audit_row.wait_for(timeout=10_000)
            assert "called the warehouse manager" in await audit_row.inner_text()
            assert "rita" in await audit_row.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "acknowledged.png"), full_page=True)
            await browser.close()
        async with httpx.AsyncClient(base_url=base) as client:
            login = await client.post(
                "/api/token", data={"username": "rita", "password": "rita-password"}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            entries = (await client.get("/api/audit", headers=headers)).json()
        server.should_exit = True
        await serving
    assert [e for e in entries if e["action"] == "acknowledge" and e["actor"] == "rita"]
    assert problems == [], f"browser console errors: {problems}"
