"""A GPS tracker's receiver: jitter, harmless urban-canyon jumps, and false signals."""

import datetime as dt
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devices.geo import distance_km
from devices.model import Device, DeviceKind, Fleet
from simulator.fleetgen import generate_fleet
from simulator.geo import point_in_polygon, to_latlon
from simulator.injection import Injection
from simulator.message import Message
from simulator.run import run_to_file
from simulator.scenarios import plan_scenarios
from simulator.telemetry import build, generate
from simulator.vehicle import SPOOF_FAR_KM, SPOOF_INSIDE_KM, GpsModel
from tests.simulator.conftest import DAY, MONDAY, by_device, sites

HOUR = 3600.0
DAYS = 3


def where(m: Message) -> tuple[float, float]:
    return m.values["lat_deg"], m.values["lon_deg"]


def metres(a: Message, b: Message) -> float:
    return distance_km(where(a), where(b)) * 1000.0


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


@dataclass(frozen=True)
class Spoofed:
    inj: Injection
    got: list[Message]
    base: list[Message]

    def window(self) -> list[tuple[Message, Message]]:
        end = self.inj.end_ts or math.inf
        pairs = zip(self.got, self.base, strict=True)
        return [(g, b) for g, b in pairs if self.inj.start_ts <= g.ts < end]


def night(d: Device, fleet: Fleet) -> float:
    """01:00 local time of the tracker's site on the run's second day."""
    site = sites(fleet)[d.site]
    borrower = next(b for b in fleet.borrowers if site in b.sites)
    zone = ZoneInfo(site.timezone if site.timezone != "UTC" else borrower.timezone)
    day = dt.datetime.fromtimestamp(MONDAY + DAY, zone).date()
    return dt.datetime(day.year, day.month, day.day, 1, tzinfo=zone).timestamp()


def spoof(fleet: Fleet, d: Device, start: float, alternate: bool, inside: bool) -> Spoofed:
    borrower = d.id.split("-")[0]
    params = (("alternate", float(alternate)), ("inside", float(inside)))
    inj = Injection(
        "gps_spoof", borrower, d.collateral, d.site, d.id, start, start + 2 * HOUR, params=params
    )
    end = MONDAY + DAYS * DAY
    got = by_device(generate(fleet, [inj], MONDAY, end, seed=4, glitches=False))[d.id]
    base = by_device(generate(fleet, [], MONDAY, end, seed=4, glitches=False))[d.id]
    return Spoofed(inj, got, base)


def test_a_spoof_moves_only_the_fixes_of_its_window(fleet: Fleet, trackers: list[Device]) -> None:
    d = trackers[0]
    run = spoof(fleet, d, night(d, fleet), alternate=False, inside=False)
    fence = sites(fleet)[d.site].geofence
    assert fence is not None
    window = run.window()
    assert len(window) >= 2 * HOUR / d.interval_s * 0.9
    for g, b in zip(run.got, run.base, strict=True):
        assert g.ts == b.ts and g.seq == b.seq
        for metric in ("speed_kmh", "ignition", "odometer_km"):
            assert g.values[metric] == b.values[metric], "the messages are genuine"
        if (g, b) not in window:
            assert g == b
    for g, b in window:
        assert not point_in_polygon(*where(g), fence)
        assert metres(g, b) > SPOOF_FAR_KM[0] * 1000
    first = run.got.index(window[0][0])
    before, jump = run.got[first - 1], run.got[first]
    assert metres(before, jump) / 1000 / ((jump.ts - before.ts) / HOUR) > 250.0
    back = run.got[first + len(window)]
    assert metres(window[-1][0], back) / 1000 / ((back.ts - window[-1][0].ts) / HOUR) > 250.0


def test_an_alternating_spoof_flips_between_the_real_and_the_false_place(
    fleet: Fleet, trackers: list[Device]
) -> None:
    d = trackers[1]
    run = spoof(fleet, d, night(d, fleet), alternate=True, inside=False)
    window = run.window()
    assert all(metres(g, b) > SPOOF_FAR_KM[0] * 1000 for g, b in window[0::2])
    assert all(g == b for g, b in window[1::2])


def test_a_large_fence_can_hide_the_false_place_inside(
    fleet: Fleet, trackers: list[Device]
) -> None:
    def reach(d: Device) -> float:
        site = sites(fleet)[d.site]
        assert site.geofence is not None and site.location is not None
        return max(distance_km(site.location, p) for p in site.geofence)

    d = max(trackers, key=reach)
    assert reach(d) > 20.0, "the fleet has a large fence"
    run = spoof(fleet, d, night(d, fleet), alternate=False, inside=True)
    fence = sites(fleet)[d.site].geofence
    assert fence is not None
    for g, b in run.window():
        assert point_in_polygon(*where(g), fence)
        assert metres(g, b) > SPOOF_INSIDE_KM * 1000, "parked at the depot, spoofed far from it"


def test_same_seed_same_bytes_with_gps_spoof(fleet: Fleet, tmp_path: Path) -> None:
    end = MONDAY + DAY
    plan = plan_scenarios(fleet, seed=3, start_ts=MONDAY, end_ts=end, rate=0.5, kinds=["gps_spoof"])
    assert len(plan) == 4 and {i.scenario for i in plan} == {"gps_spoof"}
    files = []
    for name, seed in (("a", 9), ("b", 9), ("c", 10)):
        path = tmp_path / f"{name}.csv"
        run_to_file(generate(fleet, plan, MONDAY, end, seed=seed), fleet.tenant.id, path)
        files.append(path.read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]
