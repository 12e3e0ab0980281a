"""The Notifications page in a real headless Chromium: a risk admin adds a webhook to a
real receiver on loopback, sees its secret once, sends a signed test and reads the
delivery log, adds an e-mail recipient and turns MQTT on; a loan officer sees the
endpoints but can change nothing and gets no delivery log."""

import time
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from riskstream.api.app import create_app
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.e2e.browser import ARTIFACTS, log_in, open_page
from tests.riskstream.notify.receiver import receiving
from tests.riskstream.people import register_people
from tests.servers import app_serving

pytestmark = pytest.mark.browser


async def test_a_risk_admin_manages_notifications_and_an_officer_only_reads(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "rs.db")
    register_people(db)  # type: ignore[arg-type]
    runtime = Runtime(
        ServiceSettings(
            database=db,
            deadletter=None,
            checkpoint_enabled=False,
            webhook_allowed_destinations=["127.0.0.1/32"],
        )
    )
    problems: list[str] = []
    async with (
        receiving() as receiver,
        app_serving(create_app(runtime)) as base,
        async_playwright() as pw,
    ):
        browser, page = await open_page(pw, problems)
        try:
            await page.goto(base)
            await log_in(page, "rita", "rita-password")
            await page.click('#nav a[data-page="notifications"]')
            form = page.locator("#webhook-form")
            await form.locator('input[name="url"]').fill(f"{receiver.base_url}/hook")
            await form.locator('input[name="description"]').fill("core banking")
            await form.locator('input[name="severities"][value="critical"]').check()
            await form.locator("button").click()
            secret = await page.locator("#webhook-secret").text_content()
            assert secret is not None and secret.startswith("whsec_")
            row = page.locator("#webhooks tbody tr")
            await row.get_by_text("severity critical").wait_for()
            await row.get_by_role("button", name="send test").click()
            await page.locator("#webhook-status").get_by_text("Test delivered: HTTP 200").wait_for()
            assert len(receiver.got) == 1 and receiver.got[0].verified(secret, time.time())
            await row.get_by_role("button", name="deliveries").click()
            await page.locator("#delivery-log").get_by_text("HTTP 200").wait_for()

            email = page.locator("#email-form")
            await email.locator('input[name="address"]').fill("risk-desk@bank-a.example")
            await email.locator('input[name="digest"]').fill("15")
            await email.locator("button").click()
            await page.locator("#email").get_by_text("at most one mail per 15 min").wait_for()
            await page.locator("#mqtt").get_by_role("button").click()
            await page.locator("#mqtt").get_by_text("rs/v1/bank-a/alerts").wait_for()
            await page.screenshot(path=str(ARTIFACTS / "notifications.png"), full_page=True)

            await page.click("#logout")
            await log_in(page, "anna", "anna-password")
            await page.click('#nav a[data-page="notifications"]')
            await page.locator("#webhooks").get_by_text(f"{receiver.base_url}/hook").wait_for()
            assert await page.locator("#webhook-form, #email-form, #dead-letters").count() == 0
            assert await page.locator("#webhooks button").count() == 0
        finally:
            await browser.close()
    runtime.db.dispose()
    assert problems == []
