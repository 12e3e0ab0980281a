"""Sparkplug B payloads from bytes, and each metric's value as a number or a reason.

Bounds come first: a payload over the size limit is not parsed, and one with more than
`MAX_METRICS` metrics is refused whole. A metric whose value field does not fit its
datatype is ``bad_schema``; text, dataset, template and byte metrics carry nothing
riskstream measures and are passed over (``sparkplug_ignored_type``, counted).
"""

import math

from google.protobuf.message import DecodeError

from devices.sparkplug.datatypes import SIGNED_BITS, TEXT_TYPES, DataType, to_signed
from devices.sparkplug.sparkplug_b_pb2 import Payload
from ingest.errors import RejectedInputError

MAX_METRICS = 10_000
"""Metrics one payload may carry (a birth certificate of a big PLC has a few thousand)."""
SEQ_MODULUS = 256

Metric = Payload.Metric

_FIELD_OF_TYPE: dict[int, str] = {
    DataType.INT8: "int_value",
    DataType.INT16: "int_value",
    DataType.INT32: "int_value",
    DataType.UINT8: "int_value",
    DataType.UINT16: "int_value",
    DataType.UINT32: "int_value",
    DataType.INT64: "long_value",
    DataType.UINT64: "long_value",
    DataType.FLOAT: "float_value",
    DataType.DOUBLE: "double_value",
    DataType.BOOLEAN: "boolean_value",
}


def decode_sparkplug(payload: bytes, max_bytes: int) -> Payload:
    """Parse a Sparkplug B payload; raise `RejectedInputError` with the reason."""
    if len(payload) > max_bytes:
        raise RejectedInputError("payload_too_large", f"{len(payload)} bytes > {max_bytes}")
    message = Payload()
    try:
        message.ParseFromString(payload)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise RejectedInputError("malformed", f"not a Sparkplug B payload: {exc}"[:200]) from None
    if len(message.metrics) > MAX_METRICS:
        raise RejectedInputError(
            "too_many_metrics", f"{len(message.metrics):,} metrics > {MAX_METRICS:,} per payload"
        )
    if message.HasField("seq") and message.seq >= SEQ_MODULUS:
        raise RejectedInputError("bad_schema", f"seq {message.seq} is outside 0..255")
    return message


def metric_value(metric: Metric, datatype: int) -> float:
    """The value of a numeric metric (a boolean as 0 or 1).

    Raises:
        RejectedInputError: ``sparkplug_ignored_type`` for text and other non-numeric
            types, ``bad_schema`` when the value field does not match the datatype,
            ``non_finite`` for NaN or infinity.
    """
    field = _FIELD_OF_TYPE.get(datatype)
    if field is None:
        kind = "text" if datatype in TEXT_TYPES else "non-numeric"
        name = DataType(datatype).name if datatype in DataType._value2member_map_ else datatype
        raise RejectedInputError("sparkplug_ignored_type", f"{kind} datatype {name}")
    present = metric.WhichOneof("value")
    if present != field:
        raise RejectedInputError(
            "bad_schema",
            f"datatype {DataType(datatype).name} needs {field}, the metric has {present}",
        )
    raw: int | float | bool = getattr(metric, field)
    if datatype in SIGNED_BITS:
        return float(to_signed(int(raw), SIGNED_BITS[datatype]))
    if datatype == DataType.INT64:
        return float(to_signed(int(raw), 64))
    value = float(raw)
    if not math.isfinite(value):
        raise RejectedInputError("non_finite", f"{metric.name or metric.alias} = {value!r}")
    return value


def rebirth_request(now: float) -> bytes:
    """An NCMD payload asking an edge node for new birth certificates."""
    ms = round(now * 1000)
    message = Payload(timestamp=ms)
    message.metrics.add(
        name="Node Control/Rebirth", timestamp=ms, datatype=DataType.BOOLEAN, boolean_value=True
    )
    encoded: bytes = message.SerializeToString()
    return encoded
