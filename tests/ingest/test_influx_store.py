"""The line-protocol store: URLs, and how it fails against real servers."""

import logging
import time
from collections.abc import Callable

import httpx
import pytest

from devices.reading import Reading
from ingest.errors import StoreURLError
from ingest.stores import StoreRejectedError, StoreUnavailableError, influx_store, open_store
from ingest.stores.influx_store import InfluxStore
from ingest.stores.influx_url import TOKEN_ENV, parse_influx_url
from tests.servers import InfluxDB, VictoriaMetrics, free_port

NOW = float(int(time.time()))


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("influxdb://h:8086", {}, r"needs \?org=ORG&bucket=BUCKET"),
        ("influxdb://h:8086?version=1", {}, r"needs \?bucket=DB\[/RP\]&version=1"),
        ("influxdb://h?bucket=b", {TOKEN_ENV: "t"}, r"InfluxDB 2.x needs \?org=ORG"),
        ("influxdb://h?bucket=b&org=o", {}, f"token in the environment variable {TOKEN_ENV}"),
        ("influxdb://h?bucket=db&version=1", {TOKEN_ENV: "nocolon"}, "must be user:password"),
        ("influxdb://h?bucket=db&version=3", {}, "version='3' must be 1 or 2"),
        ("influxdb://h?bucket=db&version=1&org=o", {}, "unknown option 'org'"),
        ("influxdb://h?bucket=/rp&version=1", {}, "has no database name"),
        ("influxdb://u:p@h?bucket=db&version=1", {}, "credentials do not belong in the URL"),
        ("influxdb://h:99999?bucket=db&version=1", {}, "port is not a number"),
        ("influxdb://h/db?bucket=db&version=1", {}, "unexpected path"),
        ("influxdb://h?bucket=db&version=1&timeout=soon", {}, "timeout='soon' is not a number"),
        ("influxdb://h?bucket=db&version=1&batch=0", {}, "batch='0' must be at least 1"),
        ("victoriametrics://h?bucket=x", {}, "unknown option 'bucket'"),
        ("victoriametrics://?db=x", {}, "no host"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(StoreURLError, match=message) as caught:
        parse_influx_url(url, env)
    assert url in str(caught.value)


def test_url_options_and_defaults() -> None:
    v1 = parse_influx_url("influxdb://db.example?bucket=telemetry/week&version=1&tls=1", {})
    assert (v1.base_url, v1.version, v1.database, v1.retention_policy) == (
        "https://db.example:8086",
        1,
        "telemetry",
        "week",
    )
    assert (v1.token, v1.timeout_s, v1.retries, v1.batch_lines) == (None, 10.0, 2, 5000)
    v2 = parse_influx_url("influxdb://h:9999?org=o&bucket=b&batch=100", {TOKEN_ENV: "secret"})
    assert (v2.version, v2.org, v2.bucket, v2.token, v2.batch_lines) == (2, "o", "b", "secret", 100)
    assert "secret" not in v2.name
    vm = parse_influx_url("victoriametrics://vm?db=bank&retries=0", {TOKEN_ENV: "ignored"})
    assert (vm.base_url, vm.db_label, vm.retries, vm.token) == ("http://vm:8428", "bank", 0, None)


def test_open_store_knows_the_new_schemes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "t")
    for url in ("influxdb://127.0.0.1:1?org=o&bucket=b", "victoriametrics://127.0.0.1:1"):
        store = open_store(url)
        assert isinstance(store, InfluxStore)
        store.close()
    with pytest.raises(StoreURLError, match="duckdb, influxdb or victoriametrics"):
        open_store("prometheus://h")


