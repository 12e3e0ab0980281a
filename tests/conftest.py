"""Session fixtures: real servers on free loopback ports."""

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskstream.cluster.nats_servers import NatsCluster
from tests.servers import (
    InfluxDB,
    Mosquitto,
    PostgreSQL,
    VictoriaMetrics,
    run_mosquitto,
    run_nats_cluster,
    running,
)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real mosquitto broker for the whole test session."""
    with run_mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    """A real InfluxDB 1.x (Debian's influxd) for the whole test session."""
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    with running(server):
        yield server


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics with 1 ms de-duplication for the whole test session."""
    server = VictoriaMetrics(tmp_path_factory.mktemp("victoria-metrics"))
    with running(server):
        yield server


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    """A real PostgreSQL (Debian's, started with initdb) for the whole test session."""
    server = PostgreSQL()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A real 3-node NATS JetStream cluster with riskstream's streams and buckets (default
    partitions) for the whole test session. A test that kills a node restarts it."""
    with run_nats_cluster(tmp_path_factory.mktemp("nats-cluster")) as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty service database: a SQLite file, then (a second run of the test) a database
    on the session's PostgreSQL; what `--db` and `ServiceSettings.database` take."""
    if request.param == "sqlite":
        return str(tmp_path / "rs.db")
    server: PostgreSQL = request.getfixturevalue("postgresql")
    return server.create_database(f"test_{next(_DATABASE_NUMBERS)}")


_DATABASE_NUMBERS = itertools.count(1)

SERVER_MARKERS = {
    "mosquitto": "broker",
    "influxdb": "influx",
    "victoria_metrics": "influx",
    "postgresql": "postgres",
    "nats_cluster": "cluster",
}
"""The marker of every test that uses a server fixture, so `-m "not broker and not influx
and not postgres and not cluster and not browser"` runs the tests a machine without those
servers can run."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in SERVER_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
