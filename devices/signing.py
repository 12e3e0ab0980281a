"""Payload signatures: HMAC-SHA256 over canonical JSON, keyed with the device secret.

The signed bytes are the telemetry object without its ``sig`` key, serialised with keys
sorted at every level, no whitespace (separators ``,`` and ``:``) and UTF-8 text; the
key is the device secret's UTF-8 bytes; ``sig`` is the lowercase hex digest. A device
(or the simulator) signs with `sign`, ingest checks with `verify`.
"""

import hashlib
import hmac
from typing import Any

import orjson


def canonical_json(obj: dict[str, Any]) -> bytes:
    """The bytes a signature covers: ``obj`` without ``sig``, keys sorted, compact."""
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    return orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)


def sign(obj: dict[str, Any], secret: str) -> str:
    """Hex HMAC-SHA256 of ``obj``'s canonical JSON under ``secret``."""
    return hmac.new(secret.encode("utf-8"), canonical_json(obj), hashlib.sha256).hexdigest()


def verify(obj: dict[str, Any], secret: str) -> bool:
    """Whether ``obj["sig"]`` is the right signature (constant-time comparison)."""
    given = obj.get("sig")
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.lower(), sign(obj, secret))
