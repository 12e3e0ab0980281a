"""The dashboard in a real headless Chromium (Debian's, never a downloaded browser)."""

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Dialog, async_playwright

from riskstream.service.runtime import Runtime
from tests.e2e.browser import (
    ARTIFACTS,
    bank_with_rita,
    log_in,
    open_page,
    publish_part,
    recent_messages,
    service_settings,
    serving,
)
from tests.e2e.waiting import wait_until
from tests.servers import Mosquitto

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow]


async def test_officer_sees_alert_arrive_live_acknowledges_it_and_sees_the_audit_entry(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    fleet, db = bank_with_rita(tmp_path)
    start, messages = recent_messages(fleet, 6 * 3600.0, {"b001": "inventory_drain"})
    runtime = Runtime(service_settings(mosquitto, tmp_path, db, "browser"))
    problems: list[str] = []
    async with serving(runtime) as base:
        async with async_playwright() as pw:
            browser, page = await open_page(pw, problems, width=1400)
            await page.goto(base)
            await page.screenshot(path=str(ARTIFACTS / "login.png"))
            await log_in(page, "rita", "rita-password")
            await page.wait_for_selector("#main:not([hidden])")
            assert await page.locator("#login").is_hidden()
            # the scenario is published only now: the alert must arrive through the live feed
            await publish_part(
                messages,
                fleet,
                mosquitto,
                start,
                "browser",
            )
            row = page.locator("tr[data-kind=inventory_below_pledge][data-borrower=b001]")
            await row.wait_for(timeout=30_000)
            await page.screenshot(path=str(ARTIFACTS / "alert-feed.png"), full_page=True)
            assert "pledged" in await row.inner_text()

            async def answer(dialog: Dialog) -> None:
                await dialog.accept("called the warehouse manager")

            page.on("dialog", answer)
            await row.locator("button[data-action=ack]").click()
            await wait_until(
                page,
                "document.querySelector('tr[data-kind=inventory_below_pledge] td.status')"
                ".textContent === 'acknowledged'",
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
    assert [e for e in entries if e["action"] == "acknowledge" and e["actor"] == "rita"]
    assert problems == [], f"browser console errors: {problems}"
