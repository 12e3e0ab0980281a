"""The demo's live terminal summary: URL, readings/s, open alerts, newest alerts."""

from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}

WIDE_COLUMNS = 120
"""From this width on, the newest alerts are a table with one row each; below it, each
alert takes two lines (what, then why) so that no reason is squeezed into a narrow column."""


def _when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _line(*parts: str | tuple[str, str]) -> Text:
    """One line that is cut with an ellipsis rather than wrapped."""
    text = Text.assemble(*parts)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _head(url: str, login: str, stats: dict[str, Any], published: int, elapsed_s: float) -> Group:
    by_sev = stats["open_alerts_by_severity"]
    connected = stats["broker_connected"]
    return Group(
        _line(("dashboard ", "dim"), (url, "bold underline"), ("  log in ", "dim"), login),
        _line(
            ("event time ", "dim"),
            _when(stats["event_time"]),
            ("  running ", "dim"),
            f"{elapsed_s:,.0f} s",
        ),
        _line(
            ("fleet ", "dim"),
            f"{stats['borrowers']} borrowers, {stats['devices']} devices  ",
            ("broker connected", "green") if connected else ("broker NOT connected", "bold red"),
        ),
        _line(
            ("readings ", "dim"),
            f"{stats['readings_per_s']:,.0f}/s",
            ("  total ", "dim"),
            f"{stats['readings_total']:,}",
            ("  published ", "dim"),
            f"{published:,} msgs",
            ("  rejected ", "dim"),
            f"{stats['rejected_total']:,} msgs",
        ),
        _line(
            ("open alerts ", "dim"),
            (f"{by_sev.get('critical', 0)} critical", SEVERITY_STYLE["critical"]),
            "  ",
            (f"{by_sev.get('warning', 0)} warning", SEVERITY_STYLE["warning"]),
            "  ",
            (f"{by_sev.get('info', 0)} info", SEVERITY_STYLE["info"]),
        ),
    )


def _alerts_table(newest: list[dict[str, Any]]) -> Table:
    alerts = Table(expand=True, title="newest alerts")
    for name in ("severity", "status", "borrower", "kind", "since (event time)"):
        alerts.add_column(name, no_wrap=True)
    alerts.add_column("reason", ratio=1)
    for a in newest:
        alerts.add_row(
            Text(a["severity"], style=SEVERITY_STYLE.get(a["severity"], "")),
            a["status"],
            a["borrower_id"],
            a["kind"].replace("_", " "),
            _when(a["opened_at"]),
            a["reasons"][0] if a["reasons"] else "",
        )
    return alerts


def _alerts_lines(newest: list[dict[str, Any]]) -> Group:
    lines: list[Text] = [Text("newest alerts", style="italic")]
    for a in newest:
        lines.append(
            _line(
                (f"{a['severity']:<8}", SEVERITY_STYLE.get(a["severity"], "")),
                f" {a['status']:<12} {a['borrower_id']}  ",
                (a["kind"].replace("_", " "), "bold"),
                ("  since ", "dim"),
                _when(a["opened_at"]),
            )
        )
        lines.append(_line("  ", (a["reasons"][0] if a["reasons"] else "", "dim")))
    return Group(*lines)


def render_summary(
    url: str,
    stats: dict[str, Any],
    newest: list[dict[str, Any]],
    published: int,
    elapsed_s: float,
    login: str = "",
    width: int = WIDE_COLUMNS,
) -> RenderableType:
    """One frame of the live summary, laid out for a terminal `width` columns wide: every
    line of the head is cut rather than wrapped, and below `WIDE_COLUMNS` each alert takes
    two lines."""
    head = Panel(_head(url, login, stats, published, elapsed_s), title="riskstream demo")
    head.border_style = "blue"
    alerts = _alerts_table(newest) if width >= WIDE_COLUMNS else _alerts_lines(newest)
    return Group(head, alerts)


def status_line(stats: dict[str, Any], published: int, elapsed_s: float) -> str:
    """The summary as one plain log line, for output that is not a terminal."""
    by_sev = stats["open_alerts_by_severity"]
    broker = "broker connected" if stats["broker_connected"] else "broker NOT connected"
    return (
        f"running {elapsed_s:,.0f} s: event time {_when(stats['event_time'])}; "
        f"readings {stats['readings_per_s']:,.0f}/s, {stats['readings_total']:,} stored; "
        f"{published:,} messages published, {stats['rejected_total']:,} rejected; "
        f"open alerts {by_sev.get('critical', 0)} critical, {by_sev.get('warning', 0)} warning, "
        f"{by_sev.get('info', 0)} info; {broker}"
    )
