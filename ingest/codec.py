"""Decode telemetry payloads (DESIGN.md JSON: one object or an array of objects).

Decoding is strict about shape and lenient about nothing else: a payload that is not
JSON, or that nests arrays and objects deeper than `MAX_NESTING` (checked before any
decoder recurses), is ``malformed``; JSON of the wrong shape, or a ``seq`` outside
0 ≤ seq < 2^63, is ``bad_schema``; a NaN/Infinity literal (which some devices emit
although JSON has none) decodes so that the value can be refused as ``non_finite``
rather than hiding the cause behind ``malformed``.
"""

import json
import math
import re
from datetime import datetime
from typing import Annotated

import msgspec

from ingest.errors import RejectedInputError

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_NESTING = 16
"""Deepest nesting of arrays and objects a payload may have (a valid one has 3)."""
SEQ_LIMIT = 1 << 63
"""``seq`` must fit a signed 64-bit integer, as every store keeps it."""
MAX_TS_TEXT = 64

Seq = Annotated[int, msgspec.Meta(ge=0, le=SEQ_LIMIT - 1)]


class DecodedObject(msgspec.Struct, frozen=True):
    """One telemetry object as sent by a device."""

    ts: float | str
    values: dict[str, float]
    seq: Seq | None = None
    sig: str | None = None


_OBJECT_OR_LIST = DecodedObject | list[DecodedObject]
_decoder = msgspec.json.Decoder(_OBJECT_OR_LIST)
_NON_FINITE_TOKENS = (b"NaN", b"Infinity")
_JSON_STRUCTURE = re.compile(rb'[\[\]{}"\\]')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def nesting_exceeds(payload: bytes, limit: int = MAX_NESTING) -> bool:
    """Whether arrays and objects in ``payload`` nest deeper than ``limit``.

    Payloads with no more than ``limit`` opening brackets in all cannot be too deep. Else
    the brackets alone are taken (C speed) and innermost pairs removed ``limit`` times:
    when nothing is left, no nesting is deeper. Brackets inside JSON strings can make
    that look deeper (or unbalanced) than it is, so a payload it flags is scanned
    exactly (`_scan_nesting`, strings and escapes skipped). Strings crafted to make a
    deep payload look shallow are caught by the decoder's own recursion guard, which
    `decode_payload` also reports as ``malformed``.
    """
    if payload.count(b"{") + payload.count(b"[") <= limit:
        return False
    brackets = payload.translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = brackets.replace(b"{}", b"").replace(b"[]", b"")
        if not shorter:
            return False
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return _scan_nesting(payload, limit)


def _scan_nesting(payload: bytes, limit: int) -> bool:
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _JSON_STRUCTURE.finditer(payload):
        position = match.start()
        if position == escaped_at:
            continue
        char = payload[position]
        if in_string:
            if char == 0x5C:  # backslash: the next byte is escaped
                escaped_at = position + 1
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif char in (0x5D, 0x7D):
            depth -= 1
    return False


def decode_payload(payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> list[DecodedObject]:
    """Decode a payload into telemetry objects; raise `RejectedInputError` with the reason."""
    if len(payload) > max_bytes:
        raise RejectedInputError("payload_too_large", f"{len(payload)} bytes > {max_bytes}")
    if payload.count(b"{") + payload.count(b"[") > MAX_NESTING and nesting_exceeds(payload):
        raise RejectedInputError("malformed", f"arrays and objects nest deeper than {MAX_NESTING}")
    try:
        decoded = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise RejectedInputError("bad_schema", str(exc)) from exc
    except RecursionError as exc:
        raise RejectedInputError("malformed", "arrays and objects nest too deep") from exc
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
        if len(ts) > MAX_TS_TEXT:
            raise RejectedInputError("bad_timestamp", f"{len(ts)} characters is no RFC 3339 time")
        try:
            parsed = datetime.fromisoformat(ts.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise RejectedInputError("bad_timestamp", f"not RFC 3339: {ts!r}") from exc
        if parsed.tzinfo is None:
            raise RejectedInputError("bad_timestamp", f"no timezone offset: {ts!r}")
        try:
            return parsed.timestamp()
        except (ValueError, OverflowError) as exc:  # year 1 with a positive offset, etc.
            raise RejectedInputError("bad_timestamp", f"out of range: {ts!r}") from exc
    if not math.isfinite(ts):
        raise RejectedInputError("bad_timestamp", f"not finite: {ts!r}")
    return float(ts)
