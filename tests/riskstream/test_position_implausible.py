"""Fixes no vehicle can drive between raise `position_implausible`; jitter, reflected
fixes, repeated and out-of-order timestamps do not."""

import math

import msgspec
import pytest

from devices.geo import to_latlon
from devices.reading import Reading
from riskstream.detectors.registry import charts_by_kind
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from tests.fleets import small_fleet

T0 = 1_795_000_000.0
TRACKER = "b1-d2"
HOME = (50.15, 8.25)  # the middle of the truck's 33 × 36 km fence
KIND = "position_implausible"

Place = tuple[float, float]


def jitter(k: int) -> Place:
    """A few metres, east and north, as a working receiver scatters."""
    return ((k * 7 % 5 - 2) * 0.002, (k * 3 % 5 - 2) * 0.002)


def fix(ts: float, east_km: float, north_km: float, lon_first: bool = False) -> list[Reading]:
    lat, lon = to_latlon(HOME, east_km, north_km)
    readings = [
        Reading("bank-a", TRACKER, ts, "lat_deg", lat),
        Reading("bank-a", TRACKER, ts, "lon_deg", lon),
    ]
    return readings[::-1] if lon_first else readings


class Tracker:
    """An engine fed one fix at a time: the fixes sent, and the alerts of `KIND` emitted."""

    def __init__(self) -> None:
        self.engine = Engine([small_fleet()], RuleSet(), wall_clock=lambda: 0.0)
        self.sent: list[dict[str, float]] = []
        self.emitted: list[Alert] = []
        self.k = 0

    def send(
        self, ts: float, place: Place, lon_first: bool = False, exact: bool = False
    ) -> list[Alert]:
        self.k += 1
        dx, dy = (0.0, 0.0) if exact else jitter(self.k)
        readings = fix(ts, place[0] + dx, place[1] + dy, lon_first)
        self.sent.append({"ts": ts, **{r.metric: r.value for r in readings}})
        mine = [a for a in self.engine.process(readings) if a.kind == KIND]
        self.emitted += mine
        return mine

    def park(self, start: float, minutes: int, place: Place = (0.0, 0.0)) -> list[Alert]:
        return [a for m in range(minutes) for a in self.send(start + 60 * m, place)]


def test_a_jump_no_vehicle_drives_is_a_warning_naming_both_fixes_and_the_speed() -> None:
    t = Tracker()
    assert t.park(T0, 30) == []
    [alert] = t.send(T0 + 30 * 60, (0.0, 12.0))  # 12 km north a minute later: in the fence
    assert alert.severity == "warning" and alert.subject == TRACKER
    assert alert.opened_at == T0 + 30 * 60
    ev = alert.evidence
    assert [ev["from"], ev["to"]] == t.sent[-2:]
    assert ev["distance_km"] == pytest.approx(12.0, abs=0.02)
    assert ev["implied_speed_kmh"] == pytest.approx(720.0, abs=2.0)
    assert "jumped 12.0 km in 60 s: 72" in alert.reasons[0]
    assert " km/h, from 50.1" in alert.reasons[0]
    assert alert.reasons[1] == "no vehicle drives faster than 250 km/h"
    assert t.park(T0 + 31 * 60, 60, (0.0, 12.0)) == []
    kinds = {a.kind for a in t.engine.open_alerts()}
    assert kinds == {KIND}, "inside its fence: only the jump gives it away"
    index = t.engine.index
    charts = charts_by_kind()[KIND](alert.to_dict(), index.devices[TRACKER], index, RuleSet())
    assert [(c["metric"], [line["label"] for line in c["thresholds"]]) for c in charts] == [
        ("lat_deg", ["before the jump", "after the jump"]),
        ("lon_deg", ["before the jump", "after the jump"]),
    ]


def test_jumps_back_and_forth_within_the_hour_make_it_critical() -> None:
    t = Tracker()
    t.park(T0, 10)
    places = [(0.0, 12.0), (0.0, 0.0)] * 3
    alerts = [a for m, p in enumerate(places) for a in t.send(T0 + (10 + m) * 60, p)]
    assert [a.severity for a in alerts] == ["warning", "critical"]  # updates come when due
    assert len({a.id for a in alerts}) == 1
    assert "3 implausible jumps within 60 min" in alerts[1].reasons[-1]
    assert alerts[1].evidence["jumps_in_window"] == 3


