"""The demo's live terminal summary: URL, readings/s, open alerts, newest alerts."""

from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def _when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_summary(
    url: str,
    stats: dict[str, Any],
    newest: list[dict[str, Any]],
    published: int,
    elapsed_s: float,
    login: str = "",
) -> RenderableType:
    """One frame of the live summary."""
    by_sev = stats["open_alerts_by_severity"]
    head = Table.grid(padding=(0, 3))
    head.add_row(
        Text.assemble(("dashboard ", "dim"), (url, "bold underline"), ("  log in ", "dim"), login),
        Text.assemble(("event time ", "dim"), _when(stats["event_time"])),
        Text.assemble(("running ", "dim"), f"{elapsed_s:,.0f} s"),
    )
    head.add_row(
        Text.assemble(
            ("readings ", "dim"),
            f"{stats['readings_per_s']:,.0f}/s",
            ("  total ", "dim"),
            f"{stats['readings_total']:,}",
        ),
        Text.assemble(("messages published ", "dim"), f"{published:,}"),
        Text.assemble(("rejected ", "dim"), f"{stats['rejected_total']:,} msgs"),
    )
    head.add_row(
        Text.assemble(
            ("open alerts ", "dim"),
            (f"{by_sev.get('critical', 0)} critical", SEVERITY_STYLE["critical"]),
            "  ",
            (f"{by_sev.get('warning', 0)} warning", SEVERITY_STYLE["warning"]),
            "  ",
            (f"{by_sev.get('info', 0)} info", SEVERITY_STYLE["info"]),
        ),
        Text.assemble(
            ("fleet ", "dim"), f"{stats['borrowers']} borrowers, {stats['devices']} devices"
        ),
        Text(
            "broker connected" if stats["broker_connected"] else "broker NOT connected",
            style="green" if stats["broker_connected"] else "bold red",
        ),
    )
    alerts = Table(
        "severity",
        "status",
        "borrower",
        "kind",
        "since (event time)",
        "reason",
        expand=True,
        title="newest alerts",
    )
    for a in newest:
        alerts.add_row(
            Text(a["severity"], style=SEVERITY_STYLE.get(a["severity"], "")),
            a["status"],
            a["borrower_id"],
            a["kind"].replace("_", " "),
            _when(a["opened_at"]),
            a["reasons"][0] if a["reasons"] else "",
        )
    return Group(Panel(head, title="riskstream demo", border_style="blue"), alerts)


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
