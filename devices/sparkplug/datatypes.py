"""Sparkplug B metric datatypes (Sparkplug 3.0.0, section 6.4.16) and which value field
of a `Metric` carries each."""

from enum import IntEnum


class DataType(IntEnum):
    """The ``datatype`` of a Sparkplug metric; arrays and the rest are not listed."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19


SIGNED_BITS: dict[int, int] = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32}
"""Signed types sent in ``int_value`` (uint32) as two's complement of this many bits."""

NUMERIC_TYPES: frozenset[int] = frozenset(
    {
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.INT64,
        DataType.UINT8,
        DataType.UINT16,
        DataType.UINT32,
        DataType.UINT64,
        DataType.FLOAT,
        DataType.DOUBLE,
        DataType.BOOLEAN,
    }
)
"""Types whose value riskstream takes as a reading (a boolean as 0 or 1)."""

TEXT_TYPES: frozenset[int] = frozenset(
    {DataType.STRING, DataType.TEXT, DataType.UUID, DataType.DATETIME}
)
"""Types that carry no measurement riskstream uses; counted and passed over."""


def to_signed(value: int, bits: int) -> int:
    """A two's-complement ``bits``-bit integer sent as unsigned, read back signed."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value
