"""Sparkplug B through the ingest pipeline: births, aliases, seq, rebirth, deaths, bdSeq."""

from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from devices.sparkplug import DataType
from devices.sparkplug.sparkplug_b_pb2 import Payload
from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from tests.ingest.sparkplug_messages import (
    NOW,
    T0,
    dbirth,
    ddata,
    nbirth,
    ndeath,
    sparkplug_fleet,
    sparkplug_fleet_map,
    topic,
)

WEIGHT = {"weight_kg": (1, 118_000.0)}


def make(tmp_path: Path) -> tuple[IngestPipeline, CollectorRegistry, Path]:
    registry = CollectorRegistry()
    dead = tmp_path / "dead.jsonl"
    pipeline = IngestPipeline(
        device_table([sparkplug_fleet()]),
        DeadLetterStore(dead),
        IngestMetrics.create(registry),
        sparkplug=sparkplug_fleet_map(),
    )
    return pipeline, registry, dead


def rejected(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("ingest_rejected_total", {"reason": reason}) or 0.0


def born(pipeline: IngestPipeline) -> None:
    assert not pipeline.handle(topic("NBIRTH", device=None), nbirth(seq=0, bd_seq=7), NOW).rejected
    assert pipeline.handle(topic("DBIRTH"), dbirth(1, WEIGHT), NOW).accepted == 1


def test_birth_defines_aliases_and_data_by_alias_becomes_readings(tmp_path: Path) -> None:
    pipeline, _, _ = make(tmp_path)
    born(pipeline)
    outcome = pipeline.handle(topic("DDATA"), ddata(2, {1: 117_500.0}, ts=T0 + 1), NOW)
    assert (outcome.accepted, outcome.rejected) == (1, [])
    readings = pipeline.drain()
    assert [(r.tenant, r.device_id, r.ts, r.metric, r.value) for r in readings] == [
        ("bank-a", "b1-d1", T0, "weight_kg", 118_000.0),
        ("bank-a", "b1-d1", T0 + 1, "weight_kg", 117_500.0),
    ]
    assert pipeline.status[("bank-a", "b1-d1")] == "online"


def test_seq_wraps_from_255_to_0(tmp_path: Path) -> None:
    pipeline, registry, _ = make(tmp_path)
    pipeline.handle(topic("NBIRTH", device=None), nbirth(seq=250), NOW)
    pipeline.handle(topic("DBIRTH"), dbirth(251, WEIGHT), NOW)
    for i, seq in enumerate([252, 253, 254, 255, 0, 1, 2]):
        outcome = pipeline.handle(topic("DDATA"), ddata(seq, {1: 1.0 + i}, ts=T0 + i + 1), NOW)
        assert outcome.accepted == 1, (seq, outcome.rejected)
    assert rejected(registry, "sparkplug_seq_gap") == 0
    assert pipeline.drain_commands() == []


def test_seq_gap_refuses_data_and_requests_one_rebirth_until_the_new_birth(
    tmp_path: Path,
) -> None:
    pipeline, registry, dead = make(tmp_path)
    born(pipeline)
    assert pipeline.handle(topic("DDATA"), ddata(2, {1: 1.0}, ts=T0 + 100), NOW).accepted == 1
    gap = pipeline.handle(topic("DDATA"), ddata(5, {1: 2.0}, ts=T0 + 101), NOW)
    assert gap.rejected == ["sparkplug_seq_gap"]
    commands = pipeline.drain_commands()
    assert [t for t, _ in commands] == ["spBv1.0/bank-a/NCMD/b1-w1"]
    request = Payload.FromString(commands[0][1])
    assert [(m.name, m.boolean_value, m.datatype) for m in request.metrics] == [
        ("Node Control/Rebirth", True, DataType.BOOLEAN)
    ]
    # until the new birth, data is refused, and the request is not repeated within 5 s
    later = pipeline.handle(topic("DDATA"), ddata(6, {1: 3.0}, ts=T0 + 102), NOW + 1)
    assert later.rejected == ["sparkplug_no_birth"]
    assert pipeline.drain_commands() == []
    pipeline.handle(topic("DDATA"), ddata(7, {1: 3.0}, ts=T0 + 103), NOW + 6)
    assert len(pipeline.drain_commands()) == 1
    # the rebirth: a new session, aliases defined again, data flows
    pipeline.handle(topic("NBIRTH", device=None), nbirth(seq=0, bd_seq=8), NOW + 7)
    pipeline.handle(topic("DBIRTH"), dbirth(1, WEIGHT), NOW + 7)
    assert pipeline.handle(topic("DDATA"), ddata(2, {1: 4.0}, ts=T0 + 104), NOW + 7).accepted == 1
    assert rejected(registry, "sparkplug_seq_gap") == 1
    reasons = [orjson.loads(line)["reason"] for line in dead.read_bytes().splitlines()]
    assert reasons == ["sparkplug_seq_gap", "sparkplug_no_birth", "sparkplug_no_birth"]


def test_data_before_any_birth_asks_for_a_rebirth(tmp_path: Path) -> None:
    pipeline, registry, _ = make(tmp_path)
    assert pipeline.handle(topic("DDATA"), ddata(3, {1: 1.0}, ts=T0 + 105), NOW).rejected == [
        "sparkplug_no_birth"
    ]
    assert [t for t, _ in pipeline.drain_commands()] == ["spBv1.0/bank-a/NCMD/b1-w1"]
    # a device whose DBIRTH never came, in a live session
    pipeline.handle(topic("NBIRTH", device=None), nbirth(seq=0), NOW + 10)
    assert pipeline.handle(topic("DDATA"), ddata(1, {1: 1.0}, ts=T0 + 106), NOW + 10).rejected == [
        "sparkplug_no_birth"
    ]
    assert rejected(registry, "sparkplug_no_birth") == 2


def test_repeated_seq_is_a_duplicate(tmp_path: Path) -> None:
    pipeline, _, _ = make(tmp_path)
    born(pipeline)
    assert pipeline.handle(topic("DDATA"), ddata(2, {1: 1.0}, ts=T0 + 107), NOW).accepted == 1
    again = pipeline.handle(topic("DDATA"), ddata(2, {1: 1.0}, ts=T0 + 108), NOW)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 1, [])


