"""Dead-letter store: every refused payload, with its reason, kept for inspection.

Records are appended to a JSON-lines file (one object per refusal) and the most
recent ones are kept in memory for the API. Payloads are stored as text when they
are UTF-8, else base64, and cut at `MAX_KEPT_BYTES`.
"""

import base64
import threading
from collections import deque
from pathlib import Path
from typing import Any

import orjson

MAX_KEPT_BYTES = 4096


class DeadLetterStore:
    """Append-only record of refused input."""

    def __init__(self, path: Path | None, keep_recent: int = 1000) -> None:
        self._path = path
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep_recent)
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def add(
        self, *, received_at: float, topic: str, reason: str, detail: str, payload: bytes
    ) -> None:
        """Keep one refused payload."""
        kept = payload[:MAX_KEPT_BYTES]
        try:
            text, encoding = kept.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
        record = {
            "received_at": received_at,
            "topic": topic,
            "reason": reason,
            "detail": detail[:500],
            "payload": text,
            "payload_encoding": encoding,
            "payload_bytes": len(payload),
        }
        with self._lock:
            self._recent.append(record)
            if self._path is not None:
                with self._path.open("ab") as f:
                    f.write(orjson.dumps(record) + b"\n")

    def recent(self) -> list[dict[str, Any]]:
        """The most recent refusals, oldest first."""
        with self._lock:
            return list(self._recent)
