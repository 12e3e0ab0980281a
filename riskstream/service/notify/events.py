"""What an alert change is called, and the JSON body every notification carries.

Events: ``opened`` (a new alert), ``escalated`` (its severity went up), ``acknowledged``,
``resolved``, ``updated`` (anything else: new evidence, reasons, a lower severity). The
body is ``{"event", "tenant", "tenant_seq", "alert"}``, ``alert`` as ``GET /api/alerts``
gives it; ``tenant_seq`` is the lender's number of the change (the live feed's event id),
so a receiver can order changes and drop one it got twice.
"""

from typing import Any, Literal

import orjson

from riskstream.service.alert_store import AlertStore

Event = Literal["opened", "escalated", "updated", "acknowledged", "resolved", "test"]
EVENTS: tuple[Event, ...] = ("opened", "escalated", "updated", "acknowledged", "resolved")
_RANK = {"info": 0, "warning": 1, "critical": 2}


def change_event(previous: dict[str, Any] | None, current: dict[str, Any]) -> Event:
    """The event of a change from ``previous`` (None: none before) to ``current``."""
    if previous is None:
        return "opened"
    if current.get("status") != previous.get("status"):
        if current.get("status") == "acknowledged":
            return "acknowledged"
        if current.get("status") == "resolved":
            return "resolved"
    if _RANK.get(current.get("severity", ""), 0) > _RANK.get(previous.get("severity", ""), 0):
        return "escalated"
    return "updated"


def body_of(event: Event, tenant_seq: int | None, alert: dict[str, Any]) -> bytes:
    """The JSON body of a notification (keys sorted, compact)."""
    return orjson.dumps(
        {"event": event, "tenant": alert["tenant"], "tenant_seq": tenant_seq, "alert": alert},
        option=orjson.OPT_SORT_KEYS,
    )


def changes_to_send(
    alerts: AlertStore, after: int, tenants: set[str], limit: int
) -> tuple[int | None, list[tuple[int, Event, dict[str, Any]]]]:
    """The changes after ``after`` of the given lenders, with their event: (the last
    sequence number read, or None when there was nothing; [(lender sequence number,
    event, alert)])."""
    changes = alerts.numbered_changes_after(after, limit)
    if not changes:
        return None, []
    found = []
    for seq, tenant_seq, alert in changes:
        if alert["tenant"] in tenants:
            event = change_event(alerts.previous_change(alert["id"], seq), alert)
            found.append((tenant_seq, event, alert))
    return changes[-1][0], found
