"""Reasons and evidence of stock leaving a lot out of hours."""

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from riskstream.detectors.findings import lot_finding
from riskstream.detectors.lot_moves import LotState
from riskstream.detectors.lot_schedule import default_quiet
from riskstream.detectors.production_line import WEEKDAYS
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Finding
from riskstream.engine.fleet_index import CollateralContext

if TYPE_CHECKING:
    from riskstream.detectors.movement import MovementDetector

KIND = "collateral_moved_out_of_hours"


def _local(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%H:%M")


def _holiday(
    detector: "MovementDetector", state: LotState, ts: float, zone: ZoneInfo
) -> str | None:
    """The local date of ``ts`` if a public holiday, not the lot's schedule, made it quiet."""
    day = datetime.fromtimestamp(ts, zone).date()
    if detector.calendar.is_holiday(zone.key, day) and not state.schedule.quiet(
        state.slot, detector.rule
    ):
        return day.isoformat()
    return None


def _usual(detector: "MovementDetector", state: LotState, holiday: str | None) -> str:
    rule = detector.rule
    seen, _ = state.schedule.weeks(state.slot, rule)
    day, hour = divmod(state.slot, 24)
    if holiday is not None:
        return (
            f"on {WEEKDAYS[day]} {holiday}, a public holiday of its site ([calendar]), "
            "when this lot's stock is not expected to move"
        )
    when = f"on a {WEEKDAYS[day]} between {hour:02d}:00 and {(hour + 1) % 24:02d}:00"
    if seen >= rule.min_weeks:
        return f"when this lot's stock has not moved {when} in the last {seen} weeks"
    if default_quiet(state.slot, rule):
        return (
            f"{when}: out of hours until this lot's own hours are learned "
            f"(nights {rule.night_start_hour:02d}:00–{rule.night_end_hour:02d}:00)"
        )
    return f"{when}, when this lot's stock has not moved so far"


def _corroboration(
    detector: "MovementDetector", lot: CollateralContext, state: LotState
) -> list[str]:
    reasons = []
    doors = detector.doors_of(lot.collateral.site)
    if doors:
        if state.door_open_s > 0 and state.door_since is not None:
            reasons.append(
                f"door open {format_duration(state.door_open_s)} since {clock(state.door_since)}"
            )
        else:
            reasons.append("door closed throughout")
    if detector.gates_of(lot.collateral.id):
        counted = state.gate_out
        tail = ": the goods left past the gate unseen" if counted == 0 else ""
        reasons.append(f"gate counted {counted:,.0f} units out{tail}")
    return reasons


def out_of_hours(
    detector: "MovementDetector",
    lot: CollateralContext,
    state: LotState,
    level: float,
    drop_kg: float,
    since: float,
    ts: float,
    zone: ZoneInfo,
) -> Finding:
    """The finding of stock falling ``drop_kg`` below the level its quiet stretch began at."""
    c = lot.collateral
    assert lot.kg_per_unit is not None
    pledge_kg = c.quantity * lot.kg_per_unit
    on_hand = level / lot.kg_per_unit
    coverage = on_hand / c.quantity
    fell = drop_kg / lot.kg_per_unit
    share = drop_kg / pledge_kg
    began = state.calm_ts
    holiday = _holiday(detector, state, ts, zone)
    what = f"{fell:,.1f} {c.unit}"
    if c.handling_unit_kg:
        what = f"{drop_kg / c.handling_unit_kg:,.0f} handling units ({what})"
    reasons = [
        f"{what}, {share:.0%} of the pledge, left lot {c.id} between {_local(began, zone)} "
        f"and {_local(ts, zone)} local time, {_usual(detector, state, holiday)}",
        f"on hand {on_hand:,.1f} {c.unit} is {coverage:.0%} of the pledged "
        f"{c.quantity:,.1f} {c.unit}; falling since {clock(began)}",
        *_corroboration(detector, lot, state),
    ]
    seen, moved = state.schedule.weeks(state.slot, detector.rule)
    return lot_finding(
        lot,
        kind=KIND,
        severity=detector.rule.severity,
        score=50.0 + 100.0 * share,
        reasons=reasons,
        evidence={
            "collateral_id": c.id,
            "fell": round(fell, 3),
            "fell_share": round(share, 4),
            "unit": c.unit,
            "on_hand": round(on_hand, 3),
            "coverage": round(coverage, 4),
            "pledged_quantity": c.quantity,
            "quiet_since": state.ref_ts,
            "falling_since": began,
            "hour_of_week": state.slot,
            "holiday": holiday,
            "weeks_seen": seen,
            "weeks_moved": moved,
            "threshold_share": detector.rule.drop_share,
            "for_s": detector.rule.for_,
            "door_open_s": state.door_open_s,
            "gate_out_units": state.gate_out,
            "doors": detector.doors_of(c.site),
            "gates": detector.gates_of(c.id),
            "since": since,
            "ts": ts,
        },
    )
