"""Shared fixtures for the simulator tests."""

import pytest

from devices.model import Fleet
from simulator.fleetgen import generate_fleet


@pytest.fixture(scope="session")
def small_fleet() -> Fleet:
    """Four borrowers, about 35 devices."""
    return generate_fleet(4, seed=11)
