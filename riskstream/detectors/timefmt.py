"""Event times as people read them in alert reasons."""

from datetime import UTC, datetime


def clock(ts: float) -> str:
    """``2026-11-26 02:14 UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
