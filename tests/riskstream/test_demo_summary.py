"""The demo's live screen laid out for the terminal's width."""

import io

import pytest
from rich.console import Console

from riskstream.cli.summary import render_summary

STATS = {
    "open_alerts_by_severity": {"critical": 2, "warning": 5},
    "event_time": 1764950400.0,
    "broker_connected": True,
    "borrowers": 40,
    "devices": 204,
    "readings_per_s": 1234.5,
    "readings_total": 123456,
    "rejected_total": 3,
}
LONG_REASON = (
    "stock covers 62 % of the pledge (410.2 t of 661.6 t); below 90 % for 30 min, "
    "after 3 out-of-hours movements at the door of warehouse W-2"
)
NEWEST = [
    {
        "severity": "critical",
        "status": "open",
        "borrower_id": "B-0012",
        "kind": "inventory_below_pledge",
        "opened_at": 1764950000.0,
        "reasons": [LONG_REASON],
    },
    {
        "severity": "warning",
        "status": "acknowledged",
        "borrower_id": "B-0003",
        "kind": "device_silent",
        "opened_at": 1764950100.0,
        "reasons": [],
    },
]


def _screen(width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    frame = render_summary(
        "http://127.0.0.1:8000/", STATS, NEWEST, 99_999, 12.3,
        login="demo / riskstream-demo", width=width,
    )  # fmt: skip
    console.print(frame)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue().splitlines()


@pytest.mark.parametrize("width", [60, 80, 100])
def test_a_narrow_terminal_gets_two_lines_per_alert_and_no_wrapped_line(width: int) -> None:
    lines = _screen(width)
    assert all(len(line) <= width for line in lines)
    assert sum("log in demo / riskstream-demo" in line for line in lines) == (width >= 70)
    start = lines.index("newest alerts")
    alerts = lines[start + 1 :]
    assert len(alerts) == 2 * len(NEWEST)
    assert alerts[0].startswith("critical open") and "B-0012" in alerts[0]
    assert alerts[1].startswith("  stock covers 62 % of the pledge")
    assert alerts[1].endswith("…") or LONG_REASON in alerts[1]


def test_a_wide_terminal_gets_a_table_with_the_reason_in_full() -> None:
    lines = _screen(260)
    assert all(len(line) <= 260 for line in lines)
    assert any("since (event time)" in line for line in lines)
    assert sum(LONG_REASON in line for line in lines) == 1