def test_nothing_listening_is_unavailable_after_retries_with_every_reading_unwritten(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(influx_store, "BACKOFF_S", 0.0)
    port = free_port()
    batch = [Reading("bank", "d1", NOW + i, "weight_kg", 1.0, i) for i in range(5)]
    for url in (
        f"influxdb://127.0.0.1:{port}?bucket=db&version=1&batch=2",
        f"victoriametrics://127.0.0.1:{port}?batch=2",
    ):
        store = open_store(url)
        caplog.clear()
        with caplog.at_level(logging.WARNING), pytest.raises(StoreUnavailableError) as caught:
            store.write(batch)
        assert caught.value.unwritten == batch
        assert f"127.0.0.1:{port}" in str(caught.value)
        retries = [r for r in caplog.records if "attempt" in r.getMessage()]
        assert [r.getMessage().split("; ")[-1][:12] for r in retries] == [
            "attempt 2 of",
            "attempt 3 of",
        ]
        store.close()


@pytest.mark.influx
def test_missing_database_is_unavailable_and_named(influxdb: InfluxDB) -> None:
    store = open_store(influxdb.url("never_created") + "&retries=0")
    with pytest.raises(StoreUnavailableError, match="database not found") as caught:
        store.write([Reading("bank", "d1", NOW, "weight_kg", 1.0, 1)])
    assert "does the database or bucket exist?" in caught.value.detail
    store.close()


@pytest.mark.influx
def test_v2_url_against_influxdb_1_6_says_to_use_version_1(
    influxdb: InfluxDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "user:password")
    store = open_store(f"influxdb://127.0.0.1:{influxdb.port}?org=o&bucket=b&retries=0")
    with pytest.raises(StoreUnavailableError, match=r"no /api/v2/write .* use version=1"):
        store.write([Reading("bank", "d1", NOW, "weight_kg", 1.0, 1)])
    store.close()


@pytest.mark.influx
def test_field_type_conflict_is_rejected_with_what_was_not_written(influxdb: InfluxDB) -> None:
    url = influxdb.create_database("conflict") + "&batch=1"
    ns = int(NOW * 1e9)
    httpx.post(
        f"{influxdb.base_url}/write",
        params={"db": "conflict"},
        content=f'readings,device_id=x,tenant=bank label_kg="text" {ns}',
    ).raise_for_status()
    store = open_store(url)
    good = [Reading("bank", "d1", NOW + i, "weight_kg", 1.0, i) for i in range(2)]
    bad = Reading("bank", "d1", NOW + 5, "label_kg", 2.0, 5)
    after = Reading("bank", "d1", NOW + 6, "weight_kg", 3.0, 6)
    with pytest.raises(StoreRejectedError, match="field type conflict") as caught:
        store.write([*good, bad, after])
    assert caught.value.status == 400
    assert caught.value.unwritten == [bad, after]
    assert [v for _, v in store.query("d1", "weight_kg", NOW, NOW + 10)] == [1.0, 1.0]
    store.close()


@pytest.mark.influx
def test_odd_ids_round_trip(influxdb: InfluxDB, victoria_metrics: VictoriaMetrics) -> None:
    device, tenant = "d 'x\",=y", "a bank"
    reading = Reading(tenant, device, NOW - 60, "weight_kg", 7.0, 1)
    settles: list[tuple[str, Callable[[], None]]] = [
        (influxdb.create_database("odd"), lambda: None),
        (victoria_metrics.url("odd"), victoria_metrics.force_flush),
    ]
    for url, settle in settles:
        store = open_store(url)
        assert store.write([reading, Reading(tenant, "bad\\id", NOW, "weight_kg", 1.0, 1)]) == 1
        assert isinstance(store, InfluxStore)
        assert store.refused == {"bad_id": 1}
        settle()
        assert store.query(device, "weight_kg", NOW - 120, NOW) == [(NOW - 60, 7.0)]
        assert store.latest(device) == {"weight_kg": (NOW - 60, 7.0)}
        store.close()


@pytest.mark.influx
def test_victoria_metrics_latest_looks_back_past_its_first_windows(
    victoria_metrics: VictoriaMetrics,
) -> None:
    store = open_store(victoria_metrics.url("windows"))
    store.write(
        [
            Reading("bank", "d1", NOW - 600, "weight_kg", 1.0, 1),
            Reading("bank", "d1", NOW - 2 * 86400, "temp_c", 4.0, 1),
            Reading("bank", "d1", NOW - 3 * 86400, "temp_c", 3.0, 1),
        ]
    )
    victoria_metrics.force_flush()
    assert store.latest("d1") == {"weight_kg": (NOW - 600, 1.0), "temp_c": (NOW - 2 * 86400, 4.0)}
    store.close()


@pytest.mark.influx
def test_victoria_metrics_silently_drops_readings_older_than_its_retention(
    victoria_metrics: VictoriaMetrics,
) -> None:
    """Documented limitation: VictoriaMetrics answers 204 but keeps nothing outside retention."""
    store = open_store(victoria_metrics.url("retention"))
    assert store.write([Reading("bank", "d1", 1000.0, "weight_kg", 1.0, 1)]) == 1
    victoria_metrics.force_flush()
    assert store.count() == 0
    store.close()
