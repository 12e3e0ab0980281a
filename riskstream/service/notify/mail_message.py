"""The e-mail of one alert change, or the digest of several, for one recipient.

Plain text: per change the event, severity, kind, borrower, the alert's reasons and a
link to the borrower's page on the dashboard (``dashboard_url`` + ``/#/borrower/ID``).
"""

import time
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from riskstream.service.notify.mail_store import Queued

SUBJECT_PREFIX = "[riskstream]"


def borrower_link(dashboard_url: str, alert: dict[str, Any]) -> str:
    """The dashboard page of the alert's borrower, with the alert selected."""
    borrower = quote(str(alert.get("borrower_id", "")), safe="")
    alert_id = quote(str(alert["id"]), safe="")
    return f"{dashboard_url.rstrip('/')}/#/borrower/{borrower}?alert={alert_id}"


def subject_of(tenant: str, items: list[Queued]) -> str:
    """``[riskstream] critical inventory_below_pledge opened: borrower b1`` for one change,
    ``[riskstream] 5 alert changes at bank-a (2 critical)`` for a digest."""
    if len(items) == 1:
        alert = items[0].alert
        return (
            f"{SUBJECT_PREFIX} {alert.get('severity')} {alert.get('kind')} "
            f"{items[0].event}: borrower {alert.get('borrower_id')}"
        )
    critical = sum(1 for q in items if q.alert.get("severity") == "critical")
    return f"{SUBJECT_PREFIX} {len(items)} alert changes at {tenant} ({critical} critical)"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _section(item: Queued, dashboard_url: str) -> str:
    alert = item.alert
    lines = [
        f"{item.event.upper()}: {alert.get('severity')} {alert.get('kind')}",
        f"  borrower {alert.get('borrower_id')}, loan {alert.get('loan_id') or '-'}, "
        f"site {alert.get('site_id') or '-'}, device {alert.get('device_id') or '-'}",
        f"  status {alert.get('status')}, opened {_when(float(alert.get('opened_at', 0)))} "
        f"(event time), alert {alert['id']}",
        "  reasons:",
        *(f"  - {reason}" for reason in alert.get("reasons", [])),
        f"  {borrower_link(dashboard_url, alert)}",
    ]
    return "\n".join(lines)


def compose(
    sender: str, to: str, tenant: str, items: list[Queued], dashboard_url: str
) -> EmailMessage:
    """The mail of ``items`` (oldest first) to ``to``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject_of(tenant, items)
    intro = (
        f"{len(items)} alert changes at {tenant} since the last mail, oldest first."
        if len(items) > 1
        else f"An alert changed at {tenant}."
    )
    sections = "\n\n".join(_section(item, dashboard_url) for item in items)
    message.set_content(f"{intro}\n\n{sections}\n\n-- riskstream\n")
    message["X-Riskstream-Changes"] = str(len(items))
    return message
