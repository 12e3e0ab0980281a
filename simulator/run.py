"""Write simulated telemetry to a file for backtests: ``ts, device_id, metric, value, seq``.

CSV (``.csv``) or Parquet (``.parquet``, through pyarrow), one row per metric value,
in the order the messages are sent. Status messages have no values and so no rows;
replayed and forged messages are written like any other, as a recorder on the broker
would have seen them, with the message's ``seq`` on each of its rows (so a backtest
finds replays and seq conflicts as ingest does). Floats are written exactly (``repr``
in CSV, float64 in Parquet), so the same messages give the same bytes.
"""

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from simulator.message import Message

CSV_HEADER = ("ts", "device_id", "metric", "value", "seq")
LENDERS_CSV_HEADER = ("ts", "tenant", "device_id", "metric", "value", "seq")
FORMATS = (".csv", ".parquet")
FLUSH_ROWS = 262_144
PROGRESS_EVERY = 50_000
SCHEMA = pa.schema(
    [
        ("ts", pa.float64()),
        ("device_id", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("seq", pa.int64()),
    ]
)

Progress = Callable[[int, float], None]


def file_format(path: Path | str) -> str:
    """The format of ``path`` from its suffix (``.csv`` or ``.parquet``).

    Raises:
        ValueError: any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{path}: unknown telemetry file type {suffix or '(none)'!r}; use .csv or .parquet"
        )
    return suffix


def run_to_file(
    messages: Iterable[Message],
    tenant: str,
    path: Path | str,
    on_progress: Progress | None = None,
) -> int:
    """Write one row per metric value of ``messages``; return the number of rows.

    Args:
        messages: telemetry, e.g. from `simulator.telemetry.generate`.
        tenant: the tenant the devices belong to (the file format has no tenant
            column; it is accepted so callers state whose data this is).
        path: the file to write (replaced if it exists); ``.csv`` or ``.parquet``.
        on_progress: called with (rows written, event time reached) now and then.

    Returns:
        How many rows were written, header excluded.
    """
    del tenant
    if file_format(path) == ".parquet":
        return _parquet(messages, Path(path), on_progress)
    return _csv(messages, Path(path), on_progress)


def _csv(messages: Iterable[Message], path: Path, on_progress: Progress | None) -> int:
    rows = 0
    lines: list[str] = []
    add = lines.append
    next_report = PROGRESS_EVERY
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(CSV_HEADER) + "\n")
        for m in messages:
            head = f"{m.ts!r},{m.device_id},"
            tail = f",{m.seq}\n"
            for k, v in m.values.items():
                add(f"{head}{k},{v!r}{tail}")
            if len(lines) >= FLUSH_ROWS:
                rows += len(lines)
                f.write("".join(lines))
                lines.clear()
                if on_progress is not None and rows >= next_report:
                    on_progress(rows, m.ts)
                    next_report = rows + PROGRESS_EVERY
        rows += len(lines)
        f.write("".join(lines))
    return rows


def _parquet(messages: Iterable[Message], path: Path, on_progress: Progress | None) -> int:
    rows = 0
    ts: list[float] = []
    devices: list[str] = []
    metrics: list[str] = []
    values: list[float] = []
    seqs: list[int] = []
    with pq.ParquetWriter(path, SCHEMA) as writer:

        def flush() -> None:
            table = pa.Table.from_arrays(
                [
                    pa.array(ts, pa.float64()),
                    pa.array(devices, pa.string()),
                    pa.array(metrics, pa.string()),
                    pa.array(values, pa.float64()),
                    pa.array(seqs, pa.int64()),
                ],
                schema=SCHEMA,
            )
            writer.write_table(table)
            for column in (ts, devices, metrics, values, seqs):
                column.clear()

        for m in messages:
            n = len(m.values)
            if not n:
                continue
            ts.extend([m.ts] * n)
            devices.extend([m.device_id] * n)
            metrics.extend(m.values)
            values.extend(m.values.values())
            seqs.extend([m.seq] * n)
            if len(ts) >= FLUSH_ROWS:
                rows += len(ts)
                flush()
                if on_progress is not None:
                    on_progress(rows, m.ts)
        rows += len(ts)
        if ts or rows == 0:
            flush()
    return rows


def run_lenders_to_file(
    messages: Iterable[tuple[str, Message]], path: Path | str, on_progress: Progress | None = None
) -> int:
    """Write several lenders' telemetry to one CSV file with a ``tenant`` column
    (``ts, tenant, device_id, metric, value, seq``); return the number of rows.

    Raises:
        ValueError: ``path`` is not a ``.csv`` file.
    """
    if file_format(path) != ".csv":
        raise ValueError(f"{path}: several lenders' telemetry is written as .csv only")
    rows = 0
    next_report = PROGRESS_EVERY
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(LENDERS_CSV_HEADER) + "\n")
        lines: list[str] = []
        for line, ts in _lender_lines(messages):
            lines.append(line)
            if len(lines) >= FLUSH_ROWS:
                rows += len(lines)
                f.write("".join(lines))
                lines.clear()
                if on_progress is not None and rows >= next_report:
                    on_progress(rows, ts)
                    next_report = rows + PROGRESS_EVERY
        rows += len(lines)
        f.write("".join(lines))
    return rows


def _lender_lines(messages: Iterable[tuple[str, Message]]) -> Iterator[tuple[str, float]]:
    for tenant, m in messages:
        head = f"{m.ts!r},{tenant},{m.device_id},"
        tail = f",{m.seq}\n"
        for k, v in m.values.items():
            yield f"{head}{k},{v!r}{tail}", m.ts
