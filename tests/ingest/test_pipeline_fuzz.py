"""Property test: whatever a device sends, the pipeline refuses it with a named reason
(never ``internal_error``, which would mean a fault we did not foresee), and the valid
readings sent between the hostile messages are all accepted, exactly once."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream.bench.hostile import HOSTILE_NUMBERS
from tests.ingest.poison import NOW, POISONED, make_pipeline, topic, valid

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


NUMBER_TEXT = st.sampled_from(HOSTILE_NUMBERS)


@st.composite
def telemetry_like(draw: st.DrawFn) -> bytes:
    """Objects shaped like telemetry with hostile field values."""
    ts = draw(st.one_of(NUMBER_TEXT, st.just(b'"2026-13-45T99:00:00Z"'), st.just(b"%d" % NOW)))
    seq = draw(st.one_of(NUMBER_TEXT, st.just(b"null"), st.just(b'"7"')))
    value = draw(st.one_of(NUMBER_TEXT, st.just(b"[]"), st.just(b'"x"')))
    metric = draw(st.sampled_from([b"weight_kg", b"Weight KG", b"seq", b"", b"a" * 200]))
    sig = draw(st.sampled_from([b"", b',"sig":"00"', b',"sig":1', b',"sig":null']))
    one = b'{"ts":%s,"seq":%s,"values":{"%s":%s}%s}' % (ts, seq, metric, value, sig)
    return draw(st.sampled_from([one, b"[" + one + b"," + one + b"]", b"[" + one + b"]"]))


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([1, 3, 16, 17, 100, 999, 1001, 3000]))
    opener = draw(st.sampled_from([b"[", b'{"a":']))
    closer = b"]" if opener == b"[" else b"}"
    close = draw(st.booleans())
    return opener * depth + b"1" + (closer * depth if close else b"")


@st.composite
def line_protocol(draw: st.DrawFn) -> bytes:
    measurement = draw(st.sampled_from(["m", "m,device_id=d1", "m,device_id=zz", "m,t", "m\\ x"]))
    fields = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["weight_kg", "seq", "x", "", "a\\,b", 'q"']),
                st.sampled_from(
                    [
                        "1",
                        "1i",
                        "-1i",
                        "1u",
                        "t",
                        "FALSE",
                        '"s"',
                        "nan",
                        "inf",
                        "1e400",
                        "²",
                        "١٢٣",
                        "9" * 30 + "i",
                        "1_000",
                        " 1",
                        "0x10",
                        "",
                        "1.5e3",
                    ]
                ),
            ),
            min_size=1,
            max_size=4,
        )
    )
    ts = draw(
        st.sampled_from(
            ["", " 1795000000", " " + "9" * 400, " ²", " -1", " 1795000000000000000", " x"]
        )
    )
    body = ",".join(f"{k}={v}" for k, v in fields)
    return f"{measurement} {body}{ts}".encode()


FAMILIES = {
    "random-bytes": st.binary(max_size=300),
    "json": JSON_VALUES.map(_json),
    "truncated-json": JSON_VALUES.map(_json).flatmap(
        lambda b: st.integers(0, len(b)).map(lambda n: b[:n])
    ),
    "telemetry-like": telemetry_like(),
    "nested": nested(),
    "line-protocol": line_protocol(),
}
TOPICS = st.sampled_from(
    [
        topic(POISONED),
        topic(POISONED),
        topic("d9", "other-bank"),
        topic("d2", "other-bank"),
        topic("ghost"),
        "rs/v1/bank/d1/status",
        "rs/v1//d1/telemetry",
        "rs/v1/bank/+/telemetry",
        "garbage",
        "rs/v1/" + "x" * 300 + "/d1/telemetry",
    ]
)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_hostile_messages_never_fault_and_valid_ones_all_pass(family: str) -> None:
    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(messages=st.lists(st.tuples(TOPICS, FAMILIES[family]), min_size=1, max_size=6))
    def check(messages: list[tuple[str, bytes]]) -> None:
        pipeline = make_pipeline()
        sent = 0
        for hostile_topic, payload in messages:
            sent += 1
            ts = NOW - 100 + sent
            assert pipeline.handle(topic("d2"), valid("d2", sent, ts), NOW).accepted == 1
            outcome = pipeline.handle(hostile_topic, payload, NOW)
            assert "internal_error" not in outcome.rejected, payload[:200]
        batch = pipeline.drain()
        mine = [r for r in batch if r.device_id == "d2" and r.tenant == "bank"]
        assert [r.seq for r in mine] == list(range(1, sent + 1))
        assert all(math.isfinite(r.value) and math.isfinite(r.ts) for r in batch)
        assert all(r.seq is None or 0 <= r.seq < 2**63 for r in batch)

    check()
