"""A GPS tracker whose fixes no vehicle can drive between: spoofed or relayed signals.

A spoofer, or a relay of signals received elsewhere, puts a tracker where its vehicle
is not, often inside the geofence, where the geofence rule sees nothing. Where the
vehicle could not have gone in the time between two fixes gives it away. Each leg
between consecutive fixes is judged:

- it counts only when it is at least ``min_jump_m`` long: a working receiver's fixes
  scatter by metres, and a signal reflected off buildings puts a fix a few hundred
  metres off and back, over any time, however short;
- it is implausible when it implies more than ``max_speed_kmh``, or when its speed
  differs from the leg before by more than ``max_accel_ms2`` over the time between the
  two legs' midpoints. That is the least acceleration (or braking) that gives both
  legs their mean speeds, so it catches a vehicle "at" 240 km/h a moment after it stood
  still, which the speed alone allows. The leg before counts at most at
  ``max_speed_kmh``: a short leg's speed may be a reflected fix's, not the vehicle's.

A position repeated exactly keeps the time it was first reported: a receiver without a
fix (a tunnel, an underground car park) or a frozen tracker repeats its last one while
the vehicle may drive on, and the jump when it comes back is measured over the whole
time. A fix no later than the last one (a duplicate, a late or replayed message) is
skipped: time cannot run backwards, and such messages are data integrity's business.
A fix arrives as ``lat_deg`` and ``lon_deg`` readings of the same time, in either order.

The alert (warning) names both fixes of the jump and the speed it implies; with
``repeat_count`` implausible jumps within ``repeat_window`` it is critical (a receiver
flipping between false and genuine signals). It resolves ``clear_after`` after the
last implausible jump, at the next fix.
"""

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from devices.geo import distance_km
from devices.reading import Reading
from riskstream.detectors.findings import device_finding
from riskstream.detectors.position_fix import FixInProgress
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.fleet_index import DeviceContext
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    RuleTable,
    Seconds,
    Severity,
)

KIND = "position_implausible"


class PositionImplausibleRule(RuleTable):
    """A GPS tracker's fixes that no vehicle can drive between (spoofed or relayed signals)."""

    matrix_component: ClassVar[AlertComponent] = "conduct"

    enabled: Enabled = True
    max_speed_kmh: float = Field(
        250.0,
        gt=0,
        description="a jump between two fixes faster than this, in km/h, is implausible: "
        "above what any road vehicle reaches, let alone pledged trucks, vans and loaders",
    )
    max_accel_ms2: float = Field(
        8.0,
        gt=0,
        description="a change of speed, in m/s², from the leg before to this jump (over "
        "the time between the two legs' midpoints) above this is implausible: tyres grip "
        "to about 1 g (9.8 m/s²) at best, and a sports car doing 0-100 km/h in 3.5 s "
        "averages 8 m/s² for those seconds only; a loaded truck manages about 1",
    )
    min_jump_m: float = Field(
        1000.0,
        ge=0,
        description="jumps shorter than this, in metres, never count: a working receiver's "
        "fixes scatter by metres and a signal reflected off buildings puts one a few "
        "hundred metres off, so a short jump over a short time means nothing",
    )
    repeat_count: int = Field(
        3, ge=2, description="implausible jumps within `repeat_window` that make it critical"
    )
    repeat_window: Seconds = Field(
        3600.0, gt=0, description="the time within which `repeat_count` jumps make it critical"
    )
    clear_after: ClearAfter = Field(
        6 * 3600.0, description="resolves after this long without an implausible jump"
    )
    severity: AlertSeverity = "warning"
    repeat_severity: Severity = Field(
        "critical", description="severity once `repeat_count` jumps came within `repeat_window`"
    )


@dataclass(slots=True)
class _Fix:
    """A position, when it was first reported and when last."""

    since: float
    ts: float
    lat: float
    lon: float


@dataclass(slots=True)
class _Jump:
    """An implausible leg: its two fixes and what it implies."""

    before: _Fix
    ts: float
    lat: float
    lon: float
    km: float
    kmh: float
    accel: float | None  # m/s², when it was the acceleration that gave it away
    kmh_before: float | None


@dataclass(slots=True)
class _Track:
    """One tracker: the fix being assembled, the last fix, the last plausible leg's
    (speed m/s, duration s), and its recent implausible jumps."""

    fix: FixInProgress = field(default_factory=FixInProgress)
    last: _Fix | None = None
    leg: tuple[float, float] | None = None
    jumps: deque[float] = field(default_factory=deque)
    raised: bool = False
    opened_at: float = 0.0
    last_jump: float = -math.inf


