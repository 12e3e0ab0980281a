import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.codec import decode_payload, event_time
from ingest.errors import RejectedInputError


def test_single_object_and_batch() -> None:
    one = decode_payload(b'{"ts": 1795671585.123, "seq": 42, "values": {"weight_kg": 118250.0}}')
    assert len(one) == 1 and one[0].seq == 42 and one[0].values == {"weight_kg": 118250.0}
    many = decode_payload(b'[{"ts": 1, "values": {"a_kg": 1}}, {"ts": 2, "values": {"a_kg": 2}}]')
    assert [o.ts for o in many] == [1, 2]


def test_rfc3339_timestamp() -> None:
    (obj,) = decode_payload(b'{"ts": "2026-11-26T06:00:00Z", "values": {"x_c": 1}}')
    assert event_time(obj.ts) == 1795672800.0
    with pytest.raises(RejectedInputError, match="bad_timestamp"):
        event_time("2026-11-26T06:00:00")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed"),
        (b"", "malformed"),
        (b'{"values": {"a_kg": 1}}', "bad_schema"),
        (b'{"ts": 1, "values": {"a_kg": "heavy"}}', "bad_schema"),
        (b'{"ts": 1, "values": [1, 2]}', "bad_schema"),
        (b"[]", "bad_schema"),
        (b"x" * 300_000, "payload_too_large"),
    ],
)
def test_bad_payloads_carry_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(RejectedInputError) as info:
        decode_payload(payload)
    assert info.value.reason == reason


def test_nan_literal_decodes_so_it_can_be_refused_as_non_finite() -> None:
    (obj,) = decode_payload(b'{"ts": 1, "values": {"a_kg": NaN, "b_c": 2}}')
    assert math.isnan(obj.values["a_kg"]) and obj.values["b_c"] == 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_never_raise_anything_else(payload: bytes) -> None:
    try:
        decode_payload(payload)
    except RejectedInputError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fuzz_json_shapes_never_raise_anything_else(value: object) -> None:
    import json

    try:
        decode_payload(json.dumps(value).encode())
    except RejectedInputError:
        pass
