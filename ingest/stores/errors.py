"""Errors raised by telemetry store backends.

A write either fails for a while (`StoreUnavailableError`: connection refused, timeout,
5xx, 429, missing database or credentials the operator can fix) — the batch should be
kept and written again later — or is refused for good (`StoreRejectedError`: the server
answered 400, e.g. a field type conflict), where writing it again cannot help. Both
carry the readings that were not written, so a caller never re-sends what is stored.
"""

from collections.abc import Sequence

from devices.reading import Reading


class StoreError(RuntimeError):
    """A store operation failed.

    Attributes:
        store: where the store lives (host and database), for the message.
        detail: what went wrong, as the server or the client library said it.
    """

    def __init__(self, store: str, detail: str) -> None:
        self.store = store
        self.detail = detail
        super().__init__(f"{store}: {detail}")


class StoreUnavailableError(StoreError):
    """The store cannot be reached or refuses for now; writing again later may succeed.

    Attributes:
        unwritten: the readings of the failed write that are not stored (empty for reads).
    """

    def __init__(self, store: str, detail: str, unwritten: Sequence[Reading] = ()) -> None:
        super().__init__(store, detail)
        self.unwritten = list(unwritten)


class StoreRejectedError(StoreError):
    """The store refused the data itself (HTTP 400); sending it again cannot succeed.

    Attributes:
        status: the HTTP status the server answered.
        unwritten: the readings of the write that are not stored.
    """

    def __init__(
        self, store: str, detail: str, status: int, unwritten: Sequence[Reading] = ()
    ) -> None:
        super().__init__(store, detail)
        self.status = status
        self.unwritten = list(unwritten)