class PositionImplausibleDetector:
    """Per GPS tracker: legs between fixes faster, or speeding up harder, than a vehicle."""

    def __init__(self, rule: PositionImplausibleRule) -> None:
        self.rule = rule
        self._tracks: dict[str, _Track] = {}

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """Feed a ``lat_deg`` or ``lon_deg`` reading; judge the leg once the fix is whole."""
        if not self.rule.enabled:
            return None
        track = self._tracks.get(reading.device_id)
        if track is None:
            track = self._tracks[reading.device_id] = _Track()
        fix = track.fix.take(reading)
        if fix is None:
            return None
        track.fix.forget()  # judged once, even if a reading of this time repeats
        ts = reading.ts
        lat, lon = fix
        last = track.last
        if last is None:
            track.last = _Fix(ts, ts, lat, lon)
            return None
        if ts <= last.ts:
            return None
        if lat == last.lat and lon == last.lon:
            last.ts = ts
            return self._maybe_clear(track, device, book, ts)
        jump = self._judge(track, last, ts, lat, lon)
        track.last = _Fix(ts, ts, lat, lon)
        if jump is None:
            return self._maybe_clear(track, device, book, ts)
        return self._raise(track, jump, device, book, wall)

    def _judge(self, track: _Track, last: _Fix, ts: float, lat: float, lon: float) -> _Jump | None:
        """The jump from ``last`` if implausible; else None (and the leg is remembered)."""
        rule = self.rule
        seconds = ts - last.since
        km = distance_km((last.lat, last.lon), (lat, lon))
        speed = km * 1000.0 / seconds
        previous, track.leg = track.leg, (speed, seconds)
        if km * 1000.0 < rule.min_jump_m:
            return None
        kmh = speed * 3.6
        if kmh > rule.max_speed_kmh:
            track.leg = None  # one of its fixes is false: no speed to judge the next leg by
            return _Jump(last, ts, lat, lon, km, kmh, None, None)
        if previous is not None:
            # a short leg's speed may be all jitter or a reflected fix: no faster than a vehicle
            before, before_s = min(previous[0], rule.max_speed_kmh / 3.6), previous[1]
            accel = abs(speed - before) / ((before_s + seconds) / 2.0)
            if accel > rule.max_accel_ms2:
                track.leg = None
                return _Jump(last, ts, lat, lon, km, kmh, accel, before * 3.6)
        return None

    def _maybe_clear(
        self, track: _Track, device: DeviceContext, book: AlertBook, ts: float
    ) -> Alert | None:
        if not track.raised or ts - track.last_jump < self.rule.clear_after:
            return None
        track.raised = False
        track.jumps.clear()
        return book.clear(
            device.tenant,
            device.borrower_id,
            KIND,
            device.device_id,
            ts,
            f"cleared: no implausible jump for {format_duration(self.rule.clear_after)}",
        )

    def _raise(
        self, track: _Track, jump: _Jump, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        rule = self.rule
        jumps = track.jumps
        jumps.append(jump.ts)
        while jumps[0] <= jump.ts - rule.repeat_window:
            jumps.popleft()
        track.last_jump = jump.ts
        if not track.raised:
            track.raised, track.opened_at = True, jump.ts
        finding = self._finding(device, jump, len(jumps))
        return book.raise_(finding, track.opened_at, jump.ts, wall)

    def _finding(self, device: DeviceContext, jump: _Jump, recent: int) -> Finding:
        rule = self.rule
        before = jump.before
        repeated = recent >= rule.repeat_count
        seconds = jump.ts - before.since
        reasons = [
            f"tracker {device.device_id} jumped {jump.km:,.1f} km in "
            f"{format_duration(seconds)}: {jump.kmh:,.0f} km/h, from {before.lat:.5f}, "
            f"{before.lon:.5f} at {clock(before.since)} to {jump.lat:.5f}, {jump.lon:.5f} "
            f"at {clock(jump.ts)}"
        ]
        if jump.accel is None:
            reasons.append(f"no vehicle drives faster than {rule.max_speed_kmh:g} km/h")
        else:
            reasons.append(
                f"from {jump.kmh_before:,.0f} km/h on the leg before, that takes "
                f"{jump.accel:.1f} m/s²; no vehicle accelerates or brakes harder than "
                f"{rule.max_accel_ms2:g} m/s²"
            )
        if before.ts > before.since:
            reasons.append(
                f"its position had not changed since {clock(before.since)} "
                f"(reported until {clock(before.ts)})"
            )
        if repeated:
            reasons.append(
                f"{recent} implausible jumps within {format_duration(rule.repeat_window)}: "
                "the tracker's position keeps switching between places"
            )
        evidence: dict[str, Any] = {
            "from": {"ts": before.since, "lat_deg": before.lat, "lon_deg": before.lon},
            "to": {"ts": jump.ts, "lat_deg": jump.lat, "lon_deg": jump.lon},
            "distance_km": round(jump.km, 3),
            "seconds": round(seconds, 3),
            "implied_speed_kmh": round(jump.kmh, 1),
            "max_speed_kmh": rule.max_speed_kmh,
            "jumps_in_window": recent,
            "repeat_window_s": rule.repeat_window,
            "ts": jump.ts,
        }
        if jump.accel is not None:
            evidence["implied_accel_ms2"] = round(jump.accel, 2)
            evidence["max_accel_ms2"] = rule.max_accel_ms2
        return device_finding(
            device,
            kind=KIND,
            severity=rule.repeat_severity if repeated else rule.severity,
            score=50.0 + 10.0 * recent,
            reasons=reasons,
            evidence=evidence,
        )
