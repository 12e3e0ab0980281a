"""Waiting for a condition in a page served with a strict Content-Security-Policy."""

import asyncio
import time

from playwright.async_api import Page


async def wait_until(page: Page, expression: str, timeout_s: float = 30.0) -> None:
    """Wait until the JavaScript ``expression`` is truthy in ``page``.

    Polls with ``page.evaluate``, which the page's CSP does not govern; Playwright's
    ``wait_for_function`` evaluates its predicate with ``eval`` inside the page, which a
    policy without ``'unsafe-eval'`` (the dashboard's) refuses.
    """
    deadline = time.monotonic() + timeout_s
    while not await page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout_s} s: {expression}"
        await asyncio.sleep(0.05)
