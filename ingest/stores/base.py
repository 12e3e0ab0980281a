"""The `TelemetryStore` interface every backend implements."""

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from devices.reading import Reading

SeqMarks = dict[tuple[str, str], tuple[int, float]]
"""(tenant, device_id) → (highest stored seq, newest event time of a reading with a seq)."""


class TelemetryStore(Protocol):
    """Where readings are kept. Times are epoch seconds (event time)."""

    def write(self, batch: Sequence[Reading]) -> int:
        """Append a batch; return the number of readings written."""
        ...

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every: float | None = None,
        *,
        tenant: str | None = None,
    ) -> list[tuple[float, float]]:
        """(ts, value) of one series in [start, end); averaged per ``every`` seconds if given.

        ``tenant``: only that lender's device of that id (two lenders may share an id);
        None reads the id across lenders (tools and tests of one lender).
        """
        ...

    def latest(
        self, device_id: str, *, tenant: str | None = None
    ) -> dict[str, tuple[float, float]]:
        """Newest (ts, value) per metric of a device (of ``tenant``, if given)."""
        ...

    def count(self) -> int:
        """Readings stored in all."""
        ...

    def close(self) -> None:
        """Flush and release the store."""
        ...


@runtime_checkable
class SequencedStore(Protocol):
    """A store that can say how far each device's ``seq`` got (for restart de-duplication)."""

    def seq_high_water(self) -> SeqMarks:
        """Per (tenant, device): highest stored seq and the newest event time stored."""
        ...


@runtime_checkable
class RetainingStore(Protocol):
    """A store that can drop old readings itself (server stores use their own retention)."""

    def delete_older_than(self, ts: float) -> int:
        """Drop readings with event time before ``ts``; return how many."""
        ...
