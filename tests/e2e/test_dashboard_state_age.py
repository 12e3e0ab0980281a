"""The borrower page of an API process on a cluster (`serve --nats`) in a real headless
Chromium: it says which risk worker the figures come from and how old they are, flags a
stale state (its worker may be down) and a borrower no worker has sent yet, draws the
coverage chart from the state and takes a new state with no alert; the portfolio marks
the stale scores. A stale score stays shown, greyed, with its age; a borrower no worker
has sent shows no score ("—"), no risk colour and no placeholder figure; the page's
"updated" marker is green only while the state is live. One process's pages show their
engine's figures as live, with no note.

The states are taken by the API's own cache, as its watch of the bucket takes them (the
watch runs against real servers in ``tests/cluster/test_live_state.py``). Ages come from
published times against the API's faked wall clock, and the page adds only the
browser's monotonic time since it fetched them, so the test holds at any hour and under
load. Every wait has a hard timeout."""

import asyncio
import re
import time
from pathlib import Path

import msgspec
import pytest
from playwright.async_api import Page, Route, async_playwright

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
GREEN = "rgb(31, 138, 76)"
"""The live colour of the page's marker and of a low score (pages.css)."""
RISK_COLOURS = {"rgb(179, 38, 30)", "rgb(161, 92, 0)", GREEN}
"""A score's colours by band: high, medium, low."""
GREY = "rgb(107, 114, 128)"
"""A stale score's colour, and that of a figure not known yet."""
MARKER = "#page-borrower .page-head .live-note"
COLOUR = "n => getComputedStyle(n).color"


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


async def _marker(page: Page, selector: str = MARKER) -> tuple[str, str, str]:
    """The page-head marker's text, colour and dot."""
    text = await page.inner_text(selector)
    colour = await page.eval_on_selector(selector, COLOUR)
    dot = await page.eval_on_selector(selector, "n => getComputedStyle(n, '::before').content")
    return text, colour, dot


async def _score(page: Page, card: str) -> tuple[str, str, str]:
    """The big score of ``card`` (score or matrix): its text, classes and colour."""
    selector = f"{card} .big-score .score-value"
    text = await page.inner_text(selector)
    classes = await page.get_attribute(selector, "class") or ""
    return text, classes, await page.eval_on_selector(selector, COLOUR)


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
                # live: the marker is green and the score has its risk colour
                marker, colour, _ = await _marker(page)
                assert re.fullmatch(r"page updated \d\d:\d\d:\d\d UTC", marker), marker
                assert colour == GREEN
                assert await _score(page, "#page-borrower") == (
                    "42.0",
                    "score-value medium",
                    "rgb(161, 92, 0)",
                )
                assert await page.inner_text("#page-borrower .score-age") == ""
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
                # the API process reads no telemetry store: no "never" for a device's last
                # reading, which it does not know
                devices = await page.eval_on_selector_all(
                    "#collateral table.devices tbody tr",
                    "rows => rows.map(r => r.cells[3].textContent + '|' + r.cells[4].textContent)",
                )
                assert devices and set(devices) == {"—|—"}, devices
                assert "do not read the telemetry store" in await page.inner_text("#collateral")
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
                # the score is real but old: shown, greyed, with its age in words
                text, classes, colour = await _score(page, "#page-borrower")
                assert text == "73.0" and "stale" in classes.split() and colour == GREY
                age = await page.inner_text("#page-borrower .score-age")
                assert re.fullmatch(r" · sent [5-9] min ago, not live", age), age
                _, classes, colour = await _score(page, "#credit-matrix")
                assert "stale" in classes.split() and colour == GREY
                # the marker beside the STALE banner is not green and says how old the state is
                marker, colour, dot = await _marker(page)
                assert re.fullmatch(
                    r"page checked \d\d:\d\d:\d\d UTC · state [5-9] min old", marker
                )
                assert colour not in RISK_COLOURS and dot == '"○"', (colour, dot)
                await page.screenshot(path=str(ARTIFACTS / "borrower-state-stale.png"))

                await _open_borrower(page, "b003")
                note, _ = await _note(page)
                assert note.startswith("NOT LIVE · no risk worker has sent"), note
                assert "live ·" not in await page.inner_text("#page-borrower .page-head")
                await _no_placeholder_figures(page)
                await page.screenshot(path=str(ARTIFACTS / "borrower-state-none.png"))

                # the portfolio marks the scores that may not be current
                await page.evaluate("location.hash = '#/portfolio'")
                await wait_until(
                    page, "document.querySelectorAll('#portfolio-table tbody tr').length === 3"
                )
                marks = await _marks(page)
                assert marks == {
                    "b001": None,
                    "b002": "STALE · sent 5 min ago",
                    "b003": "NOT LIVE · no state sent yet",
                }, marks
                assert list(marks) == ["b002", "b001", "b003"]  # no score: after the scored
                await _portfolio_scores_say_what_they_are(page)
                await page.screenshot(path=str(ARTIFACTS / "portfolio-state-stale.png"))
            finally:
                await browser.close()

    await asyncio.wait_for(run(), TEST_TIMEOUT_S)
    assert problems == []


async def _no_placeholder_figures(page: Page) -> None:
    """b003, which no risk worker has sent: no score, matrix, coverage or chart figure
    (the API's scores are null)."""
    text = await page.inner_text("#page-borrower")
    assert not re.search(r"NaN|null|undefined", text), text
    for card in ("#page-borrower", "#credit-matrix"):
        text, classes, colour = await _score(page, card)
        assert text == "—" and "none" in classes.split() and colour not in RISK_COLOURS, card
    score_card = await page.inner_text("#page-borrower .grid-2 .card")
    assert "— no live score yet" in score_card and not re.search(r"\d", score_card), score_card
    matrix = await page.eval_on_selector_all(
        "#credit-matrix tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert len(matrix) == 6 and all(
        row[1] == row[3] == row[4] == "—" and row[2].endswith(" %") and row[5] == ""
        for row in matrix
    ), matrix
    figures = await page.eval_on_selector_all(
        "#page-borrower .grid-2 .card:nth-child(2) dd", "dds => dds.map(d => d.textContent)"
    )
    assert figures == ["EUR 2,279,000", "—", "—", "—", "—", "—"], figures  # the loan is real
    for chart in ("#score-chart", "#coverage-chart"):
        assert await page.locator(f"{chart} svg").count() == 0
        assert "starts with the first state a risk worker sends" in await page.inner_text(chart)
    coverage = await page.eval_on_selector_all(
        "#collateral td.coverage", "tds => tds.map(t => t.textContent)"
    )
    assert coverage and set(coverage) == {"— no live state"}, coverage
    lots = await page.eval_on_selector_all(
        "#collateral table.data.inner:not(.devices) tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))",
    )
    # what is pledged is the fleet file's; on hand, its value and coverage are not known
    assert lots[0] == [
        "b003-c1 · steel sheet; handling unit 3000 kg", "2,000.0 t", "—", "— no live state",
        "EUR 1,671,640", "—",
    ], lots  # fmt: skip
    marker, colour, dot = await _marker(page)
    assert re.fullmatch(r"page checked \d\d:\d\d:\d\d UTC · no state yet", marker), marker
    assert colour not in RISK_COLOURS and dot == '"○"'


async def _marks(page: Page) -> dict[str, str | None]:
    """Each portfolio row's stale mark, in the rows' order."""
    marks: dict[str, str | None] = await page.eval_on_selector_all(
        "#portfolio-table tbody tr",
        "rows => Object.fromEntries(rows.map(r => [r.dataset.borrowerRow, "
        "r.querySelector('.stale-mark')?.textContent ?? null]))",
    )
    return marks


async def _portfolio_scores_say_what_they_are(page: Page) -> None:
    """The portfolio: b003's score is no number in no risk colour, b002's greyed."""
    cells = await page.eval_on_selector_all(
        "#portfolio-table tbody tr",
        "rows => Object.fromEntries(rows.map(r => [r.dataset.borrowerRow, {"
        "score: r.cells[2].innerText, matrix: r.cells[3].innerText,"
        "coverage: r.cells[4].innerText, at_risk: r.cells[7].innerText,"
        "value: r.cells[2].querySelector('.score-value').className,"
        "colour: getComputedStyle(r.cells[2].querySelector('.score-value')).color,"
        "fill: r.cells[2].querySelector('.fill')?.className ?? null}]))",
    )
    none = cells["b003"]  # its API score is null
    assert not re.search(r"\d", none["score"] + none["coverage"] + none["at_risk"]), none
    text = await page.inner_text("#page-portfolio")
    assert not re.search(r"NaN|null|undefined", text), text
    assert none["score"].startswith("— no live score yet") and none["fill"] is None
    assert none["matrix"].startswith("— no live score yet") and none["colour"] not in RISK_COLOURS
    stale = cells["b002"]
    assert stale["score"].startswith("73.0") and stale["value"] == "score-value stale"
    assert stale["colour"] == GREY and stale["fill"] == "fill stale"
    live = cells["b001"]
    assert live["value"] == "score-value medium" and live["fill"] == "fill medium"
    marker, colour, dot = await _marker(page, "#page-portfolio .live-note")
    assert re.fullmatch(r"page checked \d\d:\d\d:\d\d UTC · 2 of 3 scores not live", marker)
    assert colour not in RISK_COLOURS and dot == '"○"'
    notes = await page.eval_on_selector_all(
        "#page-portfolio .tile.on-hand .note.no-value", "ns => ns.map(n => n.textContent)"
    )
    assert notes == ["without 1 borrower not live yet"] * 3, notes


