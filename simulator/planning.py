"""For each scenario kind: which subjects a borrower offers, and when it happens.

A kind's ``candidates`` lists the subjects a
borrower offers (empty: the kind does not apply to that borrower); its ``schedule``
chooses start, end and parameters in the run's window, or None when the window has
no room for it (no night in a two-hour run, say). Times of day are local to the
subject's site: "night" is 22:00–04:00, which no borrower's business hours reach,
"business hours" 10:00–15:00 on a weekday that is no public holiday, inside every
borrower's hours.
"""

import math
import random
from collections.abc import Callable
from dataclasses import replace

from devices.model import KG_PER_UNIT, Borrower, DeviceKind, SiteKind
from simulator.geo import Point, to_km
from simulator.injection import Injection
from simulator.plan_context import HOUR, Lot, PlanContext, Subject
from simulator.signals import cold_chain_window

DAY = 86_400.0
LOAD_S = 30 * 60.0  # loading or unloading a truck in a double pledge
TRUCK_KMH = 50.0
MAX_TRANSIT_S = 12 * HOUR
NIGHT = (22.0, 28.0)
LATE_NIGHT = (23.0, 26.0)
MIDDAY = (10.0, 15.0)
MORNING = (8.0, 12.0)
WEEKDAYS = frozenset({0, 1, 2, 3, 4})
WATCHED_KINDS = frozenset(
    {
        DeviceKind.LOAD_CELL,
        DeviceKind.TEMPERATURE,
        DeviceKind.POWER_METER,
        DeviceKind.GPS_TRACKER,
        DeviceKind.GENERIC,
    }
)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


Candidates = Callable[[PlanContext, Borrower], list[Subject]]
Schedule = Callable[[PlanContext, Borrower, Subject, random.Random], Injection | None]


def _inject(
    kind: str,
    borrower: Borrower,
    subject: Subject,
    start: float,
    end: float | None,
    **params: float,
) -> Injection:
    return Injection(
        kind,
        borrower.id,
        subject.collateral_id,
        subject.site_id,
        subject.device_id,
        round(start, 3),
        None if end is None else round(end, 3),
        subject.loan_id,
        subject.counterpart_device_id,
        tuple((k, round(v, 3)) for k, v in params.items()),
    )


def _lots(ctx: PlanContext, b: Borrower, device: str) -> list[tuple[Lot, Subject]]:
    out = []
    for lot in ctx.lots[b.id]:
        chosen = getattr(lot, device)
        if lot.load_cell is not None and chosen is not None:
            out.append((lot, Subject(lot.collateral.id, lot.site.id, chosen, lot.loan_id)))
    return out


def _lot_of(ctx: PlanContext, b: Borrower, subject: Subject) -> Lot:
    return next(lot for lot in ctx.lots[b.id] if lot.collateral.id == subject.collateral_id)


