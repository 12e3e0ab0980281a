"""At most `SLOTS` password checks run at a time; the others are refused, not queued.

An Argon2 check costs about 0.1 s of CPU and 64 MiB of memory. A login waits at most
`WAIT_S` for a slot, without holding a worker thread or a database connection, and is
then refused with `SlotsBusyError` (the API answers 503 with ``Retry-After``). A flood
of logins so costs bounded CPU and memory, and other requests keep being served.

The constants are read at each call, so tests can change them.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

__all__ = ["RETRY_AFTER_S", "SLOTS", "WAIT_S", "PasswordSlots", "SlotsBusyError"]

SLOTS = 2
"""Password checks (Argon2 hash or verify) at the same time."""
WAIT_S = 1.0
"""How long a login may wait for a slot."""
RETRY_AFTER_S = 1
"""What a refused login is told to wait (``Retry-After``, seconds)."""


class SlotsBusyError(Exception):
    """No password-check slot came free within `WAIT_S`.

    Attributes:
        retry_after: whole seconds the client should wait before trying again.
    """

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"all password-check slots busy; retry in {retry_after} s")


class PasswordSlots:
    """The slots of one service, with the event loop serving it.

    Waiters are woken whenever a slot is released and call ``recheck`` again, so a
    login whose user or address got blocked meanwhile is refused at once rather than
    after `WAIT_S`. A new event loop (a test starting the app again) starts afresh.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = 0
        self._released = asyncio.Event()

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._busy, self._released = loop, 0, asyncio.Event()
        return loop

    @property
    def busy(self) -> int:
        """Slots held now."""
        return self._busy

    @contextlib.asynccontextmanager
    async def slot(self, recheck: Callable[[], None] = lambda: None) -> AsyncIterator[None]:
        """Hold one slot for the block.

        Args:
            recheck: called before taking a slot and after every wake-up; what it raises
                ends the wait (the login's throttle check).

        Raises:
            SlotsBusyError: no slot came free within `WAIT_S`.
        """
        loop = self._bind()
        deadline = loop.time() + WAIT_S
        while True:
            recheck()
            if self._busy < max(1, SLOTS):
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SlotsBusyError(RETRY_AFTER_S)
            try:
                async with asyncio.timeout(remaining):
                    await self._released.wait()
            except TimeoutError:
                raise SlotsBusyError(RETRY_AFTER_S) from None
        self._busy += 1
        try:
            yield
        finally:
            if self._loop is loop:  # else the slots started afresh on another loop
                self._busy -= 1
                released, self._released = self._released, asyncio.Event()
                released.set()
