"""Read a backtest telemetry file (CSV or Parquet) into event-time-sorted columns.

Columns: ``ts`` (epoch seconds, or timestamps: read as UTC when they carry no zone),
``device_id``, ``metric``, ``value``; optional ``tenant`` and ``seq``. Other columns
are ignored. The file is read with pyarrow into arrays, never row by row: ids and
metric names are dictionary-coded as they are read (one Python string per distinct id,
shared by every reading); a CSV's numeric columns, numbers in its first block, are
parsed as float64 throughout rather than inferred block by block; and the rows are
sorted by ``ts`` (stable, so rows of the same time keep their order) unless they
already are. Rows whose value is missing or not finite are
dropped and counted, as ingest would refuse them. With a ``seq`` column, ingest's
sequence checks run over the rows in file order first (`sequence_pass`): duplicates
and replays are dropped, and replays, seq conflicts and gaps become data-integrity
signals for the engine.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskstream.backtest.errors import TelemetryFileError
from riskstream.backtest.sequence_pass import FileSignal, sequence_pass

REQUIRED = ("ts", "device_id", "metric", "value")
OPTIONAL = ("tenant", "seq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")
PARQUET_SUFFIXES = (".parquet", ".pq")
_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
_WORDS = pa.dictionary(pa.int32(), pa.string())

Floats = npt.NDArray[np.float64]
Codes = npt.NDArray[np.int32]
Arr = TypeVar("Arr", bound=npt.NDArray[Any])
Rows = npt.NDArray[np.intp] | npt.NDArray[np.bool_]  # the rows to keep, in order, or a mask


@dataclass(frozen=True, slots=True)
class Telemetry:
    """A telemetry file as columns, sorted by event time.

    Attributes:
        path: the file read.
        ts: event time of each row, epoch seconds, non-decreasing.
        device: index into `device_ids` of each row.
        device_ids: distinct device ids.
        metric: index into `metrics` of each row.
        metrics: distinct metric names.
        value: value of each row (finite).
        tenant: index into `tenants` of each row, when the file has a ``tenant`` column.
        tenants: distinct tenants (empty without a ``tenant`` column).
        seq: ``seq`` of each row (-1 where missing), when the file has that column.
        dropped: rows dropped because their value was missing or not finite.
        resorted: whether the rows had to be sorted by ``ts``.
        signals: data-integrity signals of the sequence checks, in arrival order.
        refused: messages dropped by the sequence checks (redeliveries and replays).
        out_of_order: True when the file has seqs but its rows are not in arrival order,
            so the sequence checks were not applied.
    """

    path: Path
    ts: Floats
    device: Codes
    device_ids: list[str]
    metric: Codes
    metrics: list[str]
    value: Floats
    tenant: Codes | None
    tenants: list[str]
    seq: npt.NDArray[np.int64] | None
    dropped: int
    resorted: bool
    signals: list[FileSignal] = field(default_factory=list)
    refused: int = 0
    out_of_order: bool = False

    def __len__(self) -> int:
        """Number of readings (rows kept)."""
        return int(self.ts.shape[0])

    @property
    def start(self) -> float:
        """Event time of the first reading."""
        return float(self.ts[0])

    @property
    def end(self) -> float:
        """Event time of the last reading."""
        return float(self.ts[-1])


def file_kind(path: Path) -> str:
    """``csv`` or ``parquet`` from the file name; `TelemetryFileError` for anything else."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise TelemetryFileError(
        path, f"unknown telemetry file type; name it {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
    )


def read_telemetry(path: Path | str) -> Telemetry:
    """Read, check and sort a telemetry file.

    Args:
        path: a ``.csv`` (optionally ``.gz`` or ``.bz2``) or ``.parquet`` file.

    Returns:
        The file's readings as columns, sorted by event time.

    Raises:
        TelemetryFileError: the file is missing, unreadable, empty, or lacks a column
            (the message names the file and the column).
    """
    path = Path(path)
    kind = file_kind(path)
    if not path.is_file():
        raise TelemetryFileError(path, "no such file")
    try:
        table = _read_csv(path) if kind == "csv" else _read_parquet(path)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise TelemetryFileError(path, f"cannot read {kind}: {exc}") from exc
    return _columns(path, table)


def _check_names(path: Path, names: list[str]) -> list[str]:
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        found = ", ".join(names) if names else "none"
        raise TelemetryFileError(
            path,
            f"missing column{'s' if len(missing) > 1 else ''} (found: {found}); "
            f"a telemetry file needs {', '.join(REQUIRED)}",
            column=", ".join(missing),
        )
    return [c for c in (*REQUIRED, *OPTIONAL) if c in names]


def _read_csv(path: Path) -> pa.Table:
    try:
        with pacsv.open_csv(path) as reader:
            first_block = reader.schema
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise TelemetryFileError(path, "empty file: no header line") from exc
        raise
    wanted = _check_names(path, list(first_block.names))
    types: dict[str, pa.DataType] = {
        c: _WORDS for c in ("device_id", "metric", "tenant") if c in wanted
    }
    for c in ("ts", "value", "seq"):
        # numbers in the first block: parse every block as float64 (what `_columns`
        # makes of them anyway) rather than have arrow infer each block's type again
        kind = first_block.field(c).type if c in wanted else pa.null()
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            types[c] = pa.float64()
    options = pacsv.ConvertOptions(include_columns=wanted, column_types=types)
    return pacsv.read_csv(path, convert_options=options)


