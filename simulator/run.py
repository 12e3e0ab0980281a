"""Write simulated telemetry to a CSV file for backtests: ``ts,device_id,metric,value``."""

import csv
from collections.abc import Iterable
from pathlib import Path

from simulator.telemetry import Message

CSV_HEADER = ("ts", "device_id", "metric", "value")


def run_to_file(messages: Iterable[Message], tenant: str, path: Path | str) -> int:
    """Write one CSV row per metric value of ``messages``; return the number of rows.

    Floats are written with `repr`, so the same messages give the same bytes.

    Args:
        messages: telemetry, e.g. from `simulator.telemetry.generate`.
        tenant: the tenant the devices belong to (the CSV format has no tenant
            column; it is accepted so callers state whose data this is).
        path: the CSV file to write (replaced if it exists).

    Returns:
        How many rows were written, header excluded.
    """
    del tenant
    rows = 0
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for m in messages:
            ts = repr(m.ts)
            device = m.device_id
            writer.writerows([ts, device, k, repr(v)] for k, v in m.values.items())
            rows += len(m.values)
    return rows
