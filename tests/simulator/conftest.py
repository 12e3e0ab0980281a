"""Shared fixtures and helpers for the simulator tests."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import pytest

from devices.model import Collateral, Fleet, Site
from simulator.fleetgen import generate_fleet
from simulator.message import Message

DAY = 86_400.0
MONDAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()  # a Monday, 00:00 UTC


@pytest.fixture(scope="session")
def small_fleet() -> Fleet:
    """Four borrowers, about 45 devices."""
    return generate_fleet(4, seed=11)


def by_device(
    messages: Iterable[Message], kinds: tuple[str, ...] = ("telemetry",)
) -> dict[str, list[Message]]:
    """Messages of the given kinds grouped by device, in stream order."""
    out: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        if m.kind in kinds:
            out[m.device_id].append(m)
    return out


def collateral(fleet: Fleet) -> dict[str, Collateral]:
    """Every collateral of the fleet by id."""
    return {c.id: c for b in fleet.borrowers for ln in b.loans for c in ln.collateral}


def sites(fleet: Fleet) -> dict[str, Site]:
    """Every site of the fleet by id."""
    return {s.id: s for b in fleet.borrowers for s in b.sites}
