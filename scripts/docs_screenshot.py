"""Screenshot of a running dashboard's portfolio page for the README (docs/img/portfolio.png).

Uses the browser tests' helpers (Debian's Chromium through Playwright, the same login).
Start a demo first, then point this at it::

    riskstream demo --port 8765 &
    sleep 180   # let the replay raise some alerts
    PYTHONPATH=. .venv/bin/python scripts/docs_screenshot.py http://127.0.0.1:8765/
"""

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import async_playwright

from tests.e2e.browser import log_in, open_page

OUT = Path(__file__).resolve().parents[1] / "docs" / "img" / "portfolio.png"


async def shoot(base: str, user: str, password: str, out: Path, width: int) -> None:
    """Log in at ``base``, open the portfolio and save a screenshot of the window."""
    problems: list[str] = []
    async with async_playwright() as pw:
        browser, page = await open_page(pw, problems, width=width)
        try:
            await page.goto(base)
            await log_in(page, user, password)
            await page.click("#nav a[data-page=portfolio]")
            await page.wait_for_selector("#portfolio-table tbody tr")
            await page.wait_for_timeout(500)  # the bars' widths settle
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out), full_page=False)
        finally:
            await browser.close()
    if problems:
        raise SystemExit(f"the page logged errors: {problems}")


def main() -> None:
    """Parse the command line and take the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="dashboard URL, e.g. http://127.0.0.1:8765/")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", default="riskstream-demo")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    asyncio.run(shoot(args.base, args.user, args.password, args.out, args.width))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
