"""The webhook outbox: fans alert changes out to endpoints and delivers them, off the
engine's path.

`Runtime.publish` only stores alert changes and wakes the notifier; this task then, on
its own time: (1) reads the changes after its cursor, matches each against every
enabled endpoint's filters and writes the deliveries together with the new cursor in
one transaction (`WebhookStore.enqueue`); (2) claims the deliveries that are due, sends
them concurrently (at most `CONCURRENCY` at once), and logs every attempt. A failed
attempt is retried after `retry_delay`; after ``max_attempts`` the delivery is dead
(the dead-letter list). Database work runs in threads, so neither the event loop nor
ingest waits for it; a restart resumes from the stored cursor and pending rows.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from riskstream.service.alert_store import AlertStore
from riskstream.service.notifier import ChangeNotifier
from riskstream.service.notify.backoff import retry_delay
from riskstream.service.notify.destinations import DestinationPolicy
from riskstream.service.notify.errors import DestinationRefusedError
from riskstream.service.notify.events import body_of, changes_to_send
from riskstream.service.notify.sender import AttemptResult, post
from riskstream.service.notify.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from riskstream.service.notify.webhook_store import Due, Outcome, WebhookStore

log = logging.getLogger(__name__)

CURSOR = "webhooks"
POLL_S = 1.0
"""The outbox looks for due retries at least this often (new changes wake it at once,
and it sleeps no longer than until the next retry is due)."""
CONCURRENCY = 16
CLAIM = 64
PAGE = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long apart a delivery is attempted."""

    max_attempts: int = 8
    base_s: float = 10.0
    cap_s: float = 3600.0
    timeout_s: float = 10.0


class WebhookOutbox:
    """Moves alert changes from the change log to the lenders' webhook endpoints."""

    def __init__(
        self,
        store: WebhookStore,
        alerts: AlertStore,
        policy: DestinationPolicy,
        retry: RetryPolicy,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.policy = policy
        self.retry = retry
        self.clock = clock
        self.rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None

    def fan_out(self) -> int:
        """Write the deliveries of every change after the cursor; return how many.

        The first time, the cursor starts at the newest change: endpoints get what
        happens from now on, not the history.
        """
        seq = self.store.cursor(CURSOR)
        if seq is None:
            self.store.enqueue(CURSOR, self.alerts.last_seq(), [], self.clock())
            return 0
        written = 0
        while True:
            endpoints = [e for e, _ in self.store.active_endpoints()]
            tenants = {e.tenant for e in endpoints}
            last, changes = changes_to_send(self.alerts, seq, tenants, PAGE)
            if last is None:
                return written
            seq = last
            rows = [
                (e.id, e.tenant, event, alert["id"], body_of(event, tenant_seq, alert))
                for tenant_seq, event, alert in changes
                for e in endpoints
                if e.tenant == alert["tenant"] and e.filters.matches(event, alert)
            ]
            self.store.enqueue(CURSOR, seq, rows, self.clock())
            written += len(rows)

    async def deliver_due(self) -> int:
        """Attempt every delivery due now; return how many were attempted. Up to
        `CLAIM` are claimed, sent `CONCURRENCY` at a time and logged in one transaction."""
        attempted = 0
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(due: Due) -> Outcome:
            async with slots:
                return await self._send(due, retry=True)

        while True:
            claimed = await asyncio.to_thread(self.store.claim_due, self.clock(), CLAIM)
            if not claimed:
                return attempted
            outcomes = await asyncio.gather(*(one(d) for d in claimed))
            await asyncio.to_thread(self.store.record_attempts, outcomes)
            attempted += len(claimed)

    async def attempt(self, due: Due, *, retry: bool = True) -> AttemptResult:
        """Send ``due`` once (destination checked first), log it, schedule what follows
        (with ``retry`` False a failure is final: the dead-letter list)."""
        outcome = await self._send(due, retry=retry)
        await asyncio.to_thread(self.store.record_attempts, [outcome])
        return AttemptResult(outcome.status_code, outcome.latency_ms, outcome.error)

    async def _send(self, due: Due, *, retry: bool) -> Outcome:
        try:
            await asyncio.to_thread(self.policy.check, due.url)
        except DestinationRefusedError as exc:
            result = AttemptResult(None, 0.0, exc.reason)
        else:
            timestamp = int(self.clock())
            headers = {
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: signature(due.secret, timestamp, due.body),
                DELIVERY_HEADER: str(due.id),
                EVENT_HEADER: due.event,
            }
            try:  # a receiver that answers byte by byte gets no more than the timeout
                result = await asyncio.wait_for(
                    post(self.client, due.url, due.body, headers), self.retry.timeout_s
                )
            except TimeoutError:
                error = f"timeout: no whole answer within {self.retry.timeout_s:g} s"
                result = AttemptResult(None, self.retry.timeout_s * 1000.0, error)
        now = self.clock()
        attempts = due.attempts + 1
        retry_at = None
        if retry and not result.delivered and attempts < self.retry.max_attempts:
            delay = retry_delay(attempts, self.retry.base_s, self.retry.cap_s, self.rng)
            retry_at = now + delay
        return Outcome(
            due,
            now,
            result.status_code,
            result.latency_ms,
            result.error,
            result.delivered,
            retry_at,
        )

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self.retry.timeout_s)
            limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=8)
            self._client = httpx.AsyncClient(
                timeout=timeout, limits=limits, follow_redirects=False, trust_env=False
            )
        return self._client

    async def step(self) -> None:
        """One round: fan out new changes, then deliver what is due."""
        await asyncio.to_thread(self.fan_out)
        await self.deliver_due()

    async def run(self, stop: asyncio.Event, notifier: ChangeNotifier) -> None:
        """Work until ``stop``: after every new change, and every `POLL_S` for retries.
        A failing round (the database away) is logged and tried again."""
        try:
            while not stop.is_set():
                seen = notifier.last_seq
                try:
                    await self.step()
                except Exception:
                    log.exception("webhook outbox round failed; trying again")
                wait_s = POLL_S
                with contextlib.suppress(Exception):  # the database away: poll as usual
                    due = await asyncio.to_thread(self.store.next_due)
                    if due is not None:
                        wait_s = min(POLL_S, max(0.0, due - self.clock()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(notifier.wait(seen, wait_s), wait_s)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
