"""The Rules page in a real headless Chromium: version in force, dry-run of a changed
threshold, apply, history with a diff, a loan officer's read-only view and a refused
edit of the file; and a portfolio that follows the live feed without a reload."""

import asyncio
import time
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Dialog, Page, async_playwright

from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.users import UserStore
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
from tests.e2e.test_dashboard_pages import WINDOW_S
from tests.servers import Mosquitto

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.toml"
THRESHOLD = "coverage_below = 0.9"
# the deliberate invalid dry-run answers 400: Chromium logs that response as an error
EXPECTED_400 = "/api/rules/dry-run"


def the_expected_400(message: ConsoleMessage) -> bool:
    return "status of 400" in message.text and message.location.get("url", "").endswith(
        EXPECTED_400
    )


async def set_editor(page: Page, text: str) -> None:
    await page.fill("#rules-editor", text)
    await page.dispatch_event("#rules-editor", "input")


async def test_rules_page_dry_run_apply_history_and_roles(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    fleet, db = bank_with_rita(tmp_path)
    UserStore(open_service_database(db)).add(
        "anna", "anna-password", fleet.tenant.id, "loan_officer", ["b002"]
    )
    rules_file = tmp_path / "rules.toml"
    original = SAMPLE.read_text()
    threshold_line = original[: original.index(THRESHOLD)].count("\n") + 1
    rules_file.write_text(original)
    start, messages = recent_messages(
        fleet, WINDOW_S, {"b001": "inventory_drain", "b002": "geofence_exit"}
    )
    runtime = Runtime(
        service_settings(
            mosquitto,
            tmp_path,
            db,
            "rules-page",
            rules=rules_file,
            spool_dir=tmp_path / "spool",
            checkpoint_enabled=False,
        )
    )
    problems: list[str] = []
    async with serving(runtime) as base, async_playwright() as pw:
        browser, page = await open_page(pw, problems, excused=the_expected_400)
        await page.goto(base + "/#/portfolio")
        await log_in(page, "rita", "rita-password")

        # the portfolio follows the live feed: the alert appears without a reload
        await page.wait_for_selector("#portfolio-table tbody tr")
        await page.evaluate("window.__notReloaded = true")
        await publish_part(messages, fleet, mosquitto, start, "rules")
        b001 = page.locator("#portfolio-table tr[data-borrower-row=b001] .count-badge.critical")
        await b001.wait_for(timeout=30_000)
        assert await page.evaluate("window.__notReloaded === true")
        deadline = time.monotonic() + 30
        while runtime.ingest and runtime.ingest.readings_written < len(messages) * 0.9:
            assert time.monotonic() < deadline, "ingest did not catch up"
            await asyncio.sleep(0.2)
        await page.screenshot(path=str(ARTIFACTS / "portfolio-live.png"), full_page=True)

        # the version in force
        await page.click("#nav a[data-page=rules]")
        await page.wait_for_selector("#rules-current .version-number")
        assert await page.inner_text("#rules-current .version-number") == "version 1"
        status = await page.inner_text("#rules-status")
        assert "UTC" in status and "read when the service started" in status
        assert await page.locator("#rules-text .code-line").count() == len(
            original.rstrip("\n").split("\n")
        )
        assert await page.locator("#rules-error").count() == 0
        assert await page.is_disabled("#rules-apply")  # nothing edited yet
        await page.screenshot(path=str(ARTIFACTS / "rules.png"), full_page=True)

        # an invalid edit: the error names the line and the field, next to the editor
        await set_editor(page, original.replace(THRESHOLD, "coverage_below = 0", 1))
        await page.fill("#dry-run-days", "1")
        await page.click("#dry-run")
        error = page.locator("#rules-editor-error")
        await error.wait_for()
        text = await error.inner_text()
        assert (
            f"Line {threshold_line}" in text
            and "rules.inventory_below_pledge.coverage_below" in text
        )
        assert await page.inner_text(".gutter .bad") == str(threshold_line)
        await page.screenshot(path=str(ARTIFACTS / "rules-invalid.png"))

        # a changed threshold: the inventory alert of b001 (43 % on hand) is dropped
        proposed = original.replace(THRESHOLD, "coverage_below = 0.3", 1)
        await set_editor(page, proposed)
        await page.click("#dry-run")
        await page.wait_for_selector("#dry-run-tiles")
        assert await error.is_hidden()
        dropped = page.locator(
            "#dry-run-dropped tr[data-kind=inventory_below_pledge][data-borrower=b001]"
        )
        assert await dropped.count() >= 1
        counts = await page.inner_text("#dry-run-counts")
        assert "inventory below pledge" in counts and "geofence exit" in counts
        summary = await page.inner_text("#dry-run-result .dry-run-summary")
        assert "readings" in summary and "days" in summary
        assert runtime.rules_keeper.current.version == 1  # a dry run changes nothing
        await page.locator("#rules-dry-run").scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "rules-dry-run.png"), full_page=True)

        # apply, after a confirmation: version 2 in force and in the history
        asked: list[str] = []

        async def confirm(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        page.once("dialog", confirm)
        await page.click("#rules-apply")
        await page.wait_for_selector("#rules-history tr[data-version='2']")
        assert "version 2" in asked[0] and "dropped" in asked[0]
        assert await page.inner_text("#rules-current .version-number") == "version 2"
        assert "saved in the dashboard by rita" in await page.inner_text("#rules-status")
        assert runtime.rules_keeper.current.version == 2
        assert "coverage_below = 0.3" in rules_file.read_text()
        assert runtime.engines.of("bank-a").rules.rules.inventory_below_pledge.coverage_below == 0.3
        await page.click("#rules-history tr[data-version='1']")
        removed = page.locator("#rules-version .diff .code-line.del")
        await removed.first.wait_for()
        assert THRESHOLD in await removed.first.inner_text()
        added = await page.inner_text("#rules-version .diff .code-line.add")
        assert "coverage_below = 0.3" in added
        await page.locator("#rules-history-card").scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "rules-applied.png"), full_page=True)

        # a loan officer reads the rules and may dry-run, but cannot apply; rita's
        # logout ends her session on the server too
        ritas = await page.evaluate("sessionStorage.getItem('riskstream-token')")
        assert runtime.users.user_for_token(ritas) is not None
        await page.click("#logout")
        deadline = time.monotonic() + 10
        while runtime.users.user_for_token(ritas) is not None:
            assert time.monotonic() < deadline, "the dashboard's logout ends the token"
            await asyncio.sleep(0.05)
        await log_in(page, "anna", "anna-password")
        await page.wait_for_selector("#rules-dry-run .read-only")
        assert await page.inner_text("#rules-current .version-number") == "version 2"
        assert await page.locator("#rules-apply").count() == 0
        assert "only risk admins apply rules" in await page.inner_text("#rules-dry-run")
        await page.screenshot(path=str(ARTIFACTS / "rules-officer.png"), full_page=True)

        # a bad edit of the file on disk is refused: the page says so at once
        rules_file.write_text(proposed.replace("coverage_below = 0.3", "coverage_below = 0", 1))
        banner = page.locator("#rules-error")
        await banner.wait_for(timeout=15_000)
        said = await banner.inner_text()
        assert "version 2 is still in force" in said and "coverage_below" in said
        assert runtime.rules_keeper.current.version == 2
        await page.screenshot(path=str(ARTIFACTS / "rules-refused.png"))
        await browser.close()
    assert problems == [], f"browser console errors: {problems}"
