"""A batch with rows the store cannot hold: those rows are dead-lettered, the rest stored."""

from pathlib import Path

import duckdb
import orjson
import pytest
from prometheus_client import CollectorRegistry

from devices.reading import Reading
from ingest.deadletter import DeadLetterStore
from ingest.isolate import write_isolating
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.stores import DuckDBStore, StoreUnavailableError
from ingest.subscriber import BrokerAddress, IngestRunner

NOW = 1_795_000_000.0


def readings(n: int, bad: set[int]) -> list[Reading]:
    return [
        Reading("bank", "d1", 1_795_000_000.0 + i, "weight_kg", float(i), 2**64 if i in bad else i)
        for i in range(n)
    ]


@pytest.mark.parametrize("bad", [set(), {0}, {7}, {0, 999}, {3, 4, 5, 500, 998}])
def test_only_the_rows_at_fault_are_refused(tmp_path: Path, bad: set[int]) -> None:
    store = DuckDBStore(tmp_path / "t.duckdb")
    refused: list[Reading] = []
    kept = write_isolating(store, readings(1000, bad), lambda r, exc: refused.append(r))
    assert kept == store.count() == 1000 - len(bad)
    assert sorted(int(r.value) for r in refused) == sorted(bad)
    stored = {ts for ts, _ in store.query("d1", "weight_kg", 0, 2e9)}
    assert len(stored) == 1000 - len(bad)
    store.close()


def test_a_store_in_trouble_is_not_taken_for_bad_data(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "t.duckdb")
    store.close()
    refused: list[Reading] = []
    with pytest.raises(StoreUnavailableError):
        write_isolating(store, readings(10, set()), lambda r, exc: refused.append(r))
    assert refused == []


async def test_the_writer_dead_letters_what_the_store_refuses_and_stores_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.duckdb"
    con = duckdb.connect(str(path))  # a store whose table refuses negative values
    con.execute(
        "CREATE TABLE readings (tenant VARCHAR, device_id VARCHAR, metric VARCHAR, "
        "ts DOUBLE, value DOUBLE CHECK (value >= 0), seq BIGINT)"
    )
    con.close()
    dead = DeadLetterStore(None)
    pipeline = IngestPipeline([("bank", "d1")], dead, IngestMetrics.create(CollectorRegistry()))
    store = DuckDBStore(path)
    runner = IngestRunner(pipeline, store, BrokerAddress("127.0.0.1", 1))
    for seq, value in enumerate([5.0, -1.0, 7.0, -2.0, 9.0], start=1):
        payload = orjson.dumps({"ts": NOW + seq, "seq": seq, "values": {"weight_kg": value}})
        pipeline.handle("rs/v1/bank/d1/telemetry", payload, NOW + 10)
    assert await runner.flush() == 5
    assert [v for _, v in store.query("d1", "weight_kg", 0, 2e9)] == [5.0, 7.0, 9.0]
    assert runner.readings_written == 3 and runner.write_failed is None
    refused = dead.recent("bank")
    assert [r["reason"] for r in refused] == ["store_rejected", "store_rejected"]
    assert all("Constraint" in r["detail"] for r in refused)
    assert registry_value(pipeline, "ingest_store_refused_readings_total") == 0
    store.close()


def registry_value(pipeline: IngestPipeline, name: str) -> float:
    for metric in pipeline.metrics.store_refused.collect():
        for sample in metric.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(name)
