"""Login throttling: exponential back-off per username and per client address.

After `FREE_FAILURES` failed logins for a username, or from a client address, every
further failure blocks that key for `FIRST_BACKOFF_S`, doubled per failure up to
`MAX_BACKOFF_S`. While a key is blocked, ``POST /api/token`` answers 429 with
``Retry-After`` and does not check the password, so guessing costs the guesser time and
the service nothing. A successful login clears the username's failures; the address's
stay (one good account must not reset the counter of a guesser sharing its address).

State lives in memory, per process, and is bounded: at most `MAX_KEYS` usernames and as
many addresses; a key without a failure for `FORGET_AFTER_S` is forgotten, and when the
table is full the key whose last failure is oldest goes first. IPv6 clients count per
/64 network, the block one subscriber usually holds.

The constants are read at each call, so tests can shrink them; the clock is injected.
"""

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "FIRST_BACKOFF_S",
    "FORGET_AFTER_S",
    "FREE_FAILURES",
    "MAX_BACKOFF_S",
    "MAX_KEYS",
    "LoginGuard",
    "address_key",
]

FREE_FAILURES = 5
"""Failed logins a username (or an address) may have before back-off starts."""
FIRST_BACKOFF_S = 1.0
"""Block after the `FREE_FAILURES`-th failure; doubled by each failure after it."""
MAX_BACKOFF_S = 15 * 60.0
"""The longest block."""
FORGET_AFTER_S = 3600.0
"""A key without a failure for this long starts again from zero."""
MAX_KEYS = 10_000
"""Usernames (and, separately, addresses) tracked at most."""
_MAX_DOUBLINGS = 40  # 2**40 s is far beyond MAX_BACKOFF_S; keeps the power small


@dataclass
class _Failures:
    count: int
    last_at: float
    blocked_until: float


class _Tally:
    """Failures by key, least recently failed first."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, _Failures] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        entry = self.entries.get(key)
        if entry is None:
            return 0.0
        if now - entry.last_at >= FORGET_AFTER_S:
            del self.entries[key]
            return 0.0
        return max(0.0, entry.blocked_until - now)

    def fail(self, key: str, now: float) -> None:
        self._forget_old(now)
        entry = self.entries.get(key)
        if entry is None:
            while len(self.entries) >= max(1, MAX_KEYS):
                self.entries.popitem(last=False)
            entry = self.entries[key] = _Failures(0, now, now)
        entry.count += 1
        entry.last_at = now
        self.entries.move_to_end(key)
        over = entry.count - FREE_FAILURES
        if over >= 0:
            backoff = min(FIRST_BACKOFF_S * 2.0 ** min(over, _MAX_DOUBLINGS), MAX_BACKOFF_S)
            entry.blocked_until = now + backoff

    def clear(self, key: str) -> None:
        self.entries.pop(key, None)

    def _forget_old(self, now: float) -> None:
        while self.entries:
            oldest = next(iter(self.entries.values()))
            if now - oldest.last_at < FORGET_AFTER_S:
                return
            self.entries.popitem(last=False)


def address_key(host: str | None) -> str:
    """The key a client address counts under: IPv4 as is, IPv6 by its /64 network."""
    if not host:
        return "-"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginGuard:
    """Counts failed logins and says how long a username or an address must wait.

    Args:
        clock: seconds on a monotonic scale; tests pass a fake one.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._users = _Tally()
        self._addresses = _Tally()
        self._lock = threading.Lock()

    def retry_after(self, username: str, address: str | None) -> int | None:
        """Whole seconds to wait before ``username`` may try again from ``address``
        (at least 1), or None when a login may be checked now."""
        now = self.clock()
        with self._lock:
            wait = max(
                self._users.wait(username, now),
                self._addresses.wait(address_key(address), now),
            )
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, username: str, address: str | None) -> None:
        """Count a failed login of ``username`` from ``address``."""
        now = self.clock()
        with self._lock:
            self._users.fail(username, now)
            self._addresses.fail(address_key(address), now)

    def succeeded(self, username: str) -> None:
        """Forget the failures of ``username`` (not those of its address)."""
        with self._lock:
            self._users.clear(username)

    def tracked(self) -> tuple[int, int]:
        """How many usernames and addresses are tracked now (for tests and metrics)."""
        with self._lock:
            return len(self._users.entries), len(self._addresses.entries)
