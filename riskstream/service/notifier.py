"""Wakes live-feed listeners when new alert changes are stored."""

import asyncio


class ChangeNotifier:
    """Latest change sequence number, and a way to wait for the next one."""

    def __init__(self, last_seq: int = 0) -> None:
        self.last_seq = last_seq
        self._event = asyncio.Event()

    def notify(self, seq: int) -> None:
        """Record that changes up to ``seq`` are stored, and wake every waiter."""
        self.last_seq = max(self.last_seq, seq)
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, after: int, timeout_s: float) -> bool:
        """Wait until a change after ``after`` exists; False on timeout."""
        if self.last_seq > after:
            return True
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            return False
        return self.last_seq > after
