"""Dead-letter store: every refused payload, with its reason, kept for inspection.

Records are appended to a JSON-lines file (one object per refusal) and the most recent
ones are kept in memory for the API. A payload is stored as text when it is UTF-8, else
base64, cut at ``payload_bytes``; its full size and SHA-256 are recorded, so a cut
payload can still be matched against a device's log.

Each record names the tenant its topic belongs to (None when the topic names none), and
the most recent records are kept per tenant, so one lender's flood of bad input never
pushes another's out of view and `recent` shows a lender only its own (at most
`MAX_TENANTS_IN_VIEW` tenants are kept in view; records of more go to the file only).

The file is bounded, because anyone who can publish can make refusals: when it would
pass ``max_file_bytes`` it is rotated (``deadletter.jsonl`` becomes
``deadletter.jsonl.1``, ``.1`` becomes ``.2``, …) and the oldest of the ``files`` kept
is deleted; the records it held are counted in `DeadLetterStore.dropped`. Files are
created readable by their owner only (payloads may carry what devices know).
"""

import base64
import contextlib
import hashlib
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

MAX_KEPT_BYTES = 4096
DEFAULT_MAX_FILE_BYTES = 64 << 20
DEFAULT_FILES = 4
MAX_DETAIL_CHARS = 500
MAX_TENANTS_IN_VIEW = 10_000
_COUNT_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class DeadLetterLimits:
    """How much the dead-letter files may hold.

    Attributes:
        max_file_bytes: a file is rotated before it passes this size.
        files: how many files are kept, the one being written included (at least 1).
        payload_bytes: each payload is cut to this many bytes.
    """

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    files: int = DEFAULT_FILES
    payload_bytes: int = MAX_KEPT_BYTES

    def __post_init__(self) -> None:
        if self.max_file_bytes < 4096:
            raise ValueError(f"max_file_bytes {self.max_file_bytes} is below 4096")
        if self.files < 1:
            raise ValueError(f"files {self.files} is below 1")
        if not 0 <= self.payload_bytes <= self.max_file_bytes // 4:
            raise ValueError(
                f"payload_bytes {self.payload_bytes} is not within 0..{self.max_file_bytes // 4}"
            )


def _count_lines(path: Path) -> int:
    lines = 0
    with contextlib.suppress(OSError), path.open("rb") as f:
        while chunk := f.read(_COUNT_CHUNK):
            lines += chunk.count(b"\n")
    return lines


class DeadLetterStore:
    """Append-only, size-bounded record of refused input.

    Attributes:
        dropped: records deleted by rotation since this store was opened.
        written: records written since this store was opened.
    """

    def __init__(
        self,
        path: Path | None,
        keep_recent: int = 1000,
        limits: DeadLetterLimits | None = None,
    ) -> None:
        self._path = path
        self.limits = limits or DeadLetterLimits()
        self._keep_recent = keep_recent
        self._recent: dict[str | None, deque[dict[str, Any]]] = {}
        self.by_tenant: dict[str | None, int] = {}
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._size = 0
        self._records: list[int] = []  # records per file: current, .1, .2, …
        self.dropped = 0
        self.written = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._records = [_count_lines(self._rotated(i)) for i in range(self.limits.files)]

    def _rotated(self, index: int) -> Path:
        assert self._path is not None
        return self._path if index == 0 else self._path.with_name(f"{self._path.name}.{index}")

    def _open(self) -> IO[bytes]:
        if self._file is None:
            assert self._path is not None
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "ab")
            self._size = self._file.seek(0, os.SEEK_END)
        return self._file

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        last = self.limits.files - 1
        self.dropped += self._records[last]
        if last == 0:
            self._path.unlink(missing_ok=True)  # type: ignore[union-attr]
        else:
            self._rotated(last).unlink(missing_ok=True)
            for index in range(last, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    self._rotated(index - 1).replace(self._rotated(index))
        self._records = [0, *self._records[:last]]

    def add(
        self,
        *,
        received_at: float,
        topic: str,
        reason: str,
        detail: str,
        payload: bytes,
        tenant: str | None = None,
    ) -> None:
        """Keep one refused payload (``tenant``: whose topic it came on, if any)."""
        kept = payload[: self.limits.payload_bytes]
        try:
            text, encoding = kept.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
        record = {
            "received_at": received_at,
            "tenant": tenant,
            "topic": topic[:1024],
            "reason": reason,
            "detail": detail[:MAX_DETAIL_CHARS],
            "payload": text,
            "payload_encoding": encoding,
            "payload_bytes": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "payload_cut": len(kept) < len(payload),
        }
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            recent = self._recent.get(tenant)
            if recent is None and len(self._recent) < MAX_TENANTS_IN_VIEW:
                recent = self._recent[tenant] = deque(maxlen=self._keep_recent)
            if recent is not None:
                recent.append(record)
                self.by_tenant[tenant] = self.by_tenant.get(tenant, 0) + 1
            self.written += 1
            if self._path is None:
                return
            f = self._open()
            if self._size and self._size + len(line) > self.limits.max_file_bytes:
                self._rotate()
                f = self._open()
            f.write(line)
            f.flush()
            self._size += len(line)
            self._records[0] += 1

    def recent(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """The most recent refusals on ``tenant``'s topics, oldest first."""
        with self._lock:
            return list(self._recent.get(tenant, ()))

    def refused(self, tenant: str | None) -> int:
        """Refusals on ``tenant``'s topics since this store was opened."""
        with self._lock:
            return self.by_tenant.get(tenant, 0)

    def files(self) -> list[Path]:
        """The dead-letter files on disk, newest first."""
        if self._path is None:
            return []
        return [p for p in map(self._rotated, range(self.limits.files)) if p.exists()]

    def close(self) -> None:
        """Close the file (a later `add` opens it again)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
