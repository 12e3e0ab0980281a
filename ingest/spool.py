"""A store outage never stops ingest: batches spool to local disk and drain in order.

`SpoolingStore` wraps any `TelemetryStore`. While the backend answers, a write goes
straight through and the disk is not touched. When it raises `StoreUnavailableError`,
the readings it did not store are appended to a `DiskSpool` (one msgpack file per
batch, mode 0600, written to a temporary name, fsynced and renamed, so a batch is either
whole on disk or absent; directories the spool makes are 0700), and the write still
counts them as accepted: ingest goes on and may acknowledge their MQTT messages. From
then on new batches queue behind the spooled ones, so the store receives everything in
the order it arrived; the backend is tried again after a back-off (`RETRY_MIN_S`
doubling to `RETRY_MAX_S`), on the next write or when the caller calls
`SpoolingStore.drain`, which spends at most `DRAIN_BUDGET_S`.

The spool is bounded (``max_bytes``). When it is full a new batch is refused: the
write returns how many readings it kept, ``refused_readings`` counts the rest, and a
warning says so; ingest keeps running. A batch the store rejects for good (HTTP 400)
is not retried; it is kept under ``rejected/`` for inspection and counted in
``rejected_readings``. The spool survives a restart of the process: a new
`SpoolingStore` on the same directory drains what the old one left.

Delivery is at least once: a crash between a successful write and the removal of its
spool file writes that batch again, which InfluxDB (and VictoriaMetrics with
``-dedup.minScrapeInterval``) absorb by overwriting the same points.
"""

import contextlib
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import msgspec

from devices.private_files import make_private_dirs, open_private
from devices.reading import Reading
from ingest.stores.base import SeqMarks, SequencedStore, TelemetryStore
from ingest.stores.errors import StoreRejectedError, StoreUnavailableError

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 30
REJECTED_MAX_BYTES = 64 << 20
RETRY_MIN_S = 1.0
RETRY_MAX_S = 30.0
DRAIN_BUDGET_S = 1.0
SUFFIX = ".batch"
_NAME = re.compile(r"(\d{16})-(\d+)\.batch")

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[Reading]).decode


class DiskSpool:
    """A bounded FIFO of batches in a directory, one ``INDEX-READINGS.batch`` file each.

    Attributes:
        directory: where the files live.
        max_bytes: the most the files may hold together.
        bytes: what they hold now.
        corrupt: files that could not be read back (renamed ``*.corrupt``, skipped).
    """

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        make_private_dirs(directory)
        self.directory = directory
        self.max_bytes = max_bytes
        self.corrupt = 0
        for stale in directory.glob("*.tmp"):
            stale.unlink()
        found: dict[int, tuple[int, Path]] = {}
        for path in directory.glob(f"*{SUFFIX}"):
            match = _NAME.fullmatch(path.name)
            if match is None:
                log.warning("spool %s: ignoring %s, not a spool file name", directory, path.name)
                continue
            index, readings = int(match[1]), int(match[2])
            if index in found and found[index][0] <= readings:
                path.unlink()  # a head rewrite was cut short: the shorter file is the newer
                continue
            if index in found:
                found[index][1].unlink()
            found[index] = (readings, path)
        self._files: deque[tuple[int, int, int]] = deque(
            (index, readings, path.stat().st_size)
            for index, (readings, path) in sorted(found.items())
        )
        self.bytes = sum(size for _, _, size in self._files)
        self._next = self._files[-1][0] + 1 if self._files else 0

    @property
    def batches(self) -> int:
        """Batches waiting."""
        return len(self._files)

    @property
    def readings(self) -> int:
        """Readings waiting."""
        return sum(readings for _, readings, _ in self._files)

    def _path(self, index: int, readings: int) -> Path:
        return self.directory / f"{index:016d}-{readings}{SUFFIX}"

    def _store(self, index: int, readings: int, data: bytes) -> None:
        tmp = self.directory / f"{index:016d}.tmp"
        with open_private(tmp) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._path(index, readings))
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, batch: Sequence[Reading]) -> bool:
        """Add a batch at the tail; False (nothing written) when it would exceed ``max_bytes``."""
        data = _encode(list(batch))
        if self.bytes + len(data) > self.max_bytes:
            return False
        self._store(self._next, len(batch), data)
        self._files.append((self._next, len(batch), len(data)))
        self._next += 1
        self.bytes += len(data)
        return True

    def peek(self) -> list[Reading] | None:
        """The oldest batch, or None when the spool is empty."""
        while self._files:
            index, readings, _ = self._files[0]
            path = self._path(index, readings)
            try:
                return _decode(path.read_bytes())
            except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.error("spool file %s unreadable (%s); moved aside as .corrupt", path, exc)
                if path.exists():
                    path.replace(path.with_suffix(".corrupt"))
                self.corrupt += 1
                self._drop_head()
        return None

    def batches_in_order(self) -> Iterator[list[Reading]]:
        """Every readable batch, oldest first, without removing any."""
        for index, readings, _ in list(self._files):
            with contextlib.suppress(OSError, msgspec.DecodeError, msgspec.ValidationError):
                yield _decode(self._path(index, readings).read_bytes())

    def _drop_head(self) -> None:
        _, _, size = self._files.popleft()
        self.bytes -= size

    def pop(self) -> None:
        """Remove the oldest batch (after it has been stored)."""
        index, readings, _ = self._files[0]
        self._path(index, readings).unlink(missing_ok=True)
        self._drop_head()

    def replace_head(self, rest: Sequence[Reading]) -> None:
        """Keep only ``rest`` of the oldest batch (its first part has been stored)."""
        index, readings, size = self._files[0]
        data = _encode(list(rest))
        self._store(index, len(rest), data)
        if len(rest) != readings:
            self._path(index, readings).unlink(missing_ok=True)
        self._files[0] = (index, len(rest), len(data))
        self.bytes += len(data) - size


