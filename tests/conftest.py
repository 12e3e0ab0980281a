"""Session fixtures: real servers on free loopback ports."""

from collections.abc import Iterator

import pytest

from tests.servers import InfluxDB, Mosquitto, VictoriaMetrics, run_mosquitto, running


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


SERVER_MARKERS = {"mosquitto": "broker", "influxdb": "influx", "victoria_metrics": "influx"}
"""The marker of every test that uses a server fixture, so `-m "not broker and not influx
and not browser"` runs the tests a machine without those servers can run."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in SERVER_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
