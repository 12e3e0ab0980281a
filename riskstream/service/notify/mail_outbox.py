"""The mail outbox: queues alert changes for each lender's e-mail recipients and sends
them over SMTP, one mail per change or one digest per period.

Like the webhook outbox it reads the stored alert changes after its cursor and queues
the matching ones per recipient, cursor and rows in one transaction, so a restart loses
nothing. A recipient with ``digest_minutes`` N gets at most one mail per N minutes: the
first change after a quiet period goes out at once, later ones wait and go together.
A failed mail is retried with the webhooks' back-off, then its changes are dead.
"""

import asyncio
import contextlib
import logging
import random
import smtplib
import time
from collections.abc import Callable

import orjson

from riskstream.service.alert_store import AlertStore
from riskstream.service.notifier import ChangeNotifier
from riskstream.service.notify.backoff import retry_delay
from riskstream.service.notify.events import changes_to_send
from riskstream.service.notify.mail_message import compose
from riskstream.service.notify.mail_store import MailStore, Queued, Recipient
from riskstream.service.notify.outbox import POLL_S, RetryPolicy
from riskstream.service.notify.smtp_sender import SmtpServer, send

log = logging.getLogger(__name__)

CURSOR = "email"
PAGE = 500
MAX_PER_MAIL = 200
"""A digest holds at most this many changes; more go in the next mail."""


class MailOutbox:
    """Moves alert changes from the change log to the lenders' e-mail recipients."""

    def __init__(
        self,
        store: MailStore,
        alerts: AlertStore,
        server: SmtpServer | None,
        sender: str,
        dashboard_url: str,
        retry: RetryPolicy,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.server = server
        self.sender = sender
        self.dashboard_url = dashboard_url
        self.retry = retry
        self.clock = clock
        self.rng = rng or random.Random()

    def fan_out(self) -> int:
        """Queue every change after the cursor for its recipients; return how many items."""
        seq = self.store.cursor(CURSOR)
        if seq is None:
            self.store.enqueue(CURSOR, self.alerts.last_seq(), [], self.clock())
            return 0
        written = 0
        while True:
            recipients = self.store.active()
            tenants = {r.tenant for r in recipients}
            last, changes = changes_to_send(self.alerts, seq, tenants, PAGE)
            if last is None:
                return written
            seq = last
            rows = [
                (r.id, r.tenant, event, orjson.dumps(alert))
                for _, event, alert in changes
                for r in recipients
                if r.tenant == alert["tenant"] and r.filters.matches(event, alert)
            ]
            self.store.enqueue(CURSOR, seq, rows, self.clock())
            written += len(rows)

    def _waiting(self, recipient: Recipient, now: float) -> bool:
        """Whether the recipient's digest period since its last mail is still running."""
        if recipient.digest_minutes <= 0 or recipient.last_sent_at is None:
            return False
        return now < recipient.last_sent_at + recipient.digest_minutes * 60.0

    async def send_due(self) -> int:
        """Send every mail due now; return how many went out."""
        if self.server is None:
            return 0
        sent = 0
        for recipient in await asyncio.to_thread(self.store.active):
            now = self.clock()
            if self._waiting(recipient, now):
                continue
            items = await asyncio.to_thread(self.store.pending, recipient.id, now)
            while items:
                batch = items[:MAX_PER_MAIL] if recipient.digest_minutes > 0 else items[:1]
                items = items[len(batch) :]
                if not await self._send(recipient, batch):
                    break
                sent += 1
                if recipient.digest_minutes > 0:
                    break  # the rest waits for the next period
        return sent

    async def _send(self, recipient: Recipient, batch: list[Queued]) -> bool:
        assert self.server is not None
        message = compose(
            self.sender, recipient.address, recipient.tenant, batch, self.dashboard_url
        )
        ids = [q.id for q in batch]
        try:
            await asyncio.to_thread(send, self.server, message)
        except (smtplib.SMTPException, OSError) as exc:
            attempts = max(q.attempts for q in batch) + 1
            retry_at = None
            if attempts < self.retry.max_attempts:
                delay = retry_delay(attempts, self.retry.base_s, self.retry.cap_s, self.rng)
                retry_at = self.clock() + delay
            error = f"{type(exc).__name__}: {exc}"
            log.warning("mail to recipient %s failed: %s", recipient.id, error)
            await asyncio.to_thread(self.store.mark_failed, ids, error, retry_at)
            return False
        await asyncio.to_thread(self.store.mark_sent, recipient.id, ids, self.clock())
        return True

    async def step(self) -> None:
        """One round: queue new changes, then send what is due."""
        await asyncio.to_thread(self.fan_out)
        await self.send_due()

    async def run(self, stop: asyncio.Event, notifier: ChangeNotifier) -> None:
        """Work until ``stop``: after every new change, and every `POLL_S` for digests."""
        while not stop.is_set():
            seen = notifier.last_seq
            try:
                await self.step()
            except Exception:
                log.exception("mail outbox round failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(notifier.wait(seen, POLL_S), POLL_S)