def _read_parquet(path: Path) -> pa.Table:
    schema = pq.read_schema(path)
    wanted = _check_names(path, list(schema.names))
    text = (pa.string(), pa.large_string())
    words = [
        c for c in ("device_id", "metric", "tenant") if c in wanted and schema.field(c).type in text
    ]
    return pq.read_table(path, columns=wanted, read_dictionary=words)


def _first_null(column: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0]) + 1


def _seconds(path: Path, column: pa.ChunkedArray) -> Floats:
    if column.null_count:
        raise TelemetryFileError(
            path,
            f"{column.null_count} rows have no ts (first: data row {_first_null(column)})",
            "ts",
        )
    kind = column.type
    if pa.types.is_timestamp(kind):
        ticks: Floats = column.cast(pa.int64()).to_numpy().astype(np.float64)
        return ticks / _UNITS[kind.unit]
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        seconds: Floats = column.cast(pa.float64()).to_numpy()
        if not np.isfinite(seconds).all():
            raise TelemetryFileError(path, "has values that are not finite", "ts")
        return seconds
    example = column.drop_null()[0].as_py() if len(column) else None
    raise TelemetryFileError(
        path, f"must be epoch seconds or timestamps, got {kind} (e.g. {example!r})", "ts"
    )


def _codes(path: Path, table: pa.Table, name: str) -> tuple[Codes, list[str]]:
    column = table.column(name)
    if not pa.types.is_dictionary(column.type):
        if not pa.types.is_string(column.type):
            column = column.cast(pa.string())
        column = pc.dictionary_encode(column)
    unified = pa.table({name: column}).unify_dictionaries().combine_chunks().column(0)
    coded = unified.chunk(0)
    if coded.null_count:
        raise TelemetryFileError(
            path,
            f"{coded.null_count} rows have none (first: data row {_first_null(unified)})",
            name,
        )
    words = [str(w) for w in coded.dictionary.to_pylist()]
    if "" in words:
        raise TelemetryFileError(path, "has empty values", name)
    indices: Codes = coded.indices.cast(pa.int32()).to_numpy(zero_copy_only=False)
    return indices, words


def _values(path: Path, column: pa.ChunkedArray, name: str) -> Floats:
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise TelemetryFileError(path, f"must be numbers, got {column.type}", name)
    numbers = column.cast(pa.float64())
    values: Floats = (numbers.fill_null(np.nan) if numbers.null_count else numbers).to_numpy()
    return values


def _columns(path: Path, table: pa.Table) -> Telemetry:
    if table.num_rows == 0:
        raise TelemetryFileError(path, "has no readings (a header but no rows)")
    ts = _seconds(path, table.column("ts"))
    device, device_ids = _codes(path, table, "device_id")
    metric, metrics = _codes(path, table, "metric")
    value = _values(path, table.column("value"), "value")
    tenant, tenants = (
        _codes(path, table, "tenant") if "tenant" in table.column_names else (None, [])
    )
    seq: npt.NDArray[np.int64] | None = None
    if "seq" in table.column_names:
        raw = _values(path, table.column("seq"), "seq")
        seq = np.where(np.isfinite(raw) & (raw >= 0), raw, -1).astype(np.int64)
    keep = np.isfinite(value)
    dropped = int(keep.size - np.count_nonzero(keep))
    if dropped == keep.size:
        raise TelemetryFileError(path, "has no finite values", "value")
    signals: list[FileSignal] = []
    refused = 0
    out_of_order = False
    if seq is not None:
        checked = sequence_pass(ts, device, seq, device_ids, tenant)
        out_of_order = not checked.in_arrival_order
        signals, refused = checked.signals, checked.duplicates + checked.replayed
        if refused:
            keep &= checked.keep
    order: Rows | None = keep if dropped or refused else None  # a mask is the fastest take
    ts_kept = ts if order is None else ts[order]
    resorted = bool(ts_kept.size > 1 and np.any(ts_kept[1:] < ts_kept[:-1]))
    if resorted:
        by_time = np.argsort(ts_kept, kind="stable")
        order = by_time if order is None else np.flatnonzero(order)[by_time]

    return Telemetry(
        path=path,
        ts=_take(ts, order),
        device=_take(device, order),
        device_ids=device_ids,
        metric=_take(metric, order),
        metrics=metrics,
        value=_take(value, order),
        tenant=None if tenant is None else _take(tenant, order),
        tenants=tenants,
        seq=None if seq is None else _take(seq, order),
        dropped=dropped,
        resorted=resorted,
        signals=signals,
        refused=refused,
        out_of_order=out_of_order,
    )


def _take(array: Arr, order: Rows | None) -> Arr:
    return array if order is None else cast(Arr, array[order])
