"""The borrower page of an API process on a cluster (`serve --nats`) in a real headless
Chromium: it says which risk worker the figures come from and how old they are, flags a
stale state (its worker may be down) and a borrower no worker has sent yet, draws the
coverage chart from the state and takes a new state with no alert; the portfolio marks
the stale scores. One process's page shows its engine's figures as live, with no note.

The states are taken by the API's own cache, as its watch of the bucket takes them (the
watch runs against real servers in ``tests/cluster/test_live_state.py``). Ages come from
published times against the API's faked wall clock, and the page adds only the
browser's monotonic time since it fetched them, so the test holds at any hour and under
load. Every wait has a hard timeout."""

import asyncio
import re
from pathlib import Path

import msgspec
import pytest
from playwright.async_api import Page, async_playwright

from riskstream.api import live_view
from riskstream.api.app import create_app
from riskstream.cluster.layout import live_state_key
from riskstream.engine.coverage_history import BUCKET_S, LotHistory
from riskstream.engine.live_state import borrower_state, encode_state
from riskstream.service.local_broker import free_port
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.e2e.browser import ARTIFACTS, bank_with_rita, log_in, open_page
from tests.e2e.waiting import wait_until
from tests.servers import app_serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SENT = 1_795_000_000.0
NOW = SENT + 12.0
"""The API's faked wall clock: b001's state is 12 s old, b002's 300 s."""
TEST_TIMEOUT_S = 120.0
STEP_TIMEOUT_MS = 20_000


def _api_of_cluster(db: str, tenant: str) -> Runtime:
    """An API process of a cluster holding a fresh state of b001 and a stale one of b002
    (sent by risk worker r7), none of b003."""
    api = Runtime(
        ServiceSettings(database=db, deadletter=None, nats=f"nats://127.0.0.1:{free_port()}")
    )
    for borrower_id, sent, score in (("b001", SENT, 42.0), ("b002", SENT - 288.0, 73.0)):
        send(api, tenant, borrower_id, sent, score)
    return api


def send(api: Runtime, tenant: str, borrower_id: str, sent: float, score: float) -> None:
    """A state of ``borrower_id`` as risk worker r7 sends it: the registry's borrower with
    ``score``, and for b001 a coverage chart of its lot b001-c1 falling 0.95 → 0.80."""
    assert api.cluster is not None
    state = borrower_state(api.engines.of(tenant), borrower_id)
    history = (
        [LotHistory("b001-c1", SENT - 4 * BUCKET_S, BUCKET_S, [0.95, 0.9, 0.85, 0.8])]
        if borrower_id == "b001"
        else []
    )
    state = msgspec.structs.replace(
        state,
        score=score,
        computed_at=SENT,  # the event time: the chart's window ends there
        published_at=sent,
        worker="r7",
        coverage_history=history,
    )
    assert api.cluster.live.take(live_state_key(tenant, borrower_id), encode_state(state))


async def _open_borrower(page: Page, borrower_id: str) -> str:
    await page.evaluate(f"location.hash = '#/borrower/{borrower_id}'")
    await wait_until(
        page,
        "document.querySelector('#page-borrower .big-score') !== null && "
        f"document.querySelector('#page-borrower').dataset.borrower === '{borrower_id}'",
        timeout_s=20,
    )
    return await page.inner_text("#page-borrower")


async def _note(page: Page) -> tuple[str, str]:
    text = await page.inner_text("#state-age")
    stale = await page.get_attribute("#state-age", "data-stale")
    return text, stale or ""


def _age(text: str) -> int:
    found = re.search(r"from risk worker r7, (\d+) s ago", text)
    assert found, text
    return int(found.group(1))


