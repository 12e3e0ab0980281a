"""Decode telemetry payloads (DESIGN.md JSON: one object or an array of objects).

Decoding is strict about shape and lenient about nothing else: a payload that is not
JSON is ``malformed``; JSON of the wrong shape is ``bad_schema``; a NaN/Infinity
literal (which some devices emit although JSON has none) decodes so that the value
can be refused as ``non_finite`` rather than hiding the cause behind ``malformed``.
"""

import json
import math
from datetime import datetime

import msgspec

from ingest.errors import RejectedInputError

MAX_PAYLOAD_BYTES = 256 * 1024


class DecodedObject(msgspec.Struct, frozen=True):
    """One telemetry object as sent by a device."""

    ts: float | str
    values: dict[str, float]
    seq: int | None = None
    sig: str | None = None


_OBJECT_OR_LIST = DecodedObject | list[DecodedObject]
_decoder = msgspec.json.Decoder(_OBJECT_OR_LIST)
_NON_FINITE_TOKENS = (b"NaN", b"Infinity")


def decode_payload(payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> list[DecodedObject]:
    """Decode a payload into telemetry objects; raise `RejectedInputError` with the reason."""
    if len(payload) > max_bytes:
        raise RejectedInputError("payload_too_large", f"{len(payload)} bytes > {max_bytes}")
    try:
        decoded = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise RejectedInputError("bad_schema", str(exc)) from exc
    except msgspec.DecodeError as exc:
        if any(token in payload for token in _NON_FINITE_TOKENS):
            return _decode_with_non_finite(payload, exc)
        raise RejectedInputError("malformed", str(exc)) from exc
    objects = decoded if isinstance(decoded, list) else [decoded]
    if not objects:
        raise RejectedInputError("bad_schema", "empty array")
    return objects


def _decode_with_non_finite(payload: bytes, original: Exception) -> list[DecodedObject]:
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError):
        raise RejectedInputError("malformed", str(original)) from original
    try:
        decoded = msgspec.convert(raw, _OBJECT_OR_LIST)
    except msgspec.ValidationError as exc:
        raise RejectedInputError("bad_schema", str(exc)) from exc
    objects = decoded if isinstance(decoded, list) else [decoded]
    if not objects:
        raise RejectedInputError("bad_schema", "empty array")
    return objects


def event_time(ts: float | str) -> float:
    """Event time in epoch seconds from a number or an RFC 3339 string."""
    if isinstance(ts, str):
        try:
            parsed = datetime.fromisoformat(ts.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise RejectedInputError("bad_timestamp", f"not RFC 3339: {ts!r}") from exc
        if parsed.tzinfo is None:
            raise RejectedInputError("bad_timestamp", f"no timezone offset: {ts!r}")
        return parsed.timestamp()
    if not math.isfinite(ts):
        raise RejectedInputError("bad_timestamp", f"not finite: {ts!r}")
    return float(ts)
