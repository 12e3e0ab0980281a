"""The simulated edge nodes' view of their Primary Host Application (Sparkplug 3.0.0).

An edge node configured with a primary host subscribes to ``spBv1.0/STATE/{host_id}``
(`devices.sparkplug.host_state`) and publishes its births only once that host says it
is online. `HostGate` keeps what the nodes last heard: a STATE older than the newest
one heard is stale and passed over (a will of an earlier connection delivered late);
while the host is offline the publisher waits before its next message (`wait_online`);
when the host comes back online after being offline, every edge node is born again
(``on_back_online``), so a host that lost its state gets every alias anew.
"""

__all__ = ["HostGate"]

import asyncio
from collections.abc import Callable

from devices.sparkplug.host_state import parse_state, state_topic


class HostGate:
    """Online/offline of one primary host, from its STATE messages."""

    def __init__(self, host_id: str, on_back_online: Callable[[], None]) -> None:
        """Watch ``host_id``; call ``on_back_online`` when it is online again after offline."""
        self.topic = state_topic(host_id)
        self._on_back_online = on_back_online
        self._online = asyncio.Event()
        self._newest_ms = -1
        self._was_online = False
        self.back_online = 0
        """How many times the host came back online."""

    @property
    def online(self) -> bool:
        """Whether the host's newest STATE says online."""
        return self._online.is_set()

    def take(self, topic: str, payload: bytes) -> bool:
        """Take a message if it is this host's STATE (True), else leave it (False)."""
        if topic != self.topic:
            return False
        state = parse_state(payload)
        if state is None or state.timestamp_ms < self._newest_ms:
            return True  # not a STATE, or an older one than we know: passed over
        self._newest_ms = state.timestamp_ms
        if state.online and not self._online.is_set():
            self._online.set()
            if self._was_online:
                self.back_online += 1
                self._on_back_online()
            self._was_online = True
        elif not state.online:
            self._online.clear()
        return True

    async def wait_online(self, stop: asyncio.Event | None) -> bool:
        """Wait until the host is online; False if ``stop`` was set first."""
        if self._online.is_set():
            return True
        waiters = [asyncio.ensure_future(self._online.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._online.is_set()