class SpoolingStore:
    """A `TelemetryStore` that spools what its backend cannot take; see the module docstring.

    Attributes:
        backend: the wrapped store; reads go straight to it (spooled readings are not
            visible until drained).
        refused_readings: readings turned away because the spool was full.
        refused_batches: batches turned away (wholly or partly) because it was full.
        rejected_readings: readings the backend refused for good (kept under ``rejected/``).
        drained_readings: readings written from the spool to the backend.
        backend_up: False from a failed write until the next successful one.
    """

    def __init__(
        self,
        backend: TelemetryStore,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.refused_readings = 0
        self.refused_batches = 0
        self.rejected_readings = 0
        self.drained_readings = 0
        self.backend_up = True
        self._spool = DiskSpool(directory, max_bytes)
        self._rejected = DiskSpool(directory / "rejected", REJECTED_MAX_BYTES)
        self._clock = clock
        self._retry_at = 0.0
        self._delay = 0.0
        self._lock = threading.Lock()
        if self._spool.batches:
            log.warning(
                "spool %s holds %d readings from before; they drain first",
                directory,
                self._spool.readings,
            )

    @property
    def spool_bytes(self) -> int:
        """Bytes waiting in the spool."""
        return self._spool.bytes

    @property
    def spooled_batches(self) -> int:
        """Batches waiting in the spool."""
        return self._spool.batches

    @property
    def spooled_readings(self) -> int:
        """Readings waiting in the spool."""
        return self._spool.readings

    def _may_try(self) -> bool:
        return self._clock() >= self._retry_at

    def _failed(self, exc: StoreUnavailableError) -> None:
        if self.backend_up:
            log.warning("store unavailable (%s); spooling to %s", exc, self._spool.directory)
        self.backend_up = False
        self._delay = min(RETRY_MAX_S, max(RETRY_MIN_S, self._delay * 2))
        self._retry_at = self._clock() + self._delay

    def _succeeded(self) -> None:
        if not self.backend_up:
            log.warning("store is back; %d readings left to drain", self._spool.readings)
        self.backend_up = True
        self._delay = 0.0
        self._retry_at = 0.0

    def _reject(self, exc: StoreRejectedError) -> None:
        self.rejected_readings += len(exc.unwritten)
        kept = self._rejected.append(exc.unwritten)
        where = f"kept in {self._rejected.directory}" if kept else "not kept (rejected/ is full)"
        log.error("store rejected %d readings (%s); %s", len(exc.unwritten), exc, where)

    def _to_spool(self, batch: Sequence[Reading]) -> int:
        if not batch:
            return 0
        if self._spool.append(batch):
            return len(batch)
        self.refused_batches += 1
        self.refused_readings += len(batch)
        log.warning(
            "spool %s is full (%d of %d bytes): refused %d readings",
            self._spool.directory,
            self._spool.bytes,
            self._spool.max_bytes,
            len(batch),
        )
        return 0

    def write(self, batch: Sequence[Reading]) -> int:
        """Store or spool ``batch``; return the readings kept (stored or safely on disk)."""
        if not batch:
            return 0
        with self._lock:
            if self._spool.batches == 0 and self._may_try():
                try:
                    written = self.backend.write(batch)
                except StoreUnavailableError as exc:
                    self._failed(exc)
                    return len(batch) - len(exc.unwritten) + self._to_spool(exc.unwritten)
                except StoreRejectedError as exc:
                    self._reject(exc)
                    return len(batch) - len(exc.unwritten)
                self._succeeded()
                return written
            kept = self._to_spool(batch)
            if self._may_try():
                self._drain(DRAIN_BUDGET_S)
            return kept

    def drain(self, max_seconds: float | None = DRAIN_BUDGET_S, *, force: bool = False) -> int:
        """Write spooled batches, oldest first, until empty, failing, or ``max_seconds`` spent.

        Does nothing while the back-off after a failure runs, unless ``force``.
        ``max_seconds=None`` drains until the spool is empty or the backend fails.
        Returns the readings written.
        """
        with self._lock:
            if not force and not self._may_try():
                return 0
            return self._drain(max_seconds)

    def _drain(self, max_seconds: float | None) -> int:
        deadline = None if max_seconds is None else self._clock() + max_seconds
        drained = 0
        while (batch := self._spool.peek()) is not None:
            try:
                self.backend.write(batch)
            except StoreUnavailableError as exc:
                if exc.unwritten and len(exc.unwritten) < len(batch):
                    self._spool.replace_head(exc.unwritten)
                    drained += len(batch) - len(exc.unwritten)
                self._failed(exc)
                break
            except StoreRejectedError as exc:
                self._reject(exc)
                drained += len(batch) - len(exc.unwritten)
                self._succeeded()
            else:
                drained += len(batch)
                self._succeeded()
            self._spool.pop()
            if deadline is not None and self._clock() >= deadline:
                break
        self.drained_readings += drained
        return drained

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
        """The backend's answer (spooled readings are not included)."""
        return self.backend.query(device_id, metric, start, end, every, tenant=tenant)

    def latest(
        self, device_id: str, *, tenant: str | None = None
    ) -> dict[str, tuple[float, float]]:
        """The backend's answer (spooled readings are not included)."""
        return self.backend.latest(device_id, tenant=tenant)

    def count(self) -> int:
        """Readings in the backend (not counting the spool)."""
        return self.backend.count()

    def seq_high_water(self) -> SeqMarks:
        """Per (tenant, device): highest seq and newest event time, stored or spooled.

        Spooled readings count as stored (they were acknowledged). When the backend
        cannot be asked right now, the spool alone answers and a warning says so.
        """
        marks: SeqMarks = {}
        if isinstance(self.backend, SequencedStore):
            try:
                marks = dict(self.backend.seq_high_water())
            except StoreUnavailableError as exc:
                log.warning("seq high-water marks from the spool only: %s", exc)
        with self._lock:
            for batch in self._spool.batches_in_order():
                for r in batch:
                    if r.seq is not None:
                        key = (r.tenant, r.device_id)
                        seq, ts = marks.get(key, (r.seq, r.ts))
                        marks[key] = (max(seq, r.seq), max(ts, r.ts))
        return marks

    def close(self) -> None:
        """Drain what one budget allows, then close the backend; the rest stays on disk."""
        with self._lock:
            if self._spool.batches and self._may_try():
                self._drain(DRAIN_BUDGET_S)
        if self._spool.batches:
            log.warning(
                "closing with %d readings spooled in %s",
                self._spool.readings,
                self._spool.directory,
            )
        self.backend.close()
