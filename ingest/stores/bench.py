"""Write rate of a store, in readings per second (a benchmark, never a timed test).

``python -m ingest.stores.bench URL [--readings N] [--batch B] [--metrics M] [--spool DIR]``
writes N synthetic readings (1,000 devices, M metrics per message, event times in the
last hour) in batches of B, the way ingest's flusher does, and prints the median rate
of ``--repeat`` runs. ``--spool DIR`` wraps the store in a `SpoolingStore`; pointed at a
server that is down, that measures how fast an outage is spooled to disk.
"""

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from devices.reading import Reading
from ingest.spool import SpoolingStore
from ingest.stores.base import TelemetryStore
from ingest.stores.url import open_store

DEVICES = 1000
METRICS = ("weight_kg", "temp_c", "door_open", "power_kw", "output_count")


@dataclass(frozen=True)
class WriteRate:
    """One run: readings written and seconds spent in ``write``."""

    readings: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Readings per second."""
        return self.readings / self.seconds


def synthetic(n: int, metrics: int, run: int) -> list[Reading]:
    """``n`` readings: ``metrics`` per message, messages round-robin over `DEVICES` devices."""
    start = time.time() - 3600 + run * 0.0001
    names = METRICS[:metrics]
    out: list[Reading] = []
    message = 0
    while len(out) < n:
        device, step = divmod(message, DEVICES)
        ts = round(start + step * 0.001 + device * 0.000001, 6)
        out.extend(
            Reading("bench", f"dev-{device:04d}", ts, name, float(message % 977), message)
            for name in names
        )
        message += 1
    return out[:n]


def measure(store: TelemetryStore, readings: list[Reading], batch: int) -> WriteRate:
    """Write ``readings`` in batches of ``batch``; time the writes only."""
    spent = 0.0
    written = 0
    for first in range(0, len(readings), batch):
        chunk = readings[first : first + batch]
        started = time.perf_counter()
        written += store.write(chunk)
        spent += time.perf_counter() - started
    return WriteRate(written, spent)


def main(argv: list[str] | None = None) -> None:
    """Command line entry; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--metrics", type=int, default=1, choices=range(1, len(METRICS) + 1))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spool", type=Path, default=None)
    args = parser.parse_args(argv)
    rates = []
    for run in range(args.repeat):
        store: TelemetryStore = open_store(args.url)
        if args.spool is not None:
            store = SpoolingStore(store, args.spool / f"run{run}")
        rate = measure(store, synthetic(args.readings, args.metrics, run), args.batch)
        store.close()
        rates.append(rate.per_second)
        print(
            f"run {run + 1}: {rate.readings:,} readings in {rate.seconds:.2f} s "
            f"= {rate.per_second:,.0f} readings/s"
        )
    print(
        f"median: {statistics.median(rates):,.0f} readings/s "
        f"({args.metrics} metric(s) per message, batches of {args.batch})"
    )


if __name__ == "__main__":
    main()
