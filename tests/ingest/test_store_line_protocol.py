import math

from hypothesis import given
from hypothesis import strategies as st

from devices.reading import Reading
from ingest.stores.line_protocol import LineEncoder, micros


def test_one_message_is_one_point_with_seq_and_microseconds() -> None:
    ts = 1795671585.123456
    batch = [
        Reading("bank", "lc-1", ts, "weight_kg", 118250.0, 42),
        Reading("bank", "lc-1", ts, "door_open", 0.0, 42),
        Reading("bank", "lc-1", ts + 1, "weight_kg", 1e20, None),
    ]
    encoded = LineEncoder().encode(batch)
    assert encoded.lines == [
        "readings,device_id=lc-1,tenant=bank weight_kg=118250.0,door_open=0.0,seq=42i "
        "1795671585123456",
        "readings,device_id=lc-1,tenant=bank weight_kg=1e+20 1795671586123456",
    ]
    assert encoded.line_ends == [2, 3]
    assert encoded.refused == []


def test_a_repeated_metric_starts_a_new_point_and_static_tags_sort_in() -> None:
    batch = [
        Reading("b", "d", 10.0, "weight_kg", 1.0, 1),
        Reading("b", "d", 10.0, "weight_kg", 2.0, 1),
    ]
    encoded = LineEncoder({"db": "x"}).encode(batch)
    assert encoded.lines == [
        "readings,db=x,device_id=d,tenant=b weight_kg=1.0,seq=1i 10000000",
        "readings,db=x,device_id=d,tenant=b weight_kg=2.0,seq=1i 10000000",
    ]


def test_tags_and_field_keys_are_escaped() -> None:
    encoded = LineEncoder().encode([Reading("a bank", "d,1=x", 1.0, "odd key", 1.0, None)])
    assert encoded.lines == [r"readings,device_id=d\,1\=x,tenant=a\ bank odd\ key=1.0 1000000"]


def test_unwritable_readings_are_refused_one_by_one() -> None:
    good = Reading("bank", "d1", 1.0, "weight_kg", 1.0, 1)
    batch = [
        Reading("bank", "d1", 1.0, "weight_kg", math.nan, 1),
        Reading("bank", "d1", 1.0, "weight_kg", math.inf, 1),
        Reading("bank", "d1", 1.0, "seq", 3.0, 1),
        Reading("bank", "d1", 1.0, "_hidden", 3.0, 1),
        Reading("bank", "", 1.0, "weight_kg", 1.0, 1),
        Reading("bank", "bad\nid", 1.0, "weight_kg", 1.0, 1),
        good,
    ]
    encoded = LineEncoder().encode(batch)
    assert [reason for _, reason in encoded.refused] == [
        "non_finite",
        "non_finite",
        "reserved_metric",
        "reserved_metric",
        "bad_id",
        "bad_id",
    ]
    assert encoded.readings == [good]


def test_microseconds_round_trip_float_epochs() -> None:
    for ts in (1795671585.123, 1795671585.123456, 0.000001, 1000.0):
        assert micros(ts) / 1_000_000 == ts


readings = st.builds(
    Reading,
    st.sampled_from(["bank", "other"]),
    st.sampled_from(["d1", "d2"]),
    st.sampled_from([1.0, 2.0, 3.5]),
    st.sampled_from(["weight_kg", "temp_c", "door_open"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.one_of(st.none(), st.integers(0, 5)),
)


@given(st.lists(readings, max_size=60), st.integers(1, 7))
def test_chunks_partition_the_readings_in_order(batch: list[Reading], max_lines: int) -> None:
    encoded = LineEncoder().encode(batch)
    assert encoded.readings == batch
    chunks = list(encoded.chunks(max_lines))
    assert [r for _, rs in chunks for r in rs] == batch
    assert sum(body.count(b"\n") + 1 for body, _ in chunks) == len(encoded.lines)
    assert all(body.count(b"\n") < max_lines for body, _ in chunks)
    for body, rs in chunks:
        for line in body.decode().split("\n"):
            assert line.count(" ") == 2
        assert sum(line.count("=") - 2 for line in body.decode().split("\n")) == len(rs) + sum(
            1 for line in body.decode().split("\n") if ",seq=" in line
        )
