"""The disk spool, and ingest through a store outage on real servers."""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devices.reading import Reading
from ingest import spool as spool_module
from ingest.spool import DiskSpool, SpoolingStore
from ingest.stores import influx_store, open_store
from tests.servers import InfluxDB, ServerProcess, VictoriaMetrics, running

NOW = float(int(time.time()) - 3600)
DEVICES = ("lc-1", "lc-2", "lc-3", "lc-4", "lc-5")


def batch_no(n: int, size: int = 50) -> list[Reading]:
    """Batch ``n`` of a stream: every device's readings with seq ``n * 10 .. n * 10 + 9``."""
    per_device = size // len(DEVICES)
    return [
        Reading("bank", d, NOW + n * 10 + i, "weight_kg", float(n * 1000 + i), n * 10 + i)
        for d in DEVICES
        for i in range(per_device)
    ]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(influx_store, "BACKOFF_S", 0.0)
    monkeypatch.setattr(spool_module, "RETRY_MIN_S", 0.05)
    monkeypatch.setattr(spool_module, "RETRY_MAX_S", 0.2)


# -- DiskSpool -----------------------------------------------------------------------------


def test_disk_spool_is_a_bounded_fifo_that_survives_reopening(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=10_000)
    assert spool.peek() is None
    for n in range(3):
        assert spool.append(batch_no(n, 10))
    assert (spool.batches, spool.readings) == (3, 30)
    size = spool.bytes
    assert size == sum(p.stat().st_size for p in tmp_path.glob("*.batch"))
    assert not spool.append(batch_no(9, 10_000))
    assert spool.bytes == size
    assert spool.peek() == batch_no(0, 10)
    spool.pop()
    reopened = DiskSpool(tmp_path, max_bytes=10_000)
    assert (reopened.batches, reopened.readings, reopened.bytes) == (2, 20, spool.bytes)
    assert reopened.append(batch_no(3, 10))
    assert list(reopened.batches_in_order()) == [batch_no(n, 10) for n in (1, 2, 3)]


def test_head_rewrite_cut_short_by_a_crash_keeps_the_shorter_file(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.append(batch_no(0, 10))
    spool.append(batch_no(1, 10))
    original = next(tmp_path.glob("0000000000000000-10.batch")).read_bytes()
    spool.replace_head(batch_no(0, 10)[4:])
    assert spool.peek() == batch_no(0, 10)[4:]
    (tmp_path / "0000000000000000-10.batch").write_bytes(original)  # the unlink never happened
    (tmp_path / "0000000000000001.tmp").write_bytes(b"half")
    (tmp_path / "notes.batch").write_text("not ours")
    reopened = DiskSpool(tmp_path)
    assert reopened.readings == 6 + 10
    assert reopened.peek() == batch_no(0, 10)[4:]
    assert not (tmp_path / "0000000000000000-10.batch").exists()
    assert not (tmp_path / "0000000000000001.tmp").exists()


def test_unreadable_spool_file_is_moved_aside_and_counted(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.append(batch_no(0, 10))
    spool.append(batch_no(1, 10))
    next(tmp_path.glob("0000000000000000-*.batch")).write_bytes(b"\xc1garbage")
    assert spool.peek() == batch_no(1, 10)
    assert spool.corrupt == 1
    assert len(list(tmp_path.glob("*.corrupt"))) == 1


# -- SpoolingStore -------------------------------------------------------------------------


def test_a_healthy_backend_never_touches_the_disk(tmp_path: Path) -> None:
    store = SpoolingStore(open_store(f"duckdb://{tmp_path}/t.duckdb"), tmp_path / "spool")
    assert store.write(batch_no(0)) == 50
    assert store.write([]) == 0
    assert (store.spooled_batches, store.spool_bytes, store.count()) == (0, 0, 50)
    assert list((tmp_path / "spool").glob("*.batch")) == []
    assert store.seq_high_water()[("bank", "lc-1")] == (9, NOW + 9)
    store.close()


def _influx(tmp_path: Path) -> tuple[ServerProcess, Callable[[], str], Callable[[], None]]:
    server = InfluxDB(tmp_path)
    return server, lambda: server.create_database("outage"), lambda: None


def _victoria(tmp_path: Path) -> tuple[ServerProcess, Callable[[], str], Callable[[], None]]:
    server = VictoriaMetrics(tmp_path, dedup=False)  # a duplicate would show up
    return server, lambda: server.url("outage"), server.force_flush


@pytest.fixture(params=[_influx, _victoria], ids=["influxdb-1.6", "victoria-metrics"])
def outage_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServerProcess, str, Callable[[], None]]]:
    server, make_url, settle = request.param(tmp_path / "server")
    with running(server):
        yield server, make_url(), settle


