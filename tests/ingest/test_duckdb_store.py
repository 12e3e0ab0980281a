from pathlib import Path

import pytest

from devices.reading import Reading
from ingest.errors import StoreURLError
from ingest.stores import open_store


def test_write_query_latest_downsample(tmp_path: Path) -> None:
    store = open_store(f"duckdb://{tmp_path}/t.duckdb")
    batch = [Reading("bank", "d1", 1000.0 + i * 10, "weight_kg", float(i), i) for i in range(60)]
    batch += [Reading("bank", "d2", 1000.0, "weight_kg", 5.0, None)]
    assert store.write(batch) == 61
    assert store.count() == 61
    raw = store.query("d1", "weight_kg", 1000.0, 1100.0)
    assert raw == [(1000.0 + i * 10, float(i)) for i in range(10)]
    buckets = store.query("d1", "weight_kg", 1000.0, 1600.0, every=60)
    assert buckets[0] == (960.0, 0.5) and buckets[1] == (1020.0, 4.5)
    assert store.latest("d1") == {"weight_kg": (1590.0, 59.0)}
    store.close()
    reopened = open_store(f"duckdb://{tmp_path}/t.duckdb")
    assert reopened.count() == 61
    reopened.close()


@pytest.mark.parametrize("url", ["duckdb://", "sqlite:///x.db", "influxdb://h:8086"])
def test_bad_store_urls_are_explained(url: str) -> None:
    with pytest.raises(StoreURLError, match="store URL"):
        open_store(url)


async def test_retention_drops_old_readings_only(tmp_path: Path) -> None:
    import time

    from prometheus_client import CollectorRegistry

    from ingest.deadletter import DeadLetterStore
    from ingest.metrics import IngestMetrics
    from ingest.pipeline import IngestPipeline
    from ingest.subscriber import BrokerAddress, IngestRunner

    store = open_store(f"duckdb://{tmp_path}/t.duckdb")
    now = time.time()
    old = [Reading("bank", "d1", now - 100 * 86400 + i, "weight_kg", 1.0, i) for i in range(5)]
    fresh = [Reading("bank", "d1", now - 60 + i, "weight_kg", 2.0, 100 + i) for i in range(3)]
    store.write(old + fresh)
    pipeline = IngestPipeline([], DeadLetterStore(None), IngestMetrics.create(CollectorRegistry()))
    runner = IngestRunner(pipeline, store, BrokerAddress("127.0.0.1", 1), retention_s=90 * 86400)
    await runner._apply_retention()
    assert store.count() == 3
    assert runner.readings_expired == 5
    assert {v for _, v in store.query("d1", "weight_kg", 0, now + 1)} == {2.0}
    store.close()