def test_death_with_the_sessions_bdseq_takes_devices_offline(tmp_path: Path) -> None:
    pipeline, registry, _ = make(tmp_path)
    born(pipeline)
    stale = pipeline.handle(topic("NDEATH", device=None), ndeath(bd_seq=6), NOW)
    assert stale.rejected == ["sparkplug_stale_death"]
    assert pipeline.status[("bank-a", "b1-d1")] == "online"
    assert pipeline.drain_signals() == []
    assert not pipeline.handle(topic("NDEATH", device=None), ndeath(bd_seq=7), NOW).rejected
    assert pipeline.status[("bank-a", "b1-d1")] == "offline"
    signals = pipeline.drain_signals()
    assert [(s.tenant, s.device_id, s.kind) for s in signals] == [("bank-a", "b1-d1", "offline")]
    assert pipeline.handle(topic("DDATA"), ddata(2, {1: 1.0}, ts=T0 + 109), NOW).rejected == [
        "sparkplug_no_birth"
    ]
    assert rejected(registry, "sparkplug_stale_death") == 1


def test_device_death_takes_one_device_offline(tmp_path: Path) -> None:
    pipeline, _, _ = make(tmp_path)
    born(pipeline)
    death = Payload(timestamp=int(T0 * 1000), seq=2).SerializeToString()
    assert not pipeline.handle(topic("DDEATH"), death, NOW).rejected
    assert pipeline.status[("bank-a", "b1-d1")] == "offline"
    assert [s.kind for s in pipeline.drain_signals()] == ["offline"]
    assert pipeline.handle(topic("DDATA"), ddata(3, {1: 1.0}, ts=T0 + 110), NOW).rejected == [
        "sparkplug_no_birth"
    ]


def test_datatypes_timestamps_and_refused_metrics(tmp_path: Path) -> None:
    pipeline, registry, _ = make(tmp_path)
    born(pipeline)
    ms = int(T0 * 1000)
    p = Payload(timestamp=ms + 5000, seq=2)
    p.metrics.add(name="a_count", datatype=DataType.INT16, int_value=0xFFFE)  # -2
    p.metrics.add(name="b_count", datatype=DataType.INT64, long_value=(1 << 64) - 3)  # -3
    p.metrics.add(name="c_count", datatype=DataType.UINT32, int_value=4_000_000_000)
    p.metrics.add(name="d_kw", datatype=DataType.FLOAT, float_value=1.5, timestamp=ms + 1000)
    p.metrics.add(name="door_open", datatype=DataType.BOOLEAN, boolean_value=True)
    p.metrics.add(name="label", datatype=DataType.STRING, string_value="Bay 3")
    p.metrics.add(name="e_kw", datatype=DataType.DOUBLE, int_value=3)  # wrong value field
    p.metrics.add(alias=99, double_value=1.0)  # alias no birth defined
    p.metrics.add(name="f_kw", datatype=DataType.DOUBLE, double_value=float("nan"))
    outcome = pipeline.handle(topic("DDATA"), p.SerializeToString(), NOW)
    assert sorted(outcome.rejected) == ["bad_schema", "non_finite", "unknown_alias"]
    got = {(r.metric, r.ts, r.value) for r in pipeline.drain()} - {
        (
            "weight_kg",
            T0,
            118_000.0,
        )
    }
    assert got == {
        ("a_count", T0 + 5, -2.0),
        ("b_count", T0 + 5, -3.0),
        ("c_count", T0 + 5, 4_000_000_000.0),
        ("d_kw", T0 + 1, 1.5),
        ("door_open", T0 + 5, 1.0),
    }
    assert rejected(registry, "sparkplug_ignored_type") == 1


