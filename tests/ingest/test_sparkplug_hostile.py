"""Hostile Sparkplug B payloads: each refused with a named reason (never ``internal_error``),
and the readings of the other edge nodes and of JSON devices flow on, exactly once."""

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from devices.sparkplug import DataType, sparkplug_map
from devices.sparkplug.sparkplug_b_pb2 import Payload
from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.service import IngestSettings, run_ingest
from ingest.sparkplug import MAX_METRICS
from ingest.subscriber import IngestRunner, MqttOptions
from simulator.publisher import parse_broker_url
from tests.ingest.sparkplug_messages import (
    NOW,
    T0,
    dbirth,
    ddata,
    nbirth,
    sparkplug_fleet,
    sparkplug_fleet_map,
    topic,
)
from tests.ingest.test_zero_loss import wait_until
from tests.paho_publisher import publish_all
from tests.servers import Mosquitto

HOSTILE_NODE = ("b2-w1", "b2-d1")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, body: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(body)) + body


def nested_templates(depth: int) -> bytes:
    """A metric whose template holds a metric whose template holds … ``depth`` deep."""
    metric = b""
    for _ in range(depth):
        metric = _field(18, _field(2, metric))  # Metric.template_value → Template.metrics
    return _field(2, metric) + b"\x18\x02"  # Payload.metrics, then seq 2


def many_metrics(n: int) -> bytes:
    return _field(2, b"") * n + b"\x18\x02"


def typed(seq: int, **fields: object) -> bytes:
    p = Payload(timestamp=int(T0 * 1000), seq=seq)
    p.metrics.add(**fields)  # type: ignore[arg-type]
    return p.SerializeToString()


HOSTILE: list[tuple[str, bytes, str]] = [
    ("truncated", ddata(2, {1: 5.0})[:-5], "malformed"),
    ("not protobuf", b"\xff" * 40, "malformed"),
    ("nested templates", nested_templates(500), "malformed"),
    ("huge", b"\x00" * (300 * 1024), "payload_too_large"),
    ("a million metrics", many_metrics(1_000_000), "payload_too_large"),
    ("too many metrics", many_metrics(MAX_METRICS + 1), "too_many_metrics"),
    ("seq out of range", ddata(300, {1: 5.0}), "bad_schema"),
    (
        "string in a double",
        typed(2, name="weight_kg", datatype=DataType.DOUBLE, string_value="heavy"),
        "bad_schema",
    ),
    ("unknown alias", typed(2, alias=4242, double_value=1.0), "unknown_alias"),
    ("no name, no alias", typed(2, double_value=1.0), "unknown_alias"),
    (
        "non-finite float",
        typed(2, name="weight_kg", datatype=DataType.FLOAT, float_value=float("inf")),
        "non_finite",
    ),
    (
        "no timestamp",
        Payload(
            seq=2, metrics=[Payload.Metric(name="weight_kg", datatype=10, double_value=1.0)]
        ).SerializeToString(),
        "bad_timestamp",
    ),
]


def make() -> IngestPipeline:
    return IngestPipeline(
        device_table([sparkplug_fleet()]),
        DeadLetterStore(None),
        IngestMetrics.create(CollectorRegistry()),
        sparkplug=sparkplug_fleet_map(),
    )


def birth_both(pipeline: IngestPipeline) -> None:
    for edge, device in (("b1-w1", "b1-d1"), HOSTILE_NODE):
        pipeline.handle(topic("NBIRTH", edge, None), nbirth(), NOW)
        pipeline.handle(topic("DBIRTH", edge, device), dbirth(1, {"weight_kg": (1, 9.0)}), NOW)
    pipeline.drain()


def json_reading(ts: float, seq: int) -> tuple[str, bytes]:
    payload = {"ts": ts, "seq": seq, "values": {"weight_kg": 1.0}}
    return "rs/v1/bank-a/b1-d2/telemetry", orjson.dumps(payload)


