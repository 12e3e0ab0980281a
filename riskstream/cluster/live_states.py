"""Borrowers' live engine state, from the risk workers to the API tier.

The API processes of a cluster run no engine, yet the borrower pages show the engine's
score, credit matrix and lots' coverage. So each risk partition sends the state of its
borrowers (`riskstream.engine.live_state.BorrowerState`) to the key-value bucket
`LIVE_BUCKET`, one key per borrower (`live_state_key`), and every API process follows
the bucket into memory (`LiveStateCache`).

A partition sends (`LiveStateSender`) every `SEND_EVERY_S` at most, only the borrowers
whose state changed (times aside; only those it fed readings of or whose alerts changed
are scored again to find out), and every borrower again after `REFRESH_S` even
unchanged, so the age of a state says whether its owner still runs. The lots' coverage
history in a state is computed again every `HISTORY_EVERY_S` (and at each refresh), so
it may be that much behind the state's other figures. While a partition catches up on a
backlog (a worker that took it over replays from its checkpoint) it sends nothing but
the refreshes, so the bucket does not step back through old states.

The cache takes an entry only if it is a well-formed state of the borrower its key
names: the API looks states up by the user's own lender, so no lender reads another's.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import nats.errors
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from riskstream.cluster.layout import live_state_key
from riskstream.engine.core import Engine
from riskstream.engine.coverage_history import LotHistory
from riskstream.engine.live_state import BorrowerState, borrower_state, decode_state

log = logging.getLogger(__name__)

SEND_EVERY_S = 2.0
REFRESH_S = 30.0
HISTORY_EVERY_S = 30.0
"""A borrower's coverage history is computed again at most this often (it costs about
35 µs per load cell, the rest of a state about 0.1 ms); in between its state is sent
with the history computed before."""
WATCH_WAIT_S = 1.0
RETRY_S = 2.0

__all__ = ["REFRESH_S", "SEND_EVERY_S", "LiveStateCache", "LiveStateSender"]


class LiveStateSender:
    """Which borrower states of one partition to send now."""

    def __init__(self, worker_id: str, wall_clock: Callable[[], float] = time.time) -> None:
        self.worker_id = worker_id
        self._wall = wall_clock
        self._sent: dict[str, tuple[tuple[Any, ...], float]] = {}
        """key -> (content, wall time) of the last state the bucket took."""
        self._last_pick = float("-inf")
        self._histories: dict[str, tuple[float, list[LotHistory]]] = {}
        """key -> (wall time, the coverage history then)."""

    def due(self, behind: bool) -> bool:
        """Time to look again: `SEND_EVERY_S` since the last look, or only `REFRESH_S`
        while the partition is ``behind`` (reading a backlog)."""
        wait = REFRESH_S if behind else SEND_EVERY_S
        return self._wall() - self._last_pick >= wait

    def pick(
        self, engines: dict[str, Engine], touched: set[tuple[str, str]]
    ) -> list[BorrowerState]:
        """The states to send (of lenders whose engine has seen data): of the borrowers
        ``touched`` (readings fed or alerts changed; emptied here) whose figures changed,
        and of every borrower not sent for `REFRESH_S`. Runs in the engine's thread."""
        now = self._last_pick = self._wall()
        chosen: list[BorrowerState] = []
        for tenant, engine in engines.items():
            if engine.watermark is None:
                continue
            for borrower_id in engine.index.borrowers:
                key = live_state_key(tenant, borrower_id)
                sent = self._sent.get(key)
                due = sent is None or now - sent[1] >= REFRESH_S
                if not due and (tenant, borrower_id) not in touched:
                    continue
                kept = self._histories.get(key)
                if due or kept is None or now - kept[0] >= HISTORY_EVERY_S:
                    state = borrower_state(engine, borrower_id)
                    self._histories[key] = (now, state.coverage_history)
                else:
                    state = borrower_state(engine, borrower_id, kept[1])
                if not due and sent is not None and sent[0] == state.content():
                    continue
                chosen.append(
                    msgspec.structs.replace(state, published_at=now, worker=self.worker_id)
                )
        touched.clear()
        return chosen

    def sent(self, state: BorrowerState) -> None:
        """The bucket took ``state``."""
        assert state.published_at is not None
        key = live_state_key(state.tenant, state.borrower_id)
        self._sent[key] = (state.content(), state.published_at)


class LiveStateCache:
    """The API tier's copy of the bucket: the latest state of every borrower."""

    def __init__(self) -> None:
        self._states: dict[str, BorrowerState] = {}
        self.refused = 0
        self.ready = asyncio.Event()
        """Set once the bucket's entries at start have been read."""

    def of(self, tenant: str, borrower_id: str) -> BorrowerState | None:
        """The latest state of ``tenant``'s borrower, None if none was sent."""
        return self._states.get(live_state_key(tenant, borrower_id))

    def of_tenant(self, tenant: str) -> list[BorrowerState]:
        """Every state of ``tenant``'s borrowers."""
        return [s for s in self._states.values() if s.tenant == tenant]

    def take(self, key: str, value: bytes | None, operation: str | None = None) -> bool:
        """Take one entry of the bucket; False (logged, counted) if refused."""
        if operation in (KV_DEL, KV_PURGE):
            self._states.pop(key, None)
            return True
        try:
            state = decode_state(value or b"")
        except ValueError as exc:
            return self._refuse(key, str(exc))
        if live_state_key(state.tenant, state.borrower_id) != key:
            return self._refuse(key, f"it is the state of {state.tenant}/{state.borrower_id}")
        self._states[key] = state
        return True

    def _refuse(self, key: str, why: str) -> bool:
        self.refused += 1
        log.warning("live state %.200s refused: %.300s", key, why)
        return False

    async def follow(self, bucket: KeyValue, stop: asyncio.Event) -> None:
        """Keep up with the bucket until ``stop``; watch it again after an error."""
        while not stop.is_set():
            try:
                watcher = await bucket.watchall()
            except Exception as exc:  # the cluster is away: try again
                log.warning("live states not followed yet: %r", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_S)
                continue
            try:
                while not stop.is_set():
                    try:
                        entry = await watcher.updates(timeout=WATCH_WAIT_S)  # type: ignore[no-untyped-call]
                    except (nats.errors.TimeoutError, TimeoutError):
                        continue
                    if entry is None:  # every entry there at start has been read
                        self.ready.set()
                        continue
                    self.take(entry.key, entry.value, entry.operation)
            except Exception as exc:
                log.warning("live states: watch again after %r", exc)
            finally:
                with contextlib.suppress(Exception):
                    await watcher.stop()  # type: ignore[no-untyped-call]