def test_fleet_file_renames_metrics_and_refuses_unmapped_ones(tmp_path: Path) -> None:
    fleet = sparkplug_fleet(
        nodes=[
            {
                "edge": "plc-7",
                "device": "Scale 1",
                "device_id": "b1-d1",
                "metrics": {"Scale/Net Weight": "weight_kg"},
            }
        ]
    )
    registry = CollectorRegistry()
    from devices.sparkplug import sparkplug_map

    pipeline = IngestPipeline(
        device_table([fleet]),
        DeadLetterStore(tmp_path / "dead.jsonl"),
        IngestMetrics.create(registry),
        sparkplug=sparkplug_map([fleet]),
    )
    node = "spBv1.0/bank-a/NBIRTH/plc-7"
    pipeline.handle(node, nbirth(), NOW)
    birth = dbirth(1, {"Scale/Net Weight": (4, 20_000.0), "Scale/Tare": (5, 300.0)})
    outcome = pipeline.handle("spBv1.0/bank-a/DBIRTH/plc-7/Scale 1", birth, NOW)
    assert outcome.rejected == ["unmapped_metric"]
    assert [(r.device_id, r.metric, r.value) for r in pipeline.drain()] == [
        ("b1-d1", "weight_kg", 20_000.0)
    ]
    other = pipeline.handle("spBv1.0/bank-a/DBIRTH/plc-7/Scale 2", dbirth(2, WEIGHT), NOW)
    assert other.rejected == ["unknown_device"]


@pytest.mark.parametrize(
    ("topic_", "reason"),
    [
        ("spBv1.0/bank-z/NBIRTH/gw", "unknown_device"),  # a group no lender registered
        ("spBv1.0/bank-a/NDATA/gw/extra", "bad_topic"),
        ("spBv1.0/bank-a/DDATA/gw", "bad_topic"),
        ("spBv1.0/bank-a/XDATA/gw", "bad_topic"),
    ],
)
def test_bad_topics_and_unknown_groups_are_refused(
    tmp_path: Path, topic_: str, reason: str
) -> None:
    pipeline, _, _ = make(tmp_path)
    assert pipeline.handle(topic_, nbirth(), NOW).rejected == [reason]


def test_commands_are_passed_over_without_refusal(tmp_path: Path) -> None:
    pipeline, _, _ = make(tmp_path)
    outcome = pipeline.handle("spBv1.0/bank-a/NCMD/b1-w1", b"\x00garbage", NOW)
    assert (outcome.accepted, outcome.rejected) == (0, [])
    assert pipeline.handle("spBv1.0/bank-a/DCMD/b1-w1/b1-d1", b"", NOW).rejected == []


def test_strangers_edge_nodes_and_devices_cost_no_memory(tmp_path: Path) -> None:
    pipeline, registry, _ = make(tmp_path)
    for i in range(1000):
        edge = f"stranger-{i}"
        assert pipeline.handle(f"spBv1.0/bank-a/NBIRTH/{edge}", nbirth(), NOW).rejected == [
            "unknown_device"
        ]
    born(pipeline)
    for i in range(1000):
        birth = dbirth((2 + i) % 256, {f"m{j}": (j, 1.0) for j in range(50)})
        outcome = pipeline.handle(topic("DBIRTH", device=f"ghost-{i}"), birth, NOW)
        assert outcome.rejected == ["unknown_device"]
    session = pipeline.sparkplug.sessions[("bank-a", "b1-w1")]
    assert list(pipeline.sparkplug.sessions) == [("bank-a", "b1-w1")]
    assert sorted(session.devices) == ["", "b1-d1"]
    assert rejected(registry, "unknown_device") == 2000
