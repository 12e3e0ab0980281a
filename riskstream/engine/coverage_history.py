"""A bounded coverage history per lot, kept by the engine, for charts without a store.

One process draws a borrower's coverage chart from the load cells' readings in its
telemetry store. A cluster's API processes open no store, so a risk worker's engine
keeps what the chart needs (`CoverageHistory`, switched on by
`LatestCoverage.keep_history`) and sends it with the borrower's live state.

Each load cell keeps its last weight in each `BUCKET_S` bucket of event time, for the
last `BUCKETS` buckets (24 h), as 4-byte floats: about 0.5 KiB per cell. A lot's history
(`LotHistory`) is computed when asked: per bucket, the sum of its cells' weights (a cell
without a reading in a bucket counts with its last earlier one) over the pledge; buckets
before every cell has reported are null. Only each cell's own readings decide its
buckets, so the history does not depend on how the readings of a lot's cells interleave
(a cluster partition and one engine fed the same telemetry agree).

`bounded` thins the histories of a borrower to at most `MAX_POINTS` values over at most
`MAX_LOTS` lots, so a borrower's live state stays far under the bucket's entry limit.
"""

import math
from array import array

import msgspec

from riskstream.engine.fleet_index import CollateralContext

BUCKET_S = 900.0
"""Width of a history bucket, in seconds of event time."""
BUCKETS = 96
"""Buckets kept per load cell: 24 h."""
MAX_POINTS = 4096
"""Values sent per borrower, over all its lots (a value is about 7 bytes of JSON)."""
MAX_LOTS = 256
"""Lots of a borrower whose history is sent (the first by collateral id)."""
MIN_POINTS_PER_LOT = 16
"""Fewest values a lot's history is thinned to."""
MAX_COVERAGE = 1000.0
"""Largest coverage a history value may claim, either sign (1000 × the pledge; load cells
off their tare read below zero on an empty platform)."""

__all__ = [
    "BUCKETS",
    "BUCKET_S",
    "MAX_LOTS",
    "MAX_POINTS",
    "CoverageHistory",
    "LotHistory",
    "bounded",
]


class LotHistory(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Coverage of one lot (on hand / pledged) per bucket: ``values[i]`` is the coverage
    at the end of the bucket starting at ``start + i × every_s`` (epoch s, event time);
    null where not every load cell had reported yet."""

    collateral_id: str
    start: float
    every_s: float
    values: list[float | None]

    def points(self) -> list[tuple[float, float]]:
        """(bucket start, coverage) of every bucket with a value, oldest first."""
        return [
            (self.start + i * self.every_s, v) for i, v in enumerate(self.values) if v is not None
        ]

    def problem(self) -> str | None:
        """Why this history cannot be true, or None."""
        if not (math.isfinite(self.start) and 0 <= self.start <= 9e9):
            return "its start is out of range"
        if not (math.isfinite(self.every_s) and BUCKET_S <= self.every_s <= 86_400.0):
            return f"a bucket of {self.every_s!r} s"
        if len(self.values) > BUCKETS:
            return f"{len(self.values)} values, over {BUCKETS}"
        if any(
            v is not None and not (math.isfinite(v) and abs(v) <= MAX_COVERAGE) for v in self.values
        ):
            return "a coverage out of range"
        return None


class CoverageHistory:
    """Last weight per load cell and bucket, for the last `BUCKETS` buckets."""

    def __init__(self) -> None:
        self._cells: dict[str, tuple[int, array[float]]] = {}
        """load cell -> (index of its first kept bucket, last weight per bucket, NaN: none)."""

    def observe(self, device_id: str, ts: float, weight_kg: float) -> None:
        """Note a load cell's weight at event time ``ts``."""
        bucket = int(ts // BUCKET_S)
        kept = self._cells.get(device_id)
        if kept is None:
            self._cells[device_id] = (bucket, array("f", (weight_kg,)))
            return
        first, values = kept
        last = first + len(values) - 1
        if bucket == last:
            values[-1] = weight_kg
        elif bucket > last:
            if bucket - last >= BUCKETS:  # silent for a day or more: start again
                self._cells[device_id] = (bucket, array("f", (weight_kg,)))
                return
            values.extend([math.nan] * (bucket - last - 1))
            values.append(weight_kg)
            over = len(values) - BUCKETS
            if over > 0:
                del values[:over]
                self._cells[device_id] = (first + over, values)
        elif bucket >= first:  # a late reading of a bucket still kept
            values[bucket - first] = weight_kg

    def of_lot(self, lot: CollateralContext) -> LotHistory | None:
        """The lot's history up to its latest bucket, None before any cell reported."""
        if not lot.load_cells or lot.kg_per_unit is None:
            return None
        cells = [self._cells.get(cell) for cell in lot.load_cells]
        known = [c for c in cells if c is not None]
        if not known:
            return None
        end = max(first + len(values) for first, values in known)
        start = end - BUCKETS
        pledged_kg = lot.collateral.quantity * lot.kg_per_unit
        sums: list[float | None] = [0.0] * BUCKETS
        for cell in cells:
            carried = _carried(cell, start, end)
            sums = [
                None if s is None or c is None else s + c
                for s, c in zip(sums, carried, strict=True)
            ]
        while sums and sums[0] is None:
            sums.pop(0)
            start += 1
        values = [None if s is None else _coverage(s / pledged_kg) for s in sums]
        return LotHistory(lot.collateral.id, start * BUCKET_S, BUCKET_S, values)


def _coverage(ratio: float) -> float | None:
    """A bucket's coverage as sent: rounded, within ±`MAX_COVERAGE` (a device reporting
    an absurd weight cannot make its borrower's state one the API refuses)."""
    if math.isnan(ratio):
        return None
    return round(max(-MAX_COVERAGE, min(MAX_COVERAGE, ratio)), 4)


def _carried(cell: "tuple[int, array[float]] | None", start: int, end: int) -> list[float | None]:
    """A cell's weight at the end of each bucket of [start, end): its last reading so far."""
    if cell is None:
        return [None] * (end - start)
    first, values = cell
    out: list[float | None] = []
    last: float | None = None
    for bucket in range(start, end):
        i = bucket - first
        if 0 <= i < len(values) and not math.isnan(values[i]):
            last = float(values[i])
        out.append(last)
    return out


def bounded(histories: list[LotHistory]) -> list[LotHistory]:
    """At most `MAX_LOTS` histories with `MAX_POINTS` values in all: a lot's buckets are
    merged (its last value of each group of ``k``, counted back from its latest) when
    there are too many."""
    kept = sorted(histories, key=lambda h: h.collateral_id)[:MAX_LOTS]
    if not kept:
        return []
    allowed = max(MIN_POINTS_PER_LOT, MAX_POINTS // len(kept))
    return [_thinned(h, allowed) for h in kept]


def _thinned(history: LotHistory, allowed: int) -> LotHistory:
    n = len(history.values)
    if n <= allowed:
        return history
    k = math.ceil(n / allowed)
    groups = math.ceil(n / k)
    first = n - groups * k  # may be negative: the oldest group is short
    values: list[float | None] = []
    for g in range(groups):
        group = [
            v for v in history.values[max(0, first + g * k) : first + (g + 1) * k] if v is not None
        ]
        values.append(group[-1] if group else None)
    start = history.start + first * history.every_s
    return LotHistory(history.collateral_id, start, history.every_s * k, values)