async def test_borrower_page_says_where_its_figures_come_from_and_flags_a_stale_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet, db = bank_with_rita(tmp_path)
    api = _api_of_cluster(db, fleet.tenant.id)
    monkeypatch.setattr(live_view, "wall_clock", lambda: NOW)
    problems: list[str] = []

    async def run() -> None:
        async with app_serving(create_app(api)) as base, async_playwright() as pw:
            browser, page = await open_page(pw, problems)
            page.set_default_timeout(STEP_TIMEOUT_MS)
            try:
                await page.goto(base)
                await log_in(page, "rita", "rita-password")

                text = await _open_borrower(page, "b001")
                note, stale = await _note(page)
                assert 12 <= _age(note) < 12 + TEST_TIMEOUT_S and stale == "false", note
                assert "STALE" not in text and "42.0" in text
                # the coverage chart is drawn from the state's history
                chart = await page.inner_text("#coverage-chart")
                assert "lot b001-c1" in chart and "No weighed collateral" not in chart
                titles = await page.eval_on_selector_all(
                    "#coverage-chart circle.pt title", "ts => ts.map(t => t.textContent)"
                )
                assert len(titles) == 4, titles
                assert titles[0].endswith(": 95 % of pledge") and titles[-1].endswith(
                    ": 80 % of pledge"
                )
                # the age grows on screen while the page stays open
                await wait_until(
                    page,
                    "/, (1[4-9]|[2-9][0-9]) s ago/.test("
                    "document.querySelector('#state-age').textContent)",
                    timeout_s=20,
                )
                await page.screenshot(path=str(ARTIFACTS / "borrower-state-fresh.png"))
                # a new state reaches a page left open, with no alert to refresh it
                send(api, fleet.tenant.id, "b001", NOW - 3.0, 55.0)
                await wait_until(
                    page,
                    "document.querySelector('#page-borrower .score-value').textContent"
                    " === '55.0' && /r7, [3-9] s ago/.test("
                    "document.querySelector('#state-age').textContent)",
                    timeout_s=30,
                )

                await _open_borrower(page, "b002")
                note, stale = await _note(page)
                assert stale == "true" and note.startswith("STALE · from risk worker r7, "), note
                assert re.search(r", [5-9] min ago", note), note  # 300 s and on
                assert "risk worker may be down" in note and "not live" in note
                border = "n => getComputedStyle(n).borderLeftColor"
                assert await page.eval_on_selector("#state-age", border) == "rgb(179, 38, 30)"
                await page.screenshot(path=str(ARTIFACTS / "borrower-state-stale.png"))

                await _open_borrower(page, "b003")
                note, _ = await _note(page)
                assert note.startswith("NOT LIVE · no risk worker has sent"), note
                assert "live ·" not in await page.inner_text("#page-borrower .page-head")

                # the portfolio marks the scores that may not be current
                await page.evaluate("location.hash = '#/portfolio'")
                await wait_until(
                    page, "document.querySelectorAll('#portfolio-table tbody tr').length === 3"
                )
                marks = await page.eval_on_selector_all(
                    "#portfolio-table tbody tr",
                    "rows => Object.fromEntries(rows.map(r => [r.dataset.borrowerRow, "
                    "r.querySelector('.stale-mark')?.textContent ?? null]))",
                )
                assert marks == {
                    "b001": None,
                    "b002": "STALE · sent 5 min ago",
                    "b003": "NOT LIVE · no state sent yet",
                }, marks
                await page.screenshot(path=str(ARTIFACTS / "portfolio-state-stale.png"))
            finally:
                await browser.close()

    await asyncio.wait_for(run(), TEST_TIMEOUT_S)
    assert problems == []


async def test_one_process_borrower_page_is_live_with_no_age_note(tmp_path: Path) -> None:
    _, db = bank_with_rita(tmp_path)
    one = Runtime(ServiceSettings(database=db, deadletter=None))
    problems: list[str] = []

    async def run() -> None:
        async with app_serving(create_app(one)) as base, async_playwright() as pw:
            browser, page = await open_page(pw, problems)
            page.set_default_timeout(STEP_TIMEOUT_MS)
            try:
                await page.goto(base)
                await log_in(page, "rita", "rita-password")
                await _open_borrower(page, "b001")
                assert await page.locator("#state-age").count() == 0
                head = await page.inner_text("#page-borrower .page-head")
                assert "live · updated" in head
            finally:
                await browser.close()

    await asyncio.wait_for(run(), TEST_TIMEOUT_S)
    assert problems == []
