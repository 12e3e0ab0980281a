"""Checkpoint files of engine state: what the detectors, the alert book and the models
learned, without what is rebuilt from the fleets and the rules file.

A component's state is its instance attributes minus the shared references named in
`SHARED` (fleet index, rules and their per-loan scope, settings), so a checkpoint
restores into an engine built from the same fleets under the current rules.

The state is a pickle, and unpickling runs whatever code a crafted file asks for, so a
file is authenticated before any of it is unpickled. Layout (`FORMAT` 2)::

    magic "RSCKPT\\0\\2" (8 bytes) | key id (8) | body length (8, big-endian)
    | HMAC-SHA256 of the 24 bytes before it and the body (32) | body (the pickle)

The HMAC is keyed with the service's checkpoint key (`riskstream.engine.checkpoint_key`); the
key id (the first 8 bytes of an HMAC of a fixed label under the key) only tells "written
with another key" apart from "altered". `read_state` refuses, with `CheckpointError` and
without unpickling a byte, a file of the older unauthenticated format, another file, one
cut short, one written under another key and one whose MAC does not match
(`hmac.compare_digest`). Files are written atomically (temporary file, fsync, rename)
with mode 0600. Whoever holds the key can write a checkpoint the service will load: keep
the key as private as the service's own files.
"""

import hashlib
import hmac
import os
import pickle
import struct
from pathlib import Path
from typing import Any

from devices.private_files import open_private

FORMAT = 2
MAGIC = b"RSCKPT\x00\x02"
_HEAD = struct.Struct(">8s8sQ")  # magic, key id, body length
_MAC_BYTES = hashlib.sha256().digest_size
HEADER_BYTES = _HEAD.size + _MAC_BYTES
_KEY_ID_LABEL = b"riskstream checkpoint key id"
_PICKLE_START = b"\x80"  # what a bare pickle (format 1) begins with
SHARED = frozenset(
    {
        "index",
        "rule",
        "lost_rule",
        "rules",
        "calendar",
        "scope",
        "coverage",
        "settings",
        "_heap_rules",
        "_limits",  # the deadman's limits per device, worked out from the rules
        "matching",
        "platform_view",
        "lender_lots",
        "peers",  # a line's cohort peers, derived from the fleets
        "peer_lines",
        "alarm",
        "derived",  # what scoring keeps of the fleets and of unchanged inputs
    }
)


class CheckpointError(ValueError):
    """A checkpoint file is refused; nothing of it was unpickled.

    Attributes:
        path: the checkpoint file.
        reason: why it is refused.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def state_of(component: object) -> dict[str, Any]:
    """The learned attributes of a component (shared references left out)."""
    return {k: v for k, v in vars(component).items() if k not in SHARED}


def apply_state(component: object, state: dict[str, Any]) -> None:
    """Put saved attributes back on a component built from the same fleets."""
    vars(component).update(state)


def key_id(key: bytes) -> bytes:
    """8 bytes that tell checkpoints of ``key`` from those of another key."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).digest()[:8]


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or not key:
        raise ValueError("the checkpoint key must be non-empty bytes")


def _mac(key: bytes, head: bytes, body: bytes) -> bytes:
    mac = hmac.new(key, head, hashlib.sha256)
    mac.update(body)
    return mac.digest()


def write_state(path: Path | str, parts: dict[str, Any], *, key: bytes) -> None:
    """Write ``parts`` to ``path`` atomically, mode 0600, authenticated with ``key``."""
    _check_key(key)
    body = pickle.dumps({"format": FORMAT, "parts": parts}, protocol=pickle.HIGHEST_PROTOCOL)
    head = _HEAD.pack(MAGIC, key_id(key), len(body))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open_private(tmp) as f:
        f.write(head)
        f.write(_mac(key, head, body))
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _header_problem(data: bytes) -> str | None:
    if data.startswith(_PICKLE_START):
        return (
            "a checkpoint of an older riskstream, without authentication: it is not "
            "loaded (the next checkpoint replaces it)"
        )
    if not MAGIC.startswith(data[: len(MAGIC)]):
        return f"not a riskstream checkpoint of format {FORMAT}"
    if len(data) < HEADER_BYTES:
        return f"cut short: {len(data)} bytes, less than the {HEADER_BYTES}-byte header"
    return None


def authenticated_body(path: Path | str, data: bytes, key: bytes) -> bytes:
    """The body of checkpoint bytes ``data`` once its MAC under ``key`` is checked.

    Raises:
        CheckpointError: the file is not one `write_state` wrote with ``key``, intact.
    """
    _check_key(key)
    problem = _header_problem(data)
    if problem is not None:
        raise CheckpointError(path, problem)
    _, written_by, length = _HEAD.unpack_from(data)
    mac = data[_HEAD.size : HEADER_BYTES]
    if not hmac.compare_digest(written_by, key_id(key)):
        raise CheckpointError(path, "written with another checkpoint key: not loaded")
    body = data[HEADER_BYTES:]
    if len(body) != length:
        raise CheckpointError(
            path, f"cut short or extended: body of {len(body)} bytes, not {length}"
        )
    if not hmac.compare_digest(mac, _mac(key, data[: _HEAD.size], body)):
        raise CheckpointError(path, "its MAC does not match its content: the file was altered")
    return body


def read_state(path: Path | str, *, key: bytes) -> dict[str, Any]:
    """Read the parts `write_state` wrote with ``key``; `CheckpointError` for any other file.

    The MAC is checked before anything is unpickled.
    """
    body = authenticated_body(path, Path(path).read_bytes(), key)
    blob = pickle.loads(body)  # noqa: S301 - authenticated with our key just above
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(path, f"not a riskstream checkpoint of format {FORMAT}")
    parts = blob.get("parts")
    if not isinstance(parts, dict):
        raise CheckpointError(path, "its body holds no engine state")
    return parts