def stored_once(store: SpoolingStore, batches: range) -> None:
    for device in DEVICES:
        got = store.query(device, "weight_kg", NOW - 1, NOW + 10_000)
        want = sorted(
            (r.ts, r.value) for n in batches for r in batch_no(n) if r.device_id == device
        )
        assert got == want, device


@pytest.mark.influx
def test_server_stopped_mid_stream_loses_nothing_and_stores_each_reading_once(
    outage_server: tuple[ServerProcess, str, Callable[[], None]], tmp_path: Path
) -> None:
    server, url, settle = outage_server
    store = SpoolingStore(open_store(url), tmp_path / "spool")
    for n in range(8):
        assert store.write(batch_no(n)) == 50
    assert store.spooled_batches == 0
    server.stop()
    for n in range(8, 16):
        assert store.write(batch_no(n)) == 50
        time.sleep(0.02)
    assert not store.backend_up
    assert store.spooled_batches == 8
    assert store.spooled_readings == 400
    assert store.spool_bytes > 0
    server.start()
    for n in range(16, 20):
        assert store.write(batch_no(n)) == 50
    store.drain(max_seconds=None, force=True)
    assert (store.spooled_batches, store.spool_bytes, store.refused_readings) == (0, 0, 0)
    assert store.backend_up
    assert store.drained_readings >= 400
    settle()
    assert store.count() == 1000
    stored_once(store, range(20))
    store.close()


@pytest.mark.influx
def test_writer_thread_keeps_going_while_influxdb_restarts(tmp_path: Path) -> None:
    """Writes race the shutdown here; InfluxDB's overwrite absorbs an ambiguous re-send."""
    server = InfluxDB(tmp_path / "influx")
    with running(server):
        store = SpoolingStore(open_store(server.create_database("race")), tmp_path / "spool")
        kept: list[int] = []

        def writer() -> None:
            for n in range(60):
                kept.append(store.write(batch_no(n)))
                store.drain()
                time.sleep(0.01)

        thread = threading.Thread(target=writer)
        thread.start()
        while len(kept) < 10:
            time.sleep(0.005)
        server.stop()
        while len(kept) < 30:
            time.sleep(0.005)
        server.start()
        thread.join(30)
        assert kept == [50] * 60
        assert store.drained_readings > 0
        store.drain(max_seconds=None, force=True)
        assert store.spooled_batches == 0
        assert store.count() == 3000
        stored_once(store, range(60))
        store.close()


@pytest.mark.influx
def test_full_spool_refuses_new_batches_with_a_count(tmp_path: Path) -> None:
    server = VictoriaMetrics(tmp_path / "vm", dedup=False)
    with running(server):
        one_batch = len(spool_module._encode(batch_no(0)))
        store = SpoolingStore(
            open_store(server.url("full")), tmp_path / "spool", max_bytes=3 * one_batch + 10
        )
        server.stop()
        kept = [store.write(batch_no(n)) for n in range(6)]
        assert kept == [50, 50, 50, 0, 0, 0]
        assert (store.refused_batches, store.refused_readings) == (3, 150)
        assert store.spool_bytes <= 3 * one_batch + 10
        server.start()
        assert store.drain(max_seconds=None, force=True) == 150
        server.force_flush()
        assert store.count() == 150
        stored_once(store, range(3))
        store.close()


@pytest.mark.influx
def test_spool_outlives_the_process_and_drains_on_the_next_start(tmp_path: Path) -> None:
    server = InfluxDB(tmp_path / "influx")
    with running(server):
        url = server.create_database("restart")
        server.stop()
        first = SpoolingStore(open_store(url), tmp_path / "spool")
        for n in range(3):
            first.write(batch_no(n))
        first.close()
        server.start()
        second = SpoolingStore(open_store(url), tmp_path / "spool")
        assert second.spooled_readings == 150
        assert second.seq_high_water()[("bank", "lc-2")] == (29, NOW + 29)
        assert second.drain(max_seconds=None) == 150
        assert second.count() == 150
        second.close()


@pytest.mark.influx
def test_rejected_batch_is_kept_aside_and_not_retried(influxdb: InfluxDB, tmp_path: Path) -> None:
    url = influxdb.create_database("rejects")
    httpx.post(
        f"{influxdb.base_url}/write",
        params={"db": "rejects", "precision": "s"},
        content=f'readings,device_id=x,tenant=bank label_kg="text" {int(NOW)}',
    ).raise_for_status()
    store = SpoolingStore(open_store(url), tmp_path / "spool")
    bad = [Reading("bank", "d1", NOW, "label_kg", 1.0, 1)]
    assert store.write(bad) == 0
    assert store.rejected_readings == 1
    assert store.spooled_batches == 0
    assert store.backend_up
    assert len(list((tmp_path / "spool" / "rejected").glob("*.batch"))) == 1
    assert store.write(batch_no(0)) == 50
    store.close()
