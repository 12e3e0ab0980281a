"""Two lenders may use the same device id: their sequence counters never meet."""

import orjson
from prometheus_client import CollectorRegistry

from ingest.deadletter import DeadLetterStore
from ingest.device_table import seed_sequences
from ingest.metrics import IngestMetrics
from ingest.pipeline import DeviceAuth, IngestPipeline
from ingest.stores import DuckDBStore

NOW = 1_795_000_000.0
DEVICES = {("bank-a", "d1"): DeviceAuth(), ("bank-b", "d1"): DeviceAuth()}


def pipeline() -> IngestPipeline:
    return IngestPipeline(DEVICES, DeadLetterStore(None), IngestMetrics.create(CollectorRegistry()))


def message(seq: int) -> bytes:
    return orjson.dumps({"ts": NOW - 100 + seq, "seq": seq, "values": {"weight_kg": 1.0 * seq}})


def test_the_same_seq_from_two_lenders_devices_of_one_id_is_no_duplicate() -> None:
    ingest = pipeline()
    for seq in range(1, 6):
        for tenant in ("bank-a", "bank-b"):
            outcome = ingest.handle(f"rs/v1/{tenant}/d1/telemetry", message(seq), NOW)
            assert (outcome.accepted, outcome.duplicates) == (1, 0)
    assert ingest.handle("rs/v1/bank-b/d1/telemetry", message(5), NOW).duplicates == 1
    batch = ingest.drain()
    assert sorted((r.tenant, r.seq) for r in batch) == sorted(
        (t, s) for t in ("bank-a", "bank-b") for s in range(1, 6)
    )


def test_after_a_restart_each_lender_resumes_from_its_own_high_water_mark() -> None:
    store = DuckDBStore(":memory:")
    first = pipeline()
    for seq in range(1, 10):
        first.handle("rs/v1/bank-a/d1/telemetry", message(seq), NOW)
    for seq in range(1, 4):
        first.handle("rs/v1/bank-b/d1/telemetry", message(seq), NOW)
    store.write(first.drain())
    second = pipeline()
    assert seed_sequences(second, store) == 2
    assert second.handle("rs/v1/bank-b/d1/telemetry", message(4), NOW).accepted == 1
    assert second.handle("rs/v1/bank-a/d1/telemetry", message(4), NOW).duplicates == 1
    assert second.handle("rs/v1/bank-a/d1/telemetry", message(10), NOW).accepted == 1