def load_cells(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Lots weighed by a load cell (subject device: the load cell)."""
    return [s for _, s in _lots(ctx, b, "load_cell")]


def cells_of_shared_lots(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Load cells of lots weighed by two or more (subject device: one cell)."""
    return [
        Subject(lot.collateral.id, lot.site.id, cell, lot.loan_id)
        for lot in ctx.lots[b.id]
        if len(lot.cells) >= 2
        for cell in lot.cells
    ]


def gates(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Weighed lots with an RFID gate (subject device: the gate)."""
    return [s for _, s in _lots(ctx, b, "gate")]


def doors(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Weighed lots with a door contact (subject device: the door)."""
    return [s for _, s in _lots(ctx, b, "door")]


def cold_stores(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Perishable lots with a thermometer (subject device: the thermometer)."""
    return [
        Subject(lot.collateral.id, lot.site.id, lot.thermometer, lot.loan_id)
        for lot in ctx.lots[b.id]
        if lot.band is not None and lot.thermometer is not None
    ]


def trackers(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """GPS trackers on sites with a geofence."""
    return [
        Subject(d.collateral, d.site, d.id, ctx.loan_of.get(d.collateral or ""))
        for d in b.devices
        if d.kind is DeviceKind.GPS_TRACKER and ctx.sites[d.site].geofence is not None
    ]


def plant_devices(kind: DeviceKind) -> Candidates:
    """Devices of ``kind`` on the borrower's production lines."""

    def pick(ctx: PlanContext, b: Borrower) -> list[Subject]:
        return [
            Subject(None, d.site, d.id, b.loans[0].id if b.loans else None)
            for d in b.devices
            if d.kind is kind and ctx.sites[d.site].kind is SiteKind.PRODUCTION_LINE
        ]

    return pick


def any_device(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Every device (collateral left None)."""
    return [Subject(None, d.site, d.id) for d in b.devices]


def watched_devices(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Devices whose values vary all the time (so stuck or replayed values can show)."""
    return [
        Subject(d.collateral, d.site, d.id, ctx.loan_of.get(d.collateral or ""))
        for d in b.devices
        if d.kind in WATCHED_KINDS
    ]


def loans(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """The borrower's loans."""
    return [Subject(None, None, None, loan.id) for loan in b.loans]


def pledged_twice(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Weighed lots for which a weighed lot of the same handling unit secures another loan."""
    return [
        s
        for lot, s in _lots(ctx, b, "load_cell")
        if ctx.unit_owners.get(lot.unit_kg, set()) - {b.id}
    ]


def run_until_end(kind: str) -> Schedule:
    """Start 10–40 % into the run, last to its end."""

    def schedule(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
        return _inject(kind, b, s, ctx.anytime(rng), None)

    return schedule


def drain(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
    """A drain over 40 % of the rest of the run (2 hours to 6 days)."""
    start = ctx.anytime(rng)
    ramp = _clamp(0.4 * (ctx.end - start), 2 * HOUR, 6 * DAY)
    return _inject("inventory_drain", b, s, start, None, ramp_s=ramp)


def removal(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection | None:
    """At night; the goods stay gone."""
    start = ctx.slot(rng, ctx.timezones[s.site_id or ""], NIGHT, ctx.end - 3 * HOUR)
    return None if start is None else _inject("inventory_removal", b, s, start, None)


SALAMI_MIN_UNITS = 300  # a night's 1 % in three bites of whole handling units


def small_unit_lots(ctx: PlanContext, b: Borrower) -> list[Subject]:
    """Weighed lots pledged in at least `SALAMI_MIN_UNITS` handling units (subject device:
    the load cell): goods that can leave a few units at a time."""
    return [
        s
        for lot, s in _lots(ctx, b, "load_cell")
        if lot.collateral.quantity * KG_PER_UNIT.get(lot.collateral.unit, 0.0) / lot.unit_kg
        >= SALAMI_MIN_UNITS
    ]


def salami(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection | None:
    """From a night 10–40 % into the run, a little every night until its end."""
    start = ctx.slot(rng, ctx.timezones[s.site_id or ""], LATE_NIGHT, ctx.end - 3 * HOUR)
    if start is None:
        return None
    nights = math.floor((ctx.end - 3 * HOUR - start) / DAY) + 1
    return _inject(
        "salami_theft", b, s, start, None, nightly=rng.uniform(0.01, 0.03), nights=nights
    )


CELL_FAULT_MODES = ("dead", "stuck", "offset")


def cell_fault(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
    """One cell fails: dead to the run's end, or stuck or reading off for 6 hours to 2 days."""
    start = ctx.anytime(rng)
    mode = rng.randrange(len(CELL_FAULT_MODES))
    if CELL_FAULT_MODES[mode] == "dead":
        return _inject("cell_fault", b, s, start, None, mode=mode)
    length = min(rng.uniform(6 * HOUR, 2 * DAY), ctx.end - start)
    factor = rng.choice((rng.uniform(0.2, 0.6), rng.uniform(1.4, 1.8)))
    return _inject("cell_fault", b, s, start, start + length, mode=mode, factor=factor)


def moved_away(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection | None:
    """In business hours on a weekday; the goods stay gone."""
    tz = ctx.timezones[s.site_id or ""]
    start = ctx.slot(rng, tz, MIDDAY, ctx.end - 4 * HOUR, WEEKDAYS)
    return None if start is None else _inject("unregistered_move", b, s, start, None)


def _distance_km(a: Point | None, b: Point | None) -> float | None:
    if a is None or b is None:
        return None
    x, y = to_km(a, b[0], b[1])
    return math.hypot(x, y)


def double_pledge(
    ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random
) -> Injection | None:
    """At night to another loan's warehouse, kept there a while, then brought back."""
    lot = _lot_of(ctx, b, s)
    others = [
        other
        for bid, lots in ctx.lots.items()
        if bid != b.id
        for other in lots
        if other.load_cell is not None and other.unit_kg == lot.unit_kg
    ]
    others = [o for o in others if o.borrower_id not in ctx.busy] or others
    near = [o for o in others if o.timezone == lot.timezone] or others
    other = rng.choice(near)
    km = _distance_km(lot.site.location, other.site.location)
    transit = MAX_TRANSIT_S if km is None else min(MAX_TRANSIT_S, km / TRUCK_KMH * HOUR + LOAD_S)
    stay = _clamp(0.2 * ctx.window, 4 * HOUR, 3 * DAY)
    total = 4 * LOAD_S + 2 * transit + stay
    start = ctx.slot(rng, lot.timezone, NIGHT, ctx.end - total - HOUR)
    if start is None:
        return None
    subject = replace(s, counterpart_device_id=other.load_cell)
    return _inject(
        "double_pledge", b, subject, start, start + total, transit_s=transit, stay_s=stay
    )


def night_drive(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection | None:
    """1–3 hours, starting 23:00–02:00."""
    start = ctx.slot(rng, ctx.timezones[s.site_id or ""], LATE_NIGHT, ctx.end - 3 * HOUR)
    if start is None:
        return None
    return _inject("parked_moving", b, s, start, start + rng.uniform(HOUR, 3 * HOUR))


def slowdown(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
    """Falls over 60 % of the rest of the run (6 hours to 4 weeks); a payment is missed after."""
    start = ctx.anytime(rng)
    ramp = _clamp(0.6 * (ctx.end - start), 6 * HOUR, 28 * DAY)
    return _inject(
        "production_slowdown",
        b,
        s,
        start,
        None,
        ramp_s=ramp,
        floor=rng.uniform(0.35, 0.6),
        missed_after_s=ramp + rng.uniform(1 * DAY, 5 * DAY),
    )


def decline(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
    """A fall of 15–25 % over 14–21 days.

    When the run has room, the fall is over by its end and starts at most a fifth of the
    run before the latest start that allows it (so the line has history before it);
    otherwise it starts 10–40 % into the run and the run's end cuts it short.
    """
    ramp = rng.uniform(14 * DAY, 21 * DAY)
    fall = rng.uniform(0.15, 0.25)
    earliest = ctx.start + 0.1 * ctx.window
    latest = ctx.end - ramp
    if latest > earliest:
        start = rng.uniform(max(earliest, latest - 0.2 * ctx.window), latest)
    else:
        start = ctx.anytime(rng)
    return _inject("business_decline", b, s, start, None, ramp_s=ramp, floor=1.0 - fall)


def idle(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection | None:
    """From a weekday morning, for 1–5 days (less in short runs)."""
    tz = ctx.timezones[s.site_id or ""]
    start = ctx.slot(rng, tz, MORNING, ctx.end - 2 * HOUR, WEEKDAYS)
    if start is None:
        return None
    rest = ctx.end - start
    length = min(5 * DAY, max(DAY, 0.5 * rest), 0.8 * rest)
    return _inject("machine_idle", b, s, start, start + length)


def cold_chain(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection | None:
    """Refrigeration fails for 2–8 hours; the truth is the time out of band."""
    band = _lot_of(ctx, b, s).band
    if band is None:
        return None
    fail = ctx.anytime(rng)
    repair = fail + min(rng.uniform(2 * HOUR, 8 * HOUR), 0.5 * (ctx.end - fail))
    out, back = cold_chain_window(band, fail, repair)
    if back <= out:
        return None
    return _inject("cold_chain", b, s, out, back, fail=fail, repair=repair)


def tamper(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection | None:
    """At night, 30–90 minutes with the door open."""
    start = ctx.slot(rng, ctx.timezones[s.site_id or ""], NIGHT, ctx.end - 2 * HOUR)
    if start is None:
        return None
    return _inject("tamper_door", b, s, start, start + rng.uniform(0.5 * HOUR, 1.5 * HOUR))


def stuck(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
    """Half the rest of the run, 2 hours to 3 days."""
    start = ctx.anytime(rng)
    length = min(_clamp(0.5 * (ctx.end - start), 2 * HOUR, 3 * DAY), ctx.end - start)
    return _inject("stuck_values", b, s, start, start + length)


def replay(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection | None:
    """Messages of up to a day ago sent again for 30 minutes to 2 hours."""
    start = ctx.anytime(rng)
    lag = min(DAY, 0.9 * (start - ctx.start))
    device = next(d for d in b.devices if d.id == s.device_id)
    length = min(lag, rng.uniform(0.5 * HOUR, 2 * HOUR), ctx.end - start)
    if length < 3 * device.interval_s:
        return None
    return _inject("replay", b, s, start, start + length, lag_s=lag)


def spoof(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
    """Forged messages for 30 minutes to 2 hours."""
    start = ctx.anytime(rng)
    length = min(rng.uniform(0.5 * HOUR, 2 * HOUR), ctx.end - start)
    return _inject("spoof", b, s, start, start + length)


def gps_spoof(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
    """30 minutes to 6 hours at any time of day; half the time the fixes alternate between
    the real and the false place, half the time the false place is inside the fence."""
    start = ctx.anytime(rng)
    length = min(rng.uniform(0.5 * HOUR, 6 * HOUR), ctx.end - start)
    alternate, inside = rng.random() < 0.5, rng.random() < 0.5
    return _inject(
        "gps_spoof", b, s, start, start + length, alternate=float(alternate), inside=float(inside)
    )


def default(ctx: PlanContext, b: Borrower, s: Subject, rng: random.Random) -> Injection:
    """A missed payment, then default (65 %) or cure after half the rest of the run."""
    start = ctx.anytime(rng)
    gap = _clamp(0.5 * (ctx.end - start), HOUR, 60 * DAY)
    verdict = 1.0 if rng.random() < 0.65 else 0.0
    return _inject("borrower_default", b, s, start, start + gap, resolve_s=gap, default=verdict)
