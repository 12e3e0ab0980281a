import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import RejectedInputError
from ingest.line_protocol import decode_line_protocol

NOW = 1_795_000_000.0


def test_telegraf_style_points() -> None:
    payload = (
        b"warehouse,host=gw1,device_id=d1 weight_kg=118250.5,door_open=0i,seq=42i 1795000000000000000\n"
        b"warehouse,host=gw1 temperature_c=4.25,ok=t 1795000001000\n"
        b"# comment\n"
        b"power power_kw=12.5\n"
    )
    first, second, third = decode_line_protocol(payload, "d1", NOW)
    assert first.ts == 1795000000.0 and first.seq == 42
    assert first.values == {"weight_kg": 118250.5, "door_open": 0.0}
    assert second.ts == 1795000001.0 and second.values == {"temperature_c": 4.25, "ok": 1.0}
    assert third.ts == NOW and third.values == {"power_kw": 12.5}


def test_escaped_spaces_and_commas() -> None:
    (obj,) = decode_line_protocol(b"my\\ meas,tag=a\\,b my\\ field=1 1795000000", "d1", NOW)
    assert obj.values == {"my field": 1.0}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"m", "malformed"),
        (b"m f=", "malformed"),
        (b'm note="hello" 1', "bad_schema"),
        (b"m,device_id=other f=1 1", "bad_schema"),
        (b"m f=abc 1", "bad_schema"),
        (b"m f=1 12x", "bad_timestamp"),
        (b"\xff\xfe", "malformed"),
        (b"m f=1,seq=1.5 1", "bad_schema"),
    ],
)
def test_bad_lines_carry_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(RejectedInputError) as info:
        decode_line_protocol(payload, "d1", NOW)
    assert info.value.reason == reason


def test_non_finite_passes_through_for_the_pipeline_to_refuse() -> None:
    (obj,) = decode_line_protocol(b"m f=inf 1795000000", "d1", NOW)
    assert math.isinf(obj.values["f"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_fuzz_never_raises_anything_else(text: str) -> None:
    try:
        decode_line_protocol(text.encode("utf-8", "surrogatepass"), "d1", NOW)
    except RejectedInputError:
        pass
