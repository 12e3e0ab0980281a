"""A timeline of injected events against alerts, per borrower: one self-contained HTML file.

The page is plain HTML with an inline SVG (no script, no stylesheet or font from a
CDN), so it opens offline and can be attached to a ticket. One row per borrower that
has an event or an alert: events are shaded bars coloured by scenario; alerts are
lines from their evidence (``opened_at``) to their end (resolved, or last update), with
a dot where the engine raised them, green when they match an event and red when they
do not; the grey ticks under each row are the borrower's monthly field exams. Hover
over any mark for its details.
"""

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from devices.truth import TruthRecord
from riskstream.backtest.alerts_file import AlertRecord
from riskstream.backtest.baselines import BASELINES, DAY_S, check_times
from riskstream.backtest.matching import Matching

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#76b7b2",
    "#b07aa1",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#59a14f",
    "#bab0ac",
    "#e15759",
)
MATCHED, FALSE = "#1a7f37", "#cf222e"
LEFT, WIDTH, ROW, TOP = 170, 1000, 28, 48


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


class _Scale:
    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.span = max(end - start, 1.0)

    def x(self, ts: float) -> float:
        return round(LEFT + (ts - self.start) / self.span * WIDTH, 1)


def _axis(scale: _Scale, end: float, height: int) -> list[str]:
    days = scale.span / DAY_S
    step = max(1, math.ceil(days / 14)) * DAY_S
    first = math.ceil(scale.start / DAY_S) * DAY_S
    out = []
    tick = first
    while tick <= end:
        x = scale.x(tick)
        label = datetime.fromtimestamp(tick, UTC).strftime("%m-%d")
        out.append(f'<line x1="{x}" y1="{TOP - 6}" x2="{x}" y2="{height}" class="grid"/>')
        out.append(f'<text x="{x}" y="{TOP - 12}" text-anchor="middle">{label}</text>')
        tick += step
    return out


def render_timeline(
    truth: Sequence[TruthRecord],
    alerts: Sequence[AlertRecord],
    matching: Matching,
    seed: int = 0,
    title: str = "riskstream backtest: injected events and alerts",
    summary: Sequence[str] = (),
) -> str:
    """The timeline as an HTML document."""
    keys = sorted(
        {(r.tenant, r.borrower_id) for r in truth} | {(a.tenant, a.borrower_id) for a in alerts}
    )
    starts = [r.start_ts for r in truth] + [a.opened_at for a in alerts]
    ends = [r.end_ts for r in truth] + [a.until for a in alerts]
    start, end = (min(starts), max(ends)) if starts else (0.0, DAY_S)
    scale = _Scale(start, end)
    colour = {
        s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sorted({r.scenario for r in truth}))
    }
    row_of = {key: n for n, key in enumerate(keys)}
    height = TOP + ROW * len(keys) + 8
    svg = _axis(scale, end, height)
    exam = BASELINES[0]
    for (tenant, borrower), n in row_of.items():
        y = TOP + n * ROW
        svg.append(f'<rect x="0" y="{y}" width="{LEFT + WIDTH}" height="{ROW}" class="r{n % 2}"/>')
        svg.append(f'<text x="{LEFT - 8}" y="{y + 18}" text-anchor="end">{_e(borrower)}</text>')
        for at in check_times(exam, tenant, borrower, start, end, seed):
            x = scale.x(at)
            svg.append(
                f'<line x1="{x}" y1="{y + ROW - 5}" x2="{x}" y2="{y + ROW}" class="exam">'
                f"<title>{_e(exam.label)} {_e(_when(at))}</title></line>"
            )
    for r in truth:
        y = TOP + row_of[(r.tenant, r.borrower_id)] * ROW
        x0, x1 = scale.x(r.start_ts), scale.x(r.end_ts)
        subject = r.collateral_id or r.device_id or r.site_id or r.loan_id or ""
        svg.append(
            f'<rect x="{x0}" y="{y + 3}" width="{max(round(x1 - x0, 1), 2.0)}" height="{ROW - 9}" '
            f'fill="{colour[r.scenario]}" fill-opacity="0.45"><title>{_e(r.scenario)} '
            f"{_e(subject)}: {_e(_when(r.start_ts))} to {_e(_when(r.end_ts))}</title></rect>"
        )
    for alert, matched in zip(alerts, matching.truth_of, strict=True):
        y = TOP + row_of[(alert.tenant, alert.borrower_id)] * ROW + ROW // 2 - 2
        stroke = MATCHED if matched is not None else FALSE
        x0, x1, xr = scale.x(alert.opened_at), scale.x(alert.until), scale.x(alert.raised_at)
        tip = (
            f"{_e(alert.kind)} {_e(alert.subject)} ({_e(alert.status)}; "
            f"{'matches an event' if matched is not None else 'false alert'}): evidence "
            f"{_e(_when(alert.opened_at))}, raised {_e(_when(alert.raised_at))}"
        )
        svg.append(
            f'<g><title>{tip}</title><line x1="{x0}" y1="{y}" x2="{max(x1, x0 + 1)}" y2="{y}" '
            f'stroke="{stroke}" stroke-width="3"/><circle cx="{xr}" cy="{y}" r="4" '
            f'fill="{stroke}"/></g>'
        )
    legend = "".join(
        f'<span><i style="background:{c}"></i>{_e(s)}</span>' for s, c in colour.items()
    )
    legend += (
        f'<span><i style="background:{MATCHED}"></i>alert matching an event</span>'
        f'<span><i style="background:{FALSE}"></i>false alert</span>'
        '<span><i style="background:#777"></i>monthly field exam</span>'
    )
    lines = "".join(f"<li>{_e(s)}</li>" for s in summary)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }}
svg text {{ font: 12px system-ui, sans-serif; fill: #333; }}
.grid {{ stroke: #ddd; }} .r0 {{ fill: #fafafa; }} .r1 {{ fill: #f0f0f0; }}
.exam {{ stroke: #777; stroke-width: 2; }}
.legend span {{ margin-right: 1.2em; white-space: nowrap; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; }}
</style></head><body>
<h1>{_e(title)}</h1>
<ul>{lines}</ul>
<p class="legend">{legend}</p>
<svg width="{LEFT + WIDTH + 10}" height="{height}">
{chr(10).join(svg)}
</svg>
<p>{_e(_when(start))} to {_e(_when(end))}; {len(truth)} events, {len(alerts)} alerts.</p>
</body></html>
"""


def write_timeline(path: Path | str, document: str) -> None:
    """Write the timeline; only ``.html`` is supported (PNG would need matplotlib).

    Raises:
        ValueError: ``path`` does not end in ``.html`` or ``.htm``.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(
            f"{path}: the timeline is written as .html (self-contained SVG); PNG would need "
            "matplotlib, which riskstream does not depend on"
        )
    path.write_text(document, encoding="utf-8")
