"""Session fixtures: real servers on free loopback ports."""

from collections.abc import Iterator

import pytest

from tests.servers import Mosquitto, run_mosquitto


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real mosquitto broker for the whole test session."""
    with run_mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker
