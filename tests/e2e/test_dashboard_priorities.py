"""Issue 15 on a desktop screen (1440 px) in a real headless Chromium: the feed ranks
alerts by alert score and shows money at risk, one legend explains both scores, one unit
per quantity (t for a large lot, never "1 m"), doors and ignitions read as words,
coordinates with 5 decimals, chart labels inside the chart, and a map filter."""

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright

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

WINDOW_S = 6 * 3600.0
RANK = {"critical": 2, "warning": 1, "info": 0}
# every text of an SVG chart lies inside its viewBox (a label at the edge is clipped)
TEXTS_OUTSIDE = """svg => {
  const box = svg.viewBox.baseVal;
  return [...svg.querySelectorAll('text')].filter(t => {
    const b = t.getBBox();
    return b.x < -0.5 || b.y < -0.5 || b.x + b.width > box.width + 0.5
      || b.y + b.height > box.height + 0.5;
  }).map(t => t.textContent);
}"""


async def publish_all(
    runtime: Runtime, messages: list[Any], fleet: Any, mosquitto: Mosquitto, start: float
) -> None:
    """Publish the scenario and wait until the service has taken it in."""
    await publish_part(messages, fleet, mosquitto, start, "prio")
    deadline = time.monotonic() + 30
    while runtime.ingest and runtime.ingest.readings_written < len(messages) * 0.9:
        assert time.monotonic() < deadline, "ingest did not catch up"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)


async def api_alerts(base: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base) as client:
        login = await client.post(
            "/api/token", data={"username": "rita", "password": "rita-password"}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        items: list[dict[str, Any]] = (
            await client.get("/api/alerts?limit=1000", headers=headers)
        ).json()["items"]
        return items


async def feed_rows(page: Page) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await page.eval_on_selector_all(
        "#alerts tbody tr",
        """rows => rows.map(r => ({
            id: r.dataset.id,
            severity: r.querySelector('.sev').textContent,
            score: parseFloat(r.querySelector('td.score').textContent),
            money: r.querySelector('td.money').textContent,
            basis: r.querySelector('td.score').title,
        }))""",
    )
    return rows


async def test_scores_units_labels_and_map_filter_on_a_desktop(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    fleet, db = bank_with_rita(tmp_path)
    start, messages = recent_messages(
        fleet, WINDOW_S, {"b001": "inventory_drain", "b002": "geofence_exit", "b003": "gps_spoof"}
    )
    runtime = Runtime(service_settings(mosquitto, tmp_path, db, "prio"))
    problems: list[str] = []
    async with serving(runtime) as base, async_playwright() as pw:
        browser, page = await open_page(pw, problems, width=1440)
        await page.goto(base)
        await log_in(page, "rita", "rita-password")
        await page.select_option("#f-status", "")
        await publish_all(runtime, messages, fleet, mosquitto, start)
        listed = await api_alerts(base)
        assert {a["kind"] for a in listed} >= {"inventory_below_pledge", "position_implausible"}
        await wait_until(
            page, f"document.querySelectorAll('#alerts tbody tr').length >= {len(listed)}"
        )

        # 1. the API: a critical alert outranks every warning, every alert says its money
        for a in listed:
            assert a["money_at_risk"] is not None and a["currency"] == "EUR", a
            low, high = {"info": (0, 32), "warning": (34, 66), "critical": (68, 100)}[a["severity"]]
            assert low <= a["score"] <= high and a["score_basis"].startswith(a["severity"])
        # the feed: by alert score (its default order), money at risk shown
        rows = await feed_rows(page)
        assert {r["id"] for r in rows} == {a["id"] for a in listed}
        assert [RANK[r["severity"]] for r in rows] == sorted(
            (RANK[r["severity"]] for r in rows), reverse=True
        )
        assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
        assert all(re.match(r"EUR [\d,]+", r["money"]) and "loan" in r["money"] for r in rows)
        assert all("band" in r["basis"] and "at risk" in r["basis"] for r in rows)
        # one legend explains both scores
        await page.click("#score-legend summary")
        legend = await page.inner_text("#score-legend")
        assert "Alert score" in legend and "Borrower risk score" in legend
        assert "critical 68–100" in legend and "Money at risk" in legend
        await page.screenshot(path=str(ARTIFACTS / "prio-feed-by-score.png"), full_page=True)
        # the previous order stays available
        await page.select_option("#f-order", "newest")
        newest = [r["id"] for r in await feed_rows(page)]
        by_time = sorted(listed, key=lambda a: (-a["opened_at"], a["id"]))
        assert newest == [a["id"] for a in by_time]
        await page.select_option("#f-order", "score")
        await page.click("#score-legend summary")

        # 2. the borrower page: weights in t everywhere (lot 328 t), doors and ignitions
        # in words, the alert's score and money on the timeline
        drain = next(a for a in listed if a["kind"] == "inventory_below_pledge")
        await page.goto(f"{base}/#/borrower/b001?alert={drain['id']}")
        chart = page.locator("#evidence svg.chart").first
        await chart.wait_for()
        assert "(t)" in await chart.locator("text.unit-label").text_content() or ""
        ticks = await chart.locator("text.tick.y").all_text_contents()
        assert ticks and not [t for t in ticks if re.search(r"[km]$", t)], ticks
        assert all(re.fullmatch(r"-?[\d,]+(\.\d+)?", t) for t in ticks), ticks
        thresholds = await chart.locator("text.threshold-label").all_text_contents()
        assert all(t.endswith(" t") for t in thresholds), thresholds
        assert await chart.evaluate(TEXTS_OUTSIDE) == []
        collateral = await page.inner_text("#collateral")
        figures = await page.locator(
            "#collateral td.num, #collateral table.devices td"
        ).all_inner_texts()
        assert not [f for f in figures if re.search(r"\d kg", f)], figures
        assert re.search(r"weight [\d,.]+ t", collateral) and "328.0 t" in collateral
        assert re.search(r"door (open|closed)", collateral) and "door open 0" not in collateral
        assert re.search(r"ignition (on|off)", collateral) and "ignition 0" not in collateral
        assert re.search(r"lat \d+\.\d{5}°", collateral), collateral
        evidence = await page.inner_text("#evidence")
        assert " kg" not in evidence and "alert score" in evidence and "at risk" in evidence
        assert await page.locator("#alert-timeline .alert-figures").count() >= 1
        await page.locator("#page-borrower #score-legend-borrower summary").click()
        assert "Borrower risk score" in await page.inner_text("#score-legend-borrower")
        await page.screenshot(path=str(ARTIFACTS / "prio-borrower-tonnes.png"), full_page=True)

        # 5. coordinates with 5 decimals on the axes and labels; labels inside the chart
        jump = next(a for a in listed if a["kind"] == "position_implausible")
        await page.goto(f"{base}/#/borrower/{jump['borrower_id']}?alert={jump['id']}")
        lat = page.locator("#evidence svg.chart[data-metric=lat_deg]")
        await lat.wait_for()
        for text in await lat.locator("text.tick.y").all_text_contents():
            assert re.fullmatch(r"-?\d+\.\d{5}", text), text
        for text in await lat.locator("text.threshold-label").all_text_contents():
            assert re.search(r"\d+\.\d{5}°$", text), text
        titles = await lat.locator("circle.pt title").all_text_contents()
        assert titles and all(re.search(r"\d+\.\d{5}°$", t) for t in titles), titles[:3]
        for svg in await page.locator("#evidence svg.chart").all():
            assert await svg.evaluate(TEXTS_OUTSIDE) == []
        await page.locator("#evidence").screenshot(path=str(ARTIFACTS / "prio-coordinates.png"))

        # a breach that starts at the chart's right edge keeps its label inside
        edge = await page.evaluate(
            """async () => {
              const { lineChart } = await import('/static/charts.js');
              const svg = lineChart({title: 'latitude', unit: '°', start: 0, end: 3600,
                digits: 5, shade: [3590, 3600],
                thresholds: [{value: 1.51234, label: 'after the jump'}],
                series: [{label: 'd', points: [[0, 1.50001], [3600, 1.51234]]}]});
              document.body.appendChild(svg);
              const box = svg.viewBox.baseVal;
              const label = svg.querySelector('text.breach-label').getBBox();
              const out = [...svg.querySelectorAll('text')].filter(t => {
                const b = t.getBBox();
                return b.x < 0 || b.y < 0 || b.x + b.width > box.width
                  || b.y + b.height > box.height;
              }).map(t => t.textContent);
              svg.remove();
              return {right: label.x + label.width, width: box.width, out};
            }"""
        )
        assert edge["out"] == [] and edge["right"] <= edge["width"] - 16, edge

        # 4. the map: vehicles needing attention first, filtered by state and borrower
        await page.goto(f"{base}/#/map")
        cards = page.locator("#map-grid .map-card")
        await cards.first.wait_for()
        states = await cards.evaluate_all("cs => cs.map(c => c.dataset.state)")
        order = ["outside_fence", "moving", "parked", "no_position"]
        assert len(states) == 6
        assert states[0] == "outside_fence", states  # b002's vehicle left its fence
        assert states.index("outside_fence") < min(
            (states.index(s) for s in ("parked", "no_position") if s in states), default=99
        )
        await page.screenshot(path=str(ARTIFACTS / "prio-map-all.png"))
        await page.select_option("#map-state", "outside_fence")
        shown = await cards.evaluate_all("cs => cs.map(c => c.dataset.state)")
        assert (
            shown
            and set(shown) == {"outside_fence"}
            and len(shown) == states.count("outside_fence")
        )
        assert await page.evaluate("location.hash") == "#/map?state=outside_fence"
        await page.select_option("#map-state", "")
        await page.select_option("#map-borrower", "b001")
        owners = await cards.evaluate_all("cs => cs.map(c => c.dataset.borrower)")
        assert owners == ["b001", "b001"]
        await page.select_option("#map-state", "parked")
        parked_b001 = await cards.evaluate_all("cs => cs.map(c => c.dataset.state)")
        assert set(parked_b001) <= {"parked"} and len(parked_b001) <= 2
        assert "of 6 sites" in await page.inner_text("#page-map .page-head")
        await page.screenshot(path=str(ARTIFACTS / "prio-map-filtered.png"))
        # the borrower page's map link lands on the filtered map
        await page.goto(f"{base}/#/map?borrower=b002")
        await wait_until(page, "document.querySelector('#map-borrower').value === 'b002'")
        assert set(await cards.evaluate_all("cs => cs.map(c => c.dataset.borrower)")) == {"b002"}
        assert all(s in order for s in states)
        await browser.close()
    assert problems == [], f"browser console errors: {problems}"
