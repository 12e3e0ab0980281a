"""One way to connect to the cluster's NATS servers: fail fast and in one line when none
answers at start, then keep reconnecting for as long as the process runs."""

import logging
import time
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError

from riskstream.cluster.errors import ClusterLoginRefusedError, ClusterUnreachableError
from riskstream.cluster.logins import NatsLogin

log = logging.getLogger("riskstream.cluster.nats")

CONNECT_TIMEOUT_S = 2.0
RECONNECT_WAIT_S = 1.0
FIRST_CONNECT_ATTEMPTS = 5
"""Rounds over the server list before a starting process gives up: about 5 s."""
AUTHORIZATION_VIOLATION = "authorization violation"
"""What nats-server answers to a login it refuses."""
SAME_ERROR_EVERY_S = 30.0
"""A repeated error (a node down while the others serve) is logged once per this."""


def quiet_errors(
    name: str, clock: Callable[[], float] = time.monotonic
) -> Callable[[Exception], Awaitable[None]]:
    """nats-py's error callback: one line per distinct error and period, not a traceback
    per retry."""
    last: dict[str, float] = {}

    async def callback(exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        now = clock()
        if now - last.get(text, -SAME_ERROR_EVERY_S) >= SAME_ERROR_EVERY_S:
            last[text] = now
            log.warning("%s: NATS %s", name, text)

    return callback


class _Events:
    """Losing and finding a server again, said in one line each; a close is not a loss."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client: Client | None = None

    async def disconnected(self) -> None:
        if self.client is not None and not self.client.is_closed:
            log.warning("%s: lost its NATS server; reconnecting", self.name)

    async def reconnected(self) -> None:
        log.info("%s: reconnected to NATS", self.name)


async def connect_cluster(
    servers: list[str],
    name: str,
    *,
    first_attempts: int = FIRST_CONNECT_ATTEMPTS,
    login: NatsLogin | None = None,
    on_error: Callable[[Exception], bool] | None = None,
) -> Client:
    """A NATS connection named ``name``, as ``login`` when given; ClusterUnreachableError
    when no server in ``servers`` answers within ``first_attempts`` rounds,
    ClusterLoginRefusedError when they answer but refuse the login. ``on_error`` is
    told every asynchronous error first (a slow consumer's dropped message); one it
    returns True for is not logged here."""
    events = _Events(name)
    credentials = login.connect_options() if login is not None else {}
    quiet = quiet_errors(name)
    refused = False

    async def error_cb(exc: Exception) -> None:
        nonlocal refused  # nats-py ends a refused first connect with "no servers available"
        refused = refused or AUTHORIZATION_VIOLATION in str(exc).lower()
        if on_error is not None and on_error(exc):
            return
        await quiet(exc)

    try:
        nc = await nats.connect(
            servers=servers,
            name=name,
            connect_timeout=CONNECT_TIMEOUT_S,
            reconnect_time_wait=RECONNECT_WAIT_S,
            max_reconnect_attempts=first_attempts,
            error_cb=error_cb,
            disconnected_cb=events.disconnected,
            reconnected_cb=events.reconnected,
            **credentials,
        )
    except (NatsError, OSError, TimeoutError) as exc:
        if refused or AUTHORIZATION_VIOLATION in str(exc).lower():
            raise ClusterLoginRefusedError(servers, login.user if login else None) from None
        raise ClusterUnreachableError(servers, exc) from None
    events.client = nc
    # Once in, a worker outlives any one node: reconnect without limit.
    nc.options["max_reconnect_attempts"] = -1
    return nc
