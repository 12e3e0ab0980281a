"""Alerts as the API serves them: their score as of the lender's event time.

An alert's score grows (a little) with its age (`riskstream.scoring.alert_score`), so
every answer that carries alerts (the list, one alert, the live feed, the borrower page,
an acknowledgement) gives the score as of the lender's latest event time, not as of the
alert's last change.
"""

from typing import Any

from riskstream.scoring.alert_score import rescored
from riskstream.service.runtime import Runtime


def scored_now(runtime: Runtime, alert: dict[str, Any]) -> dict[str, Any]:
    """``alert`` (a stored alert) with its score as of its lender's event time."""
    return rescored(alert, runtime.engines.of(str(alert["tenant"])).watermark)


def all_scored_now(runtime: Runtime, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of ``alerts`` with its score as of its lender's event time."""
    return [scored_now(runtime, a) for a in alerts]