async def test_a_state_that_ages_past_stale_on_screen_greys_score_and_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page left open on a live state that stops coming: the banner, the score and the
    marker turn stale together, by the second, and stay so across the page's refresh.
    The API's faked clock runs from NOW at the pace of the monotonic clock."""
    fleet, db = bank_with_rita(tmp_path)
    api = _api_of_cluster(db, fleet.tenant.id)
    started = time.monotonic()
    monkeypatch.setattr(live_view, "wall_clock", lambda: NOW + time.monotonic() - started)
    send(api, fleet.tenant.id, "b001", NOW - 100.0, 42.0)  # stale 20 s after the start
    problems: list[str] = []

    async def stale_everywhere(page: Page) -> None:
        marker, colour, _ = await _marker(page)
        assert re.fullmatch(r"page checked \S+ UTC · state \d+ min old", marker), marker
        assert colour not in RISK_COLOURS, colour
        text, classes, colour = await _score(page, "#page-borrower")
        assert text == "42.0" and "stale" in classes.split() and colour == GREY
        assert "not live" in await page.inner_text("#page-borrower .score-age")

    async def run() -> None:
        async with app_serving(create_app(api)) as base, async_playwright() as pw:
            browser, page = await open_page(pw, problems, width=390)
            page.set_default_timeout(STEP_TIMEOUT_MS)
            try:
                await page.goto(base)
                await log_in(page, "rita", "rita-password")
                await _open_borrower(page, "b001")
                # banner, marker and score agree at every moment, fresh or stale
                agree = (
                    "(() => { const s = document.querySelector('#state-age').dataset.stale;"
                    "const m = document.querySelector('#page-borrower .live-note');"
                    "const v = document.querySelector('#page-borrower .big-score .score-value');"
                    "return (s === 'true') === m.classList.contains('not-live') &&"
                    "(s === 'true') === v.classList.contains('stale') &&"
                    "(s === 'true') !== m.textContent.startsWith('page updated'); })()"
                )
                assert await page.evaluate(agree)
                await wait_until(
                    page, "document.querySelector('#state-age').dataset.stale === 'true'", 40
                )
                await stale_everywhere(page)
                assert await page.evaluate(agree)
                await page.screenshot(path=str(ARTIFACTS / "borrower-state-aged-390.png"))
                # the page's next refresh (every 10 s) keeps it so: the API's clock ran on
                await page.evaluate("document.querySelector('#state-age').id = 'old-note'")
                await wait_until(page, "document.querySelector('#state-age') !== null", 30)
                assert await page.get_attribute("#state-age", "data-stale") == "true"
                await stale_everywhere(page)
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
                # as before: a green marker, the score in its risk colour, no age, no "—"
                marker, colour, _ = await _marker(page)
                assert re.fullmatch(r"live · updated \d\d:\d\d:\d\d UTC", marker), marker
                assert colour == GREEN
                text, classes, colour = await _score(page, "#page-borrower")
                assert (text, classes, colour) == ("0.0", "score-value low", GREEN)
                assert await page.inner_text("#page-borrower .score-age") == ""
                assert "—" not in await page.inner_text("#page-borrower")
                assert await page.locator("#score-chart svg").count() == 1

                await page.evaluate("location.hash = '#/portfolio'")
                await wait_until(
                    page, "document.querySelectorAll('#portfolio-table tbody tr').length === 3"
                )
                portfolio = await page.inner_text("#page-portfolio")
                assert "STALE" not in portfolio and "NOT LIVE" not in portfolio
                assert "—" not in portfolio and "not live" not in portfolio
                marker, colour, _ = await _marker(page, "#page-portfolio .live-note")
                assert re.fullmatch(r"live · updated \d\d:\d\d:\d\d UTC", marker), marker
                assert colour == GREEN
            finally:
                await browser.close()

    await asyncio.wait_for(run(), TEST_TIMEOUT_S)
    assert problems == []


