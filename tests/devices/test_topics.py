import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import TopicError
from devices.topics import (
    RESERVED_DEVICE_IDS,
    DeviceTopic,
    format_topic,
    parse_topic,
    subscription,
)

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}\Z").filter(
    lambda i: i.casefold() not in RESERVED_DEVICE_IDS
)
prefixes = st.lists(st.from_regex(r"\A[a-z0-9]{1,6}\Z"), min_size=1, max_size=3).map("/".join)


@given(tenant=ids, device=ids, kind=st.sampled_from(["telemetry", "status"]), prefix=prefixes)
def test_format_then_parse_round_trips(tenant: str, device: str, kind: str, prefix: str) -> None:
    topic = format_topic(tenant, device, kind, prefix)  # type: ignore[arg-type]
    assert parse_topic(topic, prefix) == DeviceTopic(tenant, device, kind, prefix)  # type: ignore[arg-type]


def test_default_prefix() -> None:
    assert format_topic("bank", "d1") == "rs/v1/bank/d1/telemetry"
    assert subscription() == "rs/v1/+/+/telemetry"


@pytest.mark.parametrize(
    "topic",
    [
        "rs/v2/bank/d1/telemetry",
        "rs/v1/bank/d1",
        "rs/v1/bank/d1/telemetry/extra",
        "rs/v1/bank/d1/commands",
        "rs/v1/bank/+/telemetry",
        "rs/v1//d1/telemetry",
        "rs/v1/bank/d 1/telemetry",
    ],
)
def test_bad_topics_are_refused_with_reason(topic: str) -> None:
    with pytest.raises(TopicError) as info:
        parse_topic(topic)
    assert info.value.topic


def test_prefix_without_wildcards() -> None:
    with pytest.raises(TopicError):
        subscription("rs/+")
