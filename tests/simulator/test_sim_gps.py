"""A GPS tracker's receiver: jitter and harmless urban-canyon jumps."""

import itertools
from dataclasses import dataclass

import pytest

from devices.geo import distance_km
from devices.model import Device, DeviceKind, Fleet
from simulator.fleetgen import generate_fleet
from simulator.geo import point_in_polygon, to_latlon
from simulator.telemetry import build
from simulator.vehicle import GpsModel
from tests.simulator.conftest import DAY, MONDAY, sites

DAYS = 3


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return generate_fleet(8, seed=13)


@pytest.fixture(scope="module")
def trackers(fleet: Fleet) -> list[Device]:
    return [d for d in fleet.devices() if d.kind is DeviceKind.GPS_TRACKER]


@dataclass(frozen=True)
class Track:
    """A tracker's fixes, each with where its vehicle really was."""

    fixes: list[tuple[float, float]]
    truth: list[tuple[float, float]]

    def errors(self) -> list[float]:
        return [distance_km(f, t) * 1000.0 for f, t in zip(self.fixes, self.truth, strict=True)]


def track(fleet: Fleet, d: Device) -> Track:
    """The tracker's model played alone, every interval over the run."""
    model = build(fleet, [], MONDAY, seed=4, glitches=False).by_id[d.id]
    assert isinstance(model, GpsModel)
    fixes, truth = [], []
    ts = MONDAY
    while ts < MONDAY + DAYS * DAY:
        values = model.values(ts)
        fixes.append((values["lat_deg"], values["lon_deg"]))
        truth.append(to_latlon(model.centre, *model.where))
        ts += d.interval_s
    return Track(fixes, truth)


def test_a_working_tracker_scatters_by_metres_even_parked(
    fleet: Fleet, trackers: list[Device]
) -> None:
    for d in trackers:
        run = track(fleet, d)
        errors = sorted(run.errors())
        assert 1.0 < errors[len(errors) // 2] < 6.0, "a few metres off where the vehicle is"
        parked = [
            (a, b)
            for a, b, t, u in zip(run.fixes, run.fixes[1:], run.truth, run.truth[1:], strict=False)
            if t == u
        ]
        assert len(parked) > len(run.fixes) / 2
        assert sum(a == b for a, b in parked) < 0.001 * len(parked)
        for k in (0, 1):
            longest = max(len(list(same)) for _, same in itertools.groupby(f[k] for f in run.fixes))
            # one coordinate may come out equal a few times (0.1 m steps), never ten times
            assert longest <= 4, d.id


def test_urban_canyon_jumps_come_back_and_never_cross_the_fence(
    fleet: Fleet, trackers: list[Device]
) -> None:
    jumps = 0
    for d in trackers:
        fence = sites(fleet)[d.site].geofence
        assert fence is not None
        run = track(fleet, d)
        assert all(point_in_polygon(*f, fence) for f in run.fixes)
        off = [e > 50.0 for e in run.errors()]
        assert all(e < 420.0 for e in run.errors()), "a few hundred metres at most"
        lengths = [len(list(g)) for is_off, g in itertools.groupby(off) if is_off]
        assert all(n <= 2 for n in lengths), "one fix or two, then back"
        jumps += len(lengths)
    assert jumps >= 2 * DAYS * len(trackers), "a few harmless jumps a day"