async def test_the_portfolios_stale_ages_count_up_on_screen_with_no_new_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portfolio left open: b002's "STALE · sent 5 min ago" counts up from when risk
    worker r7 sent it, and b001's score turns stale as it passes 2 minutes on screen, its
    score greyed and the marker counting it, all with no new data: the page's refresh is
    held, and only the browser's faked clock moves (110 s, at once). Let through then,
    with the API's faked clock moved as far, the refresh shows the same ages."""
    fleet, db = bank_with_rita(tmp_path)
    api = _api_of_cluster(db, fleet.tenant.id)
    api_now = [NOW]
    monkeypatch.setattr(live_view, "wall_clock", lambda: api_now[0])
    problems: list[str] = []
    held: list[Route] = []

    async def hold(route: Route) -> None:
        held.append(route)

    def portfolio_reads(url: str) -> bool:
        return "/api/portfolio" in url

    async def run() -> None:
        async with app_serving(create_app(api)) as base, async_playwright() as pw:
            browser, page = await open_page(pw, problems)
            page.set_default_timeout(STEP_TIMEOUT_MS)
            try:
                await page.clock.install()
                await page.goto(base)
                await log_in(page, "rita", "rita-password")
                await page.evaluate("location.hash = '#/portfolio'")
                rows = "document.querySelectorAll('#portfolio-table tbody tr')"
                await wait_until(page, f"{rows}.length === 3")
                # from here the page's clock moves only when the test moves it
                await page.clock.pause_at(await page.evaluate("Date.now()") / 1000 + 0.01)
                assert await _marks(page) == {
                    "b002": "STALE · sent 5 min ago",
                    "b001": None,
                    "b003": "NOT LIVE · no state sent yet",
                }
                assert await _portfolio_marker(page) == "2 of 3 scores not live"
                await page.evaluate(f"window.shownRows = [...{rows}]")
                await page.route(portfolio_reads, hold)

                await page.clock.run_for(60_000)
                marks = await _marks(page)
                assert marks["b002"] == "STALE · sent 6 min ago" and marks["b001"] is None, marks
                assert await _row_scores(page, "b001") == ["score-value medium", "fill medium"]
                await page.clock.run_for(50_000)  # b001: 122 s, past 120
                assert await _marks(page) == {
                    "b002": "STALE · sent 7 min ago",
                    "b001": "STALE · sent 2 min ago",
                    "b003": "NOT LIVE · no state sent yet",
                }
                assert await _row_scores(page, "b001") == ["score-value stale", "fill stale"]
                colour = "#portfolio-table tr[data-borrower-row=b001] .score-value"
                assert await page.eval_on_selector(colour, COLOUR) == GREY
                matrix = "#portfolio-table tr[data-borrower-row=b001] .matrix-cell .score-value"
                assert await page.get_attribute(matrix, "class") == "score-value stale"
                assert await _portfolio_marker(page) == "3 of 3 scores not live"
                # all that with no new data: the rows are those first drawn, and the page's
                # refresh (every 10 s) is the one held
                assert await page.evaluate("window.shownRows.every(r => r.isConnected)")
                assert len(held) == 1, [r.request.url for r in held]
                await page.screenshot(path=str(ARTIFACTS / "portfolio-state-aged.png"))

                api_now[0] = NOW + 110.0
                await held[0].continue_()
                await page.unroute(portfolio_reads, hold)
                await wait_until(page, "!window.shownRows[0].isConnected", timeout_s=20)
                await wait_until(page, f"{rows}.length === 3", timeout_s=20)
                assert await _marks(page) == {
                    "b002": "STALE · sent 7 min ago",
                    "b001": "STALE · sent 2 min ago",
                    "b003": "NOT LIVE · no state sent yet",
                }
                assert await _portfolio_marker(page) == "3 of 3 scores not live"
            finally:
                await browser.close()

    await asyncio.wait_for(run(), TEST_TIMEOUT_S)
    assert problems == []


async def _portfolio_marker(page: Page) -> str:
    """The portfolio marker's count of scores not live (it must not be green then)."""
    text, colour, dot = await _marker(page, "#page-portfolio .live-note")
    found = re.fullmatch(r"page checked \d\d:\d\d:\d\d UTC · (.+)", text)
    assert found and colour not in RISK_COLOURS and dot == '"○"', (text, colour, dot)
    return found.group(1)


async def _row_scores(page: Page, borrower_id: str) -> list[str]:
    """The classes of a portfolio row's score figure and bar."""
    classes: list[str] = await page.eval_on_selector_all(
        f"#portfolio-table tr[data-borrower-row={borrower_id}] .score-cell :is(.score-value, .fill)",
        "nodes => nodes.map(n => n.className)",
    )
    return classes