def test_a_standstill_then_240_kmh_is_caught_by_the_acceleration() -> None:
    t = Tracker()
    t.park(T0, 10)
    t.send(T0 + 600, (0.0, 0.0), exact=True)
    t.send(T0 + 601, (0.0005, 0.0), exact=True)  # a second later, still standing
    [alert] = t.send(T0 + 616, (0.0, 1.02), exact=True)  # 1.02 km in 15 s: 245 km/h
    assert alert.evidence["implied_speed_kmh"] == pytest.approx(244.8, abs=0.2)
    assert alert.evidence["implied_accel_ms2"] > 8.0 and alert.evidence["max_accel_ms2"] == 8.0
    assert "km/h on the leg before, that takes 8." in alert.reasons[1]
    assert alert.reasons[1].endswith("no vehicle accelerates or brakes harder than 8 m/s²")


def test_driving_jitter_and_reflected_fixes_never_raise() -> None:
    t = Tracker()
    t.park(T0, 30, (0.0, 0.0))
    # a fix reflected 400 m off for a second, and back; scatter a millisecond apart
    assert t.send(T0 + 1800.0, (0.4, 0.0)) == [] and t.send(T0 + 1801.0, (0.0, 0.0)) == []
    assert t.send(T0 + 1801.001, (0.0, 0.0)) == []
    # a drive through the fence at 90 km/h, a fix a minute, and a stop
    start = T0 + 1900.0
    for k in range(1, 21):
        assert t.send(start + 60 * k, (0.0, 1.5 * k)) == []
    assert t.park(start + 21 * 60, 10, (0.0, 30.0)) == []
    assert t.emitted == []


def test_equal_and_earlier_timestamps_are_skipped_without_dividing_by_zero() -> None:
    t = Tracker()
    t.park(T0, 10)
    last = T0 + 9 * 60
    assert t.send(last, (0.0, 20.0)) == [], "the same time again, elsewhere"
    assert t.send(last - 30, (0.0, 20.0)) == [], "an older fix, late"
    assert t.park(T0 + 10 * 60, 5) == []
    assert len(t.send(T0 + 15 * 60, (0.0, 20.0))) == 1, "a later jump still counts"


def test_lat_and_lon_come_in_either_order() -> None:
    t = Tracker()
    t.park(T0, 10)
    [alert] = t.send(T0 + 600, (0.0, 12.0), lon_first=True)
    assert alert.evidence["to"]["lat_deg"] == pytest.approx(50.2578, abs=1e-3)


def test_a_frozen_position_is_measured_from_when_it_was_first_reported() -> None:
    t = Tracker()
    t.park(T0, 10)
    frozen = fix(T0 + 600, 0.0, 0.0)
    kinds = set()
    for m in range(120):  # no fix for two hours: the last one is repeated
        readings = [msgspec.structs.replace(r, ts=T0 + 600 + 60 * m) for r in frozen]
        kinds |= {a.kind for a in t.engine.process(readings)}
    assert kinds == {"values_stuck"}, "a tracker repeating itself is stuck, not spoofed"
    assert t.send(T0 + 600 + 120 * 60, (0.0, 15.0)) == [], "15 km in two hours"


def test_it_clears_after_clear_after_at_the_next_fix_and_not_before() -> None:
    t = Tracker()
    t.park(T0, 10)
    jump_at = T0 + 600
    t.send(jump_at, (0.0, 12.0))
    clear_after = RuleSet().rules.position_implausible.clear_after
    minutes = int(clear_after // 60)
    assert t.park(jump_at + 60, minutes - 1, (0.0, 12.0)) == []
    [cleared] = t.park(jump_at + minutes * 60, 2, (0.0, 12.0))
    assert cleared.status == "resolved" and cleared.resolved_at == jump_at + clear_after
    assert cleared.reasons[-1] == "cleared: no implausible jump for 6.0 h"


def test_a_value_that_is_not_a_number_changes_nothing() -> None:
    # ingest refuses non-finite values before the engine; one must not break the detector
    t = Tracker()
    t.park(T0, 10)
    t.engine.process([Reading("bank-a", TRACKER, T0 + 600, "lat_deg", math.nan)])
    t.engine.process(fix(T0 + 600, 0.0, 0.0)[1:])
    assert t.park(T0 + 660, 5) == []
    assert len(t.send(T0 + 960, (0.0, 12.0))) == 1