@pytest.mark.parametrize(("name", "payload", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_payload_is_refused_with_its_reason_and_others_flow(
    name: str, payload: bytes, reason: str
) -> None:
    pipeline = make()
    birth_both(pipeline)
    good = topic("DDATA")
    assert pipeline.handle(good, ddata(2, {1: 1.0}, ts=T0 + 1), NOW).accepted == 1
    outcome = pipeline.handle(topic("DDATA", *HOSTILE_NODE), payload, NOW)
    assert outcome.accepted == 0
    assert set(outcome.rejected) == {reason}, name
    assert pipeline.handle(good, ddata(3, {1: 2.0}, ts=T0 + 2), NOW).accepted == 1
    assert pipeline.handle(*json_reading(T0 + 3, 1), NOW).accepted == 1
    assert [(r.device_id, r.value) for r in pipeline.drain()] == [
        ("b1-d1", 1.0),
        ("b1-d1", 2.0),
        ("b1-d2", 1.0),
    ]


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=300),
    kind=st.sampled_from(["NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH"]),
)
def test_random_bytes_on_any_message_type_never_fault(payload: bytes, kind: str) -> None:
    pipeline = make()
    birth_both(pipeline)
    device = HOSTILE_NODE[1] if kind.startswith("D") else None
    outcome = pipeline.handle(topic(kind, HOSTILE_NODE[0], device), payload, NOW)
    assert "internal_error" not in outcome.rejected
    assert pipeline.handle(topic("DDATA"), ddata(2, {1: 1.0}, ts=T0 + 1), NOW).accepted == 1


@settings(max_examples=60, deadline=None)
@given(
    metrics=st.lists(
        st.fixed_dictionaries(
            {
                "alias": st.integers(0, 2**64 - 1),
                "datatype": st.integers(0, 2**32 - 1),
                "timestamp": st.integers(0, 2**64 - 1),
            },
            optional={
                "name": st.text(max_size=10),
                "int_value": st.integers(0, 2**32 - 1),
                "long_value": st.integers(0, 2**64 - 1),
                "double_value": st.floats(),
                "boolean_value": st.booleans(),
                "string_value": st.text(max_size=5),
                "is_null": st.booleans(),
            },
        ),
        max_size=8,
    ),
    seq=st.integers(0, 255),
    birth=st.booleans(),
)
def test_well_formed_but_wrong_metrics_never_fault(
    metrics: list[dict[str, object]], seq: int, birth: bool
) -> None:
    pipeline = make()
    birth_both(pipeline)
    p = Payload(timestamp=int(T0 * 1000), seq=seq)
    for fields in metrics:
        p.metrics.add(**fields)  # type: ignore[arg-type]
    kind = "DBIRTH" if birth else "DDATA"
    outcome = pipeline.handle(topic(kind, *HOSTILE_NODE), p.SerializeToString(), NOW)
    assert "internal_error" not in outcome.rejected
    assert pipeline.handle(topic("DDATA"), ddata(2, {1: 1.0}, ts=T0 + 1), NOW).accepted == 1


@pytest.mark.broker
async def test_hostile_sparkplug_through_mosquitto_never_stops_ingest(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    fleet = sparkplug_fleet()
    dead = tmp_path / "dead.jsonl"
    stop = asyncio.Event()
    runners: list[IngestRunner] = []
    task = asyncio.create_task(
        run_ingest(
            IngestSettings(
                broker=mosquitto.url,
                store=f"duckdb:///{tmp_path}/t.duckdb",
                spool_dir=tmp_path / "spool",
                deadletter=dead,
                mqtt=MqttOptions(client_id=f"hostile-spb-{time.time_ns()}"),
            ),
            device_table([fleet]),
            stop,
            on_ready=runners.append,
            sparkplug=sparkplug_map([fleet]),
        )
    )
    await wait_until(lambda: bool(runners) and runners[0].connected.is_set(), "connected")
    start = time.time() - 3600
    edge, device = HOSTILE_NODE
    messages = []
    for i, (_, payload, _) in enumerate(HOSTILE, start=1):
        messages.append(json_reading(start + i, i))
        # each hostile message comes as seq 2 of a new session of the hostile edge node
        messages.append((topic("NBIRTH", edge, None), nbirth(ts=start)))
        messages.append(
            (topic("DBIRTH", edge, device), dbirth(1, {"weight_kg": (1, 9.0)}, ts=start))
        )
        messages.append((topic("DDATA", edge, device), payload))
    messages.append(json_reading(start + len(HOSTILE) + 1, len(HOSTILE) + 1))
    _, port = parse_broker_url(mosquitto.url)
    await asyncio.to_thread(publish_all, port, messages, 400.0, f"hostile-pub-{time.time_ns()}")
    expected = 1 + len(HOSTILE) + 1  # the birth's reading and every JSON reading
    await wait_until(lambda: runners[0].readings_written >= expected, "valid readings stored")
    assert runners[0].loop_alive
    stop.set()
    runner = await task
    assert runner.readings_written == expected
    records = [orjson.loads(line) for line in dead.read_text().splitlines()]
    reasons = sorted(r["reason"] for r in records if r["topic"].startswith("spBv1.0/"))
    assert reasons == sorted(reason for _, _, reason in HOSTILE)
