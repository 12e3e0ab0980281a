"""InfluxDB line protocol payloads (what Telegraf's MQTT output and many gateways send).

``measurement[,tag=value…] field=value[,field=value…] [timestamp]``, one point per line.
Each numeric field becomes a reading whose metric is the field key (the measurement
name is not part of the metric); integers (``5i``, ``5u``) and booleans (``t``/``f``)
count as numbers, a string field makes the line ``bad_schema``. A field named ``seq``
is the device's sequence number. A ``device_id`` tag, if present, must name the device
of the topic. Timestamps are read by magnitude as s, ms, µs or ns (Telegraf's
``precision`` setting); without one, the receive time is used.
"""

import re

from ingest.codec import SEQ_LIMIT, DecodedObject
from ingest.errors import RejectedInputError

_DIGITS = re.compile(r"-?[0-9]+", re.ASCII)
_INTEGER = re.compile(r"-?[0-9]{1,19}", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?", re.ASCII)
_SPECIAL_FLOATS = frozenset({"nan", "-nan", "+nan", "inf", "-inf", "+inf"})
_UNESCAPE = re.compile(r"\\(.)")
_BOOL = {
    "t": 1.0,
    "T": 1.0,
    "true": 1.0,
    "True": 1.0,
    "TRUE": 1.0,
    "f": 0.0,
    "F": 0.0,
    "false": 0.0,
    "False": 0.0,
    "FALSE": 0.0,
}


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` not preceded by a backslash and not inside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _timestamp(raw: str) -> float:
    if not _DIGITS.fullmatch(raw):
        raise RejectedInputError("bad_timestamp", f"timestamp {raw[:40]!r} is not an integer")
    if not _INTEGER.fullmatch(raw):
        raise RejectedInputError("malformed", f"timestamp {raw[:40]!r} overflows 64 bits")
    value = int(raw)
    magnitude = abs(value)
    if magnitude < 10**11:
        return float(value)
    if magnitude < 10**14:
        return value / 1e3
    if magnitude < 10**17:
        return value / 1e6
    return value / 1e9


def _number(key: str, raw: str) -> float:
    if raw in _BOOL:
        return _BOOL[raw]
    if raw.startswith('"'):
        raise RejectedInputError("bad_schema", f"field {key!r} is a string, not a number")
    if raw[-1:] in ("i", "u"):
        if not _INTEGER.fullmatch(raw[:-1]):
            raise RejectedInputError(
                "malformed", f"field {key!r} value {raw[:40]!r} is not a 64-bit integer"
            )
        return float(int(raw[:-1]))
    if not _FLOAT.fullmatch(raw) and raw.lower() not in _SPECIAL_FLOATS:
        raise RejectedInputError("bad_schema", f"field {key!r} value {raw[:40]!r} is not a number")
    return float(raw)


def _seq(raw: str, line: int) -> int:
    text = raw[:-1] if raw[-1:] in ("i", "u") else raw
    if _INTEGER.fullmatch(text):
        value = int(text)
    elif _FLOAT.fullmatch(text) and float(text).is_integer():
        value = int(float(text))
    else:
        value = -1
    if not 0 <= value < SEQ_LIMIT:
        raise RejectedInputError(
            "bad_schema", f"line {line}: seq {raw[:40]!r} is not a count below 2^63"
        )
    return value


def decode_line_protocol(payload: bytes, device_id: str, now: float) -> list[DecodedObject]:
    """Decode line protocol into telemetry objects; `RejectedInputError` on the first bad line."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedInputError("malformed", f"not UTF-8: {exc}") from exc
    objects: list[DecodedObject] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sections = [s for s in _split_unescaped(line, " ") if s != ""]
        if len(sections) not in (2, 3):
            raise RejectedInputError(
                "malformed", f"line {number}: expected 'measurement fields [ts]'"
            )
        head, fields = sections[0], sections[1]
        tags = _split_unescaped(head, ",")[1:]
        for tag in tags:
            key, sep, value = tag.partition("=")
            if not sep:
                raise RejectedInputError("malformed", f"line {number}: tag {tag!r} has no '='")
            if (
                _UNESCAPE.sub(r"\1", key) == "device_id"
                and _UNESCAPE.sub(r"\1", value) != device_id
            ):
                raise RejectedInputError(
                    "bad_schema",
                    f"line {number}: device_id tag {value!r} is not the topic's device",
                )
        values: dict[str, float] = {}
        seq: int | None = None
        for item in _split_unescaped(fields, ","):
            key, sep, raw = item.partition("=")
            if not sep or not key or not raw:
                raise RejectedInputError(
                    "malformed", f"line {number}: field {item!r} is not key=value"
                )
            key = _UNESCAPE.sub(r"\1", key)
            if key == "seq":
                seq = _seq(raw, number)
            else:
                values[key] = _number(key, raw)
        if not values:
            raise RejectedInputError("bad_schema", f"line {number}: no numeric field")
        ts = _timestamp(sections[2]) if len(sections) == 3 else now
        objects.append(DecodedObject(ts=ts, values=values, seq=seq))
    if not objects:
        raise RejectedInputError("bad_schema", "no line protocol points")
    return objects
