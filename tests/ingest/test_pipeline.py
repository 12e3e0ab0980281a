import math
import time
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from devices.signing import sign
from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.pipeline import DeviceAuth, IngestPipeline
from ingest.sequence import WINDOW

NOW = 1_795_000_000.0


def make(tmp_path: Path) -> tuple[IngestPipeline, CollectorRegistry, Path]:
    registry = CollectorRegistry()
    dead = tmp_path / "dead.jsonl"
    pipeline = IngestPipeline(
        [("bank", "d1"), ("bank", "d2")], DeadLetterStore(dead), IngestMetrics.create(registry)
    )
    return pipeline, registry, dead


def good(device: str, seq: int) -> tuple[str, bytes]:
    payload = {"ts": NOW - 10 + seq, "seq": seq, "values": {"weight_kg": 1000.0 + seq}}
    return f"rs/v1/bank/{device}/telemetry", orjson.dumps(payload)


def rejected(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("ingest_rejected_total", {"reason": reason}) or 0.0


def test_bad_input_is_refused_counted_dead_lettered_and_others_flow(tmp_path: Path) -> None:
    pipeline, registry, dead = make(tmp_path)
    bad = [
        ("rs/v1/bank/d1/telemetry", b"{oops", "malformed"),
        (
            "rs/v1/bank/d1/telemetry",
            b'{"ts": 1795000000, "values": {"weight_kg": "x"}}',
            "bad_schema",
        ),
        ("rs/v1/bank/ghost/telemetry", good("ghost", 1)[1], "unknown_device"),
        ("rs/v1/other-bank/d1/telemetry", good("d1", 1)[1], "unknown_device"),
        (
            "rs/v1/bank/d1/telemetry",
            b'{"ts": 1795000000, "values": {"weight_kg": Infinity}}',
            "non_finite",
        ),
        (
            "rs/v1/bank/d1/telemetry",
            orjson.dumps({"ts": NOW + 86400, "values": {"weight_kg": 1.0}}),
            "future_timestamp",
        ),
        ("rs/v1/bank/d1/telemetry", b"[" + b"1," * 200_000 + b"1]", "payload_too_large"),
        ("garbage/topic", b"{}", "bad_topic"),
        (
            "rs/v1/bank/d1/telemetry",
            b'{"ts": 1795000000, "values": {"Weight KG": 1}}',
            "bad_metric",
        ),
    ]
    accepted = 0
    for i, (topic, payload, _reason) in enumerate(bad):
        for device in ("d1", "d2"):
            t, p = good(device, i + 1)
            accepted += pipeline.handle(t, p, NOW).accepted
        outcome = pipeline.handle(topic, payload, NOW)
        assert outcome.accepted == 0
    for _topic, _payload, reason in bad:
        assert rejected(registry, reason) >= 1, reason
    batch = pipeline.drain()
    assert len(batch) == accepted == 2 * len(bad)
    assert {r.device_id for r in batch} == {"d1", "d2"}
    assert all(math.isfinite(r.value) for r in batch)
    records = [orjson.loads(line) for line in dead.read_text().splitlines()]
    assert [r["reason"] for r in records] == [
        "malformed",
        "bad_schema",
        "unknown_device",
        "unknown_device",
        "non_finite",
        "future_timestamp",
        "payload_too_large",
        "bad_topic",
        "bad_metric",
    ]
    assert registry.get_sample_value("ingest_received_total") == 3 * len(bad)


def test_non_finite_value_drops_only_that_value(tmp_path: Path) -> None:
    pipeline, _, _ = make(tmp_path)
    payload = b'{"ts": 1795000000, "seq": 1, "values": {"weight_kg": NaN, "temperature_c": 4.5}}'
    outcome = pipeline.handle("rs/v1/bank/d1/telemetry", payload, NOW)
    assert outcome.accepted == 1 and outcome.rejected == ["non_finite"]
    (reading,) = pipeline.drain()
    assert reading.metric == "temperature_c" and reading.value == 4.5


def test_status_messages_are_recorded_not_stored(tmp_path: Path) -> None:
    pipeline, _, _ = make(tmp_path)
    pipeline.handle("rs/v1/bank/d1/status", b"online", time.time())
    assert pipeline.status[("bank", "d1")] == "online"
    assert pipeline.buffered == 0


def signed_table() -> dict[tuple[str, str], DeviceAuth]:
    return {
        ("bank", "d1"): DeviceAuth("s3cret", signature_required=True),
        ("bank", "d2"): DeviceAuth("other", signature_required=False),
    }


def test_signatures_required_per_tenant(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    pipeline = IngestPipeline(signed_table(), DeadLetterStore(None), IngestMetrics.create(registry))
    obj = {"ts": NOW, "seq": 1, "values": {"weight_kg": 5.5}}
    good_sig = {**obj, "sig": sign(obj, "s3cret")}
    assert pipeline.handle("rs/v1/bank/d1/telemetry", orjson.dumps(good_sig), NOW).accepted == 1
    forged = {**obj, "seq": 2, "sig": sign({**obj, "seq": 2}, "guess")}
    assert pipeline.handle("rs/v1/bank/d1/telemetry", orjson.dumps(forged), NOW).rejected == [
        "bad_signature"
    ]
    tampered = {**good_sig, "values": {"weight_kg": 9.9}, "seq": 3}
    assert pipeline.handle("rs/v1/bank/d1/telemetry", orjson.dumps(tampered), NOW).rejected == [
        "bad_signature"
    ]
    unsigned = {**obj, "seq": 4}
    assert pipeline.handle("rs/v1/bank/d1/telemetry", orjson.dumps(unsigned), NOW).rejected == [
        "missing_signature"
    ]
    assert pipeline.handle(
        "rs/v1/bank/d1/telemetry", b"m weight_kg=1 1795000000", NOW
    ).rejected == ["missing_signature"]
    # d2: signatures optional, but a present signature is still checked
    assert pipeline.handle("rs/v1/bank/d2/telemetry", orjson.dumps(unsigned), NOW).accepted == 1
    wrong = {**obj, "seq": 9, "sig": "00" * 32}
    assert pipeline.handle("rs/v1/bank/d2/telemetry", orjson.dumps(wrong), NOW).rejected == [
        "bad_signature"
    ]
    # integers stay integers in the canonical form: 1795000000 is not re-serialised as 1795000000.0
    int_ts = {"ts": 1795000000, "seq": 5, "values": {"weight_kg": 1}}
    signed_int = {**int_ts, "sig": sign(int_ts, "s3cret")}
    assert pipeline.handle("rs/v1/bank/d1/telemetry", orjson.dumps(signed_int), NOW).accepted == 1


def test_redelivery_is_dropped_and_counted_replay_refused_gaps_counted(tmp_path: Path) -> None:
    pipeline, registry, _ = make(tmp_path)
    topic = "rs/v1/bank/d1/telemetry"

    def message(seq: int) -> bytes:
        ts = NOW - 600 + seq * 0.1  # a redelivery arrives soon after its time
        return orjson.dumps({"ts": ts, "seq": seq, "values": {"weight_kg": 1.0}})

    last = WINDOW + 100
    for seq in range(1, last + 1):
        pipeline.handle(topic, message(seq), NOW)
    assert pipeline.handle(topic, message(last), NOW).duplicates == 1
    assert pipeline.handle(topic, message(5), NOW).rejected == ["replayed_seq"]
    pipeline.handle(topic, message(last + 10), NOW)
    assert len(pipeline.drain()) == last + 1
    assert registry.get_sample_value("ingest_duplicates_total") == 1
    assert registry.get_sample_value("ingest_seq_gaps_total") == 9
    assert rejected(registry, "replayed_seq") == 1


def test_line_protocol_payload_is_accepted(tmp_path: Path) -> None:
    pipeline, _, _ = make(tmp_path)
    outcome = pipeline.handle(
        "rs/v1/bank/d2/telemetry", b"scale weight_kg=1200.5,seq=7i 1794999990000000000", NOW
    )
    assert outcome.accepted == 1
    (reading,) = pipeline.drain()
    assert (reading.device_id, reading.metric, reading.value, reading.seq, reading.ts) == (
        "d2",
        "weight_kg",
        1200.5,
        7,
        1794999990.0,
    )


def test_doubtful_messages_become_integrity_signals_for_the_engine(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    pipeline = IngestPipeline(signed_table(), DeadLetterStore(None), IngestMetrics.create(registry))
    topic = "rs/v1/bank/d2/telemetry"

    def message(seq: int, ts: float) -> bytes:
        return orjson.dumps({"ts": ts, "seq": seq, "values": {"weight_kg": 1.0}})

    for seq in range(1, 101):
        pipeline.handle(topic, message(seq, NOW - 6000 + 60 * seq), NOW - 6000 + 60 * seq + 1)
    assert pipeline.drain_signals() == []
    # a redelivery of the latest message is harmless
    assert pipeline.handle(topic, message(100, NOW), NOW + 2).duplicates == 1
    # an hour-old message sent again: refused as a replay
    assert pipeline.handle(topic, message(40, NOW - 3600), NOW + 5).rejected == ["replayed_seq"]
    # a forger takes seq 101 first; the device's own 101 then conflicts with it
    assert pipeline.handle(topic, message(101, NOW + 30), NOW + 31).accepted == 1
    assert pipeline.handle(topic, message(101, NOW + 60), NOW + 61).accepted == 1
    pipeline.handle(topic, message(120, NOW + 120), NOW + 121)
    forged = {"ts": NOW, "seq": 5, "values": {"weight_kg": 1.0}, "sig": "00" * 32}
    pipeline.handle("rs/v1/bank/d1/telemetry", orjson.dumps(forged), NOW + 130)
    signals = pipeline.drain_signals()
    assert [(s.device_id, s.kind, s.count) for s in signals] == [
        ("d2", "replayed", 1),
        ("d2", "conflict", 1),
        ("d2", "gap", 18),
        ("d1", "bad_signature", 1),
    ]
    assert signals[0].ts == NOW - 3600 and signals[0].at == NOW + 5
    assert all(s.tenant == "bank" for s in signals)
    assert pipeline.drain_signals() == []
