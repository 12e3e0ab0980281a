import math
import time
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline

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
        ("rs/v1/bank/d1/telemetry", b'{"ts": 1, "values": {"weight_kg": "x"}}', "bad_schema"),
        ("rs/v1/bank/ghost/telemetry", good("ghost", 1)[1], "unknown_device"),
        ("rs/v1/other-bank/d1/telemetry", good("d1", 1)[1], "unknown_device"),
        ("rs/v1/bank/d1/telemetry", b'{"ts": 1, "values": {"weight_kg": Infinity}}', "non_finite"),
        (
            "rs/v1/bank/d1/telemetry",
            orjson.dumps({"ts": NOW + 86400, "values": {"weight_kg": 1.0}}),
            "future_timestamp",
        ),
        ("rs/v1/bank/d1/telemetry", b"[" + b"1," * 200_000 + b"1]", "payload_too_large"),
        ("garbage/topic", b"{}", "bad_topic"),
        ("rs/v1/bank/d1/telemetry", b'{"ts": 1, "values": {"Weight KG": 1}}', "bad_metric"),
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
