"""Issue 15 on a phone (390 px wide) in a real headless Chromium: the live feed, an
alert's reasons and its actions, the borrower page, the portfolio and the map fit the
screen without scrolling sideways, and acknowledging works by tapping."""

import asyncio
import time
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, async_playwright

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

PHONE = 390
WIDER_THAN_SCREEN = f"""() => [...document.querySelectorAll('body *')].filter(e => {{
  const r = e.getBoundingClientRect();
  return r.width > 0 && (r.right > {PHONE} + 0.5 || r.left < -0.5)
    && getComputedStyle(e).position !== 'fixed';
}}).slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""


async def fits(page: Page, name: str) -> None:
    """The page is no wider than the phone; a full-page screenshot to look at."""
    await page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE, f"{name}: {width} px wide: {await page.evaluate(WIDER_THAN_SCREEN)}"


async def test_feed_borrower_portfolio_and_map_fit_a_phone_and_ack_works_by_tapping(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    fleet, db = bank_with_rita(tmp_path)
    start, messages = recent_messages(
        fleet, 6 * 3600.0, {"b001": "inventory_drain", "b002": "geofence_exit"}
    )
    runtime = Runtime(service_settings(mosquitto, tmp_path, db, "phone"))
    problems: list[str] = []
    async with serving(runtime) as base, async_playwright() as pw:
        browser, page = await open_page(pw, problems, width=PHONE)
        await page.goto(base)
        await log_in(page, "rita", "rita-password")
        await publish_part(messages, fleet, mosquitto, start, "phone")
        deadline = time.monotonic() + 30
        while runtime.ingest and runtime.ingest.readings_written < len(messages) * 0.9:
            assert time.monotonic() < deadline, "ingest did not catch up"
            await asyncio.sleep(0.2)
        row = page.locator("#alerts tr[data-kind=inventory_below_pledge][data-borrower=b001]")
        await row.wait_for(timeout=30_000)
        await wait_until(page, "document.querySelectorAll('#alerts tbody tr').length >= 2")
        await asyncio.sleep(1.0)

        # the feed: cards, each value under its column's name, reasons and actions inside
        await fits(page, "feed")
        assert await page.locator("#alerts thead").is_hidden()
        assert await row.evaluate("r => getComputedStyle(r).display") == "block"
        reasons = row.locator("td.reasons-cell")
        assert "pledged" in await reasons.inner_text()
        box = await reasons.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE
        assert "money at risk" in (await row.locator("td.money").get_attribute("data-label") or "")
        await page.click("#score-legend summary")
        await fits(page, "feed-legend")

        # acknowledge by tapping the card's button, as on a phone
        async def answer(dialog: Dialog) -> None:
            await dialog.accept("on the phone with the warehouse")

        page.on("dialog", answer)
        ack = row.locator("button[data-action=ack]")
        button = await ack.bounding_box()
        assert button is not None and button["x"] + button["width"] <= PHONE
        assert button["height"] >= 30  # big enough for a finger
        await ack.click()
        await wait_until(
            page,
            "document.querySelector('tr[data-kind=inventory_below_pledge] td.status')"
            ".textContent === 'acknowledged'",
        )
        audit = page.locator("#audit-table tr[data-action=acknowledge]")
        await audit.wait_for(timeout=10_000)
        assert "on the phone with the warehouse" in await audit.inner_text()
        await fits(page, "acknowledged")

        # the borrower page with the alert's evidence charts
        alert_id = await row.get_attribute("data-id")
        await row.locator("td.kind").click()
        await wait_until(page, f"location.hash.endsWith('?alert={alert_id}')")
        await page.locator("#evidence svg.chart").first.wait_for()
        await page.locator("#collateral table.devices").first.wait_for()
        await fits(page, "borrower")
        await page.screenshot(path=str(ARTIFACTS / "phone-borrower-top.png"))
        await page.locator("#evidence").screenshot(path=str(ARTIFACTS / "phone-evidence.png"))
        await page.locator("#collateral .site-block").first.screenshot(
            path=str(ARTIFACTS / "phone-collateral.png")
        )

        await page.click("#nav a[data-page=portfolio]")
        await page.locator("#portfolio-table tbody tr").first.wait_for()
        await fits(page, "portfolio")

        await page.click("#nav a[data-page=map]")
        await page.locator("#map-grid .map-card svg.map").first.wait_for()
        await fits(page, "map")
        await page.screenshot(path=str(ARTIFACTS / "phone-map-top.png"))
        await page.select_option("#map-state", "outside_fence")
        assert await page.locator("#map-grid .map-card").count() >= 1
        await fits(page, "map-filtered")
        await browser.close()
    assert problems == [], f"browser console errors: {problems}"
