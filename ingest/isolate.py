"""Store a batch even when some of its rows are refused: find those rows, keep the rest.

A store write that fails on data (a value a backend cannot hold, a driver's conversion
error) would otherwise fail the whole batch again on every redelivery and stop ingest.
`write_isolating` retries the batch once (a passing fault), then splits it in halves
until the rows at fault are alone; those go to ``refuse`` (the dead-letter store) and
every other row is stored. A store that is down is not a data fault: the spool's
`StoreUnavailableError` (which the embedded store raises for its own I/O faults), and
OS or memory errors, pass through untouched.
"""

import logging
from collections.abc import Callable, Sequence

from devices.reading import Reading
from ingest.stores.base import TelemetryStore
from ingest.stores.errors import StoreUnavailableError

log = logging.getLogger(__name__)

_NOT_DATA_FAULTS = (StoreUnavailableError, OSError, MemoryError)

RowRefusal = Callable[[Reading, Exception], None]


def write_isolating(store: TelemetryStore, batch: Sequence[Reading], refuse: RowRefusal) -> int:
    """Write ``batch``; return how many readings the store kept (or spooled)."""
    try:
        return store.write(batch)
    except _NOT_DATA_FAULTS:
        raise
    except Exception as first:
        log.warning("store write of %d readings failed (%s); retrying once", len(batch), first)
    try:
        return store.write(batch)
    except _NOT_DATA_FAULTS:
        raise
    except Exception as second:
        if len(batch) == 1:
            refuse(batch[0], second)
            return 0
        failure = second
    refused: list[tuple[Reading, Exception]] = []
    kept = _split(store, batch, refused)
    for reading, exc in refused:
        refuse(reading, exc)
    log.error(
        "store refused %d of %d readings (%s); they are dead-lettered, the rest stored",
        len(refused),
        len(batch),
        type(failure).__name__,
    )
    return kept


def _split(
    store: TelemetryStore, rows: Sequence[Reading], refused: list[tuple[Reading, Exception]]
) -> int:
    middle = len(rows) // 2
    kept = 0
    for half in (rows[:middle], rows[middle:]):
        if not half:
            continue
        try:
            kept += store.write(half)
        except _NOT_DATA_FAULTS:
            raise
        except Exception as exc:
            if len(half) == 1:
                refused.append((half[0], exc))
            else:
                kept += _split(store, half, refused)
    return kept
