"""One contract, every store backend: DuckDB, InfluxDB 1.6 and VictoriaMetrics (real servers).

Event times are a few hours old: VictoriaMetrics drops samples older than its retention
(one month by default), and keeps milliseconds, so times here have at most three decimals.
"""

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devices.reading import Reading
from ingest.stores import TelemetryStore, open_store
from ingest.stores.base import SequencedStore
from tests.servers import InfluxDB, VictoriaMetrics

BASE = float((int(time.time()) // 3600) * 3600 - 3 * 3600)
_names = itertools.count()


@dataclass
class Backend:
    """How to open a fresh, empty store of one backend, and its documented differences."""

    name: str
    url: str
    settle: Callable[[], None]
    rewrite_overwrites: bool

    def open(self) -> TelemetryStore:
        return open_store(self.url)


def _nothing() -> None:
    return None


@pytest.fixture(
    params=[
        "duckdb",
        pytest.param("influxdb-1.6", marks=pytest.mark.influx),
        pytest.param("victoria-metrics", marks=pytest.mark.influx),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    name = f"contract{next(_names)}"
    if request.param == "duckdb":
        return Backend("duckdb", f"duckdb://{tmp_path}/t.duckdb", _nothing, False)
    if request.param == "influxdb-1.6":
        influx: InfluxDB = request.getfixturevalue("influxdb")
        return Backend(request.param, influx.create_database(name), _nothing, True)
    vm: VictoriaMetrics = request.getfixturevalue("victoria_metrics")
    return Backend(request.param, vm.url(name), vm.force_flush, True)


@pytest.fixture
def store(backend: Backend) -> Iterator[TelemetryStore]:
    opened = backend.open()
    yield opened
    opened.close()


def weights(device: str, n: int, step: float = 10.0) -> list[Reading]:
    return [Reading("bank", device, BASE + i * step, "weight_kg", 1000.0 + i, i) for i in range(n)]


def test_raw_query_is_ordered_half_open_and_exact(backend: Backend, store: TelemetryStore) -> None:
    batch = weights("d1", 60)
    batch += [Reading("bank", "d1", BASE + 0.125, "temp_c", -3.5, None)]
    batch += [Reading("bank", "d2", BASE, "weight_kg", 5.0, 1)]
    assert store.write(list(reversed(batch))) == 62
    backend.settle()
    assert store.count() == 62
    raw = store.query("d1", "weight_kg", BASE, BASE + 100)
    assert raw == [(BASE + i * 10, 1000.0 + i) for i in range(10)]
    assert store.query("d1", "temp_c", BASE, BASE + 1) == [(BASE + 0.125, -3.5)]
    assert store.query("d1", "weight_kg", BASE + 5, BASE + 10) == []
    assert store.query("ghost", "weight_kg", BASE, BASE + 1000) == []
    assert store.query("d1", "no_such_kg", BASE, BASE + 1000) == []


def test_downsampled_query_averages_epoch_aligned_buckets(
    backend: Backend, store: TelemetryStore
) -> None:
    store.write(weights("d1", 60))
    backend.settle()
    buckets = store.query("d1", "weight_kg", BASE + 30, BASE + 600, every=60)
    assert buckets[0] == (BASE, 1004.0)
    assert buckets[1] == (BASE + 60, 1008.5)
    assert len(buckets) == 10
    assert all(isinstance(ts, float) for ts, _ in buckets)
    hourly = store.query("d1", "weight_kg", BASE, BASE + 3600, every=3600)
    assert hourly == [(BASE, 1029.5)]
    with pytest.raises(ValueError, match="every"):
        store.query("d1", "weight_kg", BASE, BASE + 600, every=0)


def test_latest_is_newest_per_metric_of_that_device(
    backend: Backend, store: TelemetryStore
) -> None:
    store.write(weights("d1", 30))
    store.write(
        [
            Reading("bank", "d1", BASE + 5, "door_open", 1.0, 100),
            Reading("bank", "d1", BASE + 7, "door_open", 0.0, 101),
            Reading("bank", "d2", BASE + 9999, "weight_kg", 1.0, 1),
        ]
    )
    backend.settle()
    assert store.latest("d1") == {
        "weight_kg": (BASE + 290, 1029.0),
        "door_open": (BASE + 7, 0.0),
    }
    assert store.latest("ghost") == {}


def test_one_message_with_several_metrics_is_stored_whole(
    backend: Backend, store: TelemetryStore
) -> None:
    ts = BASE + 42.5
    message = [
        Reading("bank", "t1", ts, "lat_deg", 31.2304, 7),
        Reading("bank", "t1", ts, "lon_deg", 121.4737, 7),
        Reading("bank", "t1", ts, "speed_kmh", 0.0, 7),
    ]
    assert store.write(message) == 3
    backend.settle()
    assert store.count() == 3
    assert store.latest("t1") == {
        "lat_deg": (ts, 31.2304),
        "lon_deg": (ts, 121.4737),
        "speed_kmh": (ts, 0.0),
    }


def test_rewriting_the_same_readings(backend: Backend, store: TelemetryStore) -> None:
    """InfluxDB and VictoriaMetrics (1 ms dedup) overwrite the same point; DuckDB appends."""
    batch = weights("d1", 20)
    store.write(batch)
    store.write(batch)
    backend.settle()
    copies = 1 if backend.rewrite_overwrites else 2
    assert store.count() == 20 * copies
    raw = store.query("d1", "weight_kg", BASE, BASE + 30)
    assert raw == sorted([(BASE + i * 10, 1000.0 + i) for i in range(3)] * copies)


def test_large_batch_in_several_requests(backend: Backend, store: TelemetryStore) -> None:
    batch = [
        Reading("bank", f"dev-{d:03d}", BASE + i, metric, float(i * d), i)
        for d in range(300)
        for i in range(20)
        for metric in ("weight_kg", "temp_c")
    ]
    assert store.write(batch) == 12_000
    backend.settle()
    assert store.count() == 12_000
    assert store.latest("dev-299") == {
        "weight_kg": (BASE + 19, 19.0 * 299),
        "temp_c": (BASE + 19, 19.0 * 299),
    }


def test_seq_high_water_marks(backend: Backend, store: TelemetryStore) -> None:
    store.write([*weights("d1", 30), Reading("bank", "d2", BASE + 1, "weight_kg", 1.0, None)])
    store.write([Reading("bank", "d3", BASE + 50, "weight_kg", 1.0, 7)])
    backend.settle()
    assert isinstance(store, SequencedStore)
    assert store.seq_high_water() == {
        ("bank", "d1"): (29, BASE + 290),
        ("bank", "d3"): (7, BASE + 50),
    }


def test_two_lenders_may_use_the_same_device_id(backend: Backend, store: TelemetryStore) -> None:
    store.write(weights("d1", 10))
    store.write([Reading("bank-b", "d1", BASE + 5, "weight_kg", -1.0, 3)])
    backend.settle()
    assert store.query("d1", "weight_kg", BASE, BASE + 100, tenant="bank-b") == [(BASE + 5, -1.0)]
    mine = store.query("d1", "weight_kg", BASE, BASE + 100, tenant="bank")
    assert len(mine) == 10 and (BASE + 5, -1.0) not in mine
    assert store.latest("d1", tenant="bank-b") == {"weight_kg": (BASE + 5, -1.0)}
    assert store.latest("d1", tenant="bank")["weight_kg"] == (BASE + 90, 1009.0)
    assert store.latest("d1", tenant="nobody") == {}
    assert isinstance(store, SequencedStore)
    marks = store.seq_high_water()
    assert marks[("bank", "d1")] == (9, BASE + 90) and marks[("bank-b", "d1")] == (3, BASE + 5)
