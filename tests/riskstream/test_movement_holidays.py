"""Stock leaving a lot on a public holiday of its site is out of hours, and holidays
are not learned into the lot's movement schedule."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devices.model import Fleet
from devices.reading import Reading
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet, parse_rules

KEY = b"test-checkpoint-key-0123456789abcdef"  # of the engine checkpoints

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 1, 5, tzinfo=BERLIN)  # three working weeks, then Monday the 26th
HOLIDAY = datetime(2026, 1, 27, tzinfo=BERLIN)  # a Tuesday
STOCK_KG = 120_000.0  # 100 t pledged
OUT_OF_HOURS = "collateral_moved_out_of_hours"
Weeks = tuple[int, int]  # (weeks seen, weeks moved) of an hour of week
LISTED = [
    '[calendar]\nholidays = ["01-27"]\n',  # every site, every year
    '[calendar.by_timezone]\n"Europe/Berlin" = ["2026-01-27"]\n',  # the site's zone, one year
]
NOT_LISTED = ["", '[calendar.by_timezone]\n"Europe/Paris" = ["01-27"]\n']  # another zone's


def fleet() -> Fleet:
    """One warehouse lot in Berlin on one load cell."""
    return Fleet.model_validate(
        {
            "tenant": {"id": "bank-h"},
            "borrowers": [
                {
                    "id": "h1",
                    "timezone": BERLIN.key,
                    "loans": [
                        {
                            "id": "h1-l1",
                            "principal": 500_000,
                            "collateral": [
                                {
                                    "id": "h1-c1",
                                    "quantity": 100,
                                    "unit": "t",
                                    "unit_value": 8000,
                                    "advance_rate": 0.7,
                                    "site": "h1-w1",
                                }
                            ],
                        }
                    ],
                    "sites": [{"id": "h1-w1", "kind": "warehouse", "timezone": BERLIN.key}],
                    "devices": [
                        {
                            "id": "h1-lc1",
                            "kind": "load_cell",
                            "site": "h1-w1",
                            "collateral": "h1-c1",
                        }
                    ],
                }
            ],
        }
    )


def weight(local: datetime, working: bool, taken_at: int | None) -> float:
    """Trucks every working hour 08-18 take 2 t out at :10-:20 and bring it back at
    :40-:50; from ``taken_at`` o'clock of the last day, 10 t are gone for good."""
    kg = STOCK_KG
    if working and 8 <= local.hour < 18:
        minute = local.minute
        kg -= 2000.0 * min(1.0, max(0.0, (minute - 10) / 10))
        kg += 2000.0 * min(1.0, max(0.0, (minute - 40) / 10))
    if taken_at is not None and local.hour >= taken_at:
        kg -= 10_000.0
    return kg + (local.minute % 7) * 0.3  # scale noise: never the same weight twice running


def stream(last_day_moves: bool, taken_at: int | None, until_hour: int = 14) -> list[Reading]:
    """Weights once a minute from MONDAY to HOLIDAY ``until_hour``; the weekdays
    before it work, the last day only if ``last_day_moves``."""
    out: list[Reading] = []
    minutes = int((HOLIDAY - MONDAY).total_seconds() // 60) + until_hour * 60
    for n in range(minutes):
        local = MONDAY + timedelta(minutes=n)
        last_day = local.date() == HOLIDAY.date()
        working = local.weekday() < 5 and (last_day_moves or not last_day)
        kg = weight(local, working, taken_at if last_day else None)
        out.append(Reading("bank-h", "h1-lc1", local.timestamp(), "weight_kg", kg, n))
    return out


def feed(engine: Engine, readings: Iterable[Reading]) -> list[Alert]:
    """Readings in ten-minute batches, timers after each; every alert change."""
    changed: list[Alert] = []
    batch: list[Reading] = []
    for r in readings:
        batch.append(r)
        if len(batch) == 10:
            changed += engine.process(batch) + engine.tick(r.ts)
            batch = []
    return changed + engine.process(batch)


def raised(alerts: list[Alert]) -> list[Alert]:
    """Out-of-hours alerts opened, each as first sent (later changes are updates)."""
    first: dict[str, Alert] = {}
    for a in alerts:
        if a.kind == OUT_OF_HOURS and a.status == "open":
            first.setdefault(a.id, a)
    return list(first.values())


def engine_for(rules: RuleSet) -> Engine:
    return Engine([fleet()], rules, wall_clock=lambda: 0.0)


def before(readings: list[Reading], when: datetime) -> int:
    return next(i for i, r in enumerate(readings) if r.ts >= when.timestamp())


@pytest.fixture(scope="module")
def taken_at_ten() -> list[Reading]:
    """Nothing moves on the Tuesday until 10 t leave at 10:00."""
    return stream(last_day_moves=False, taken_at=10)


@pytest.mark.parametrize("calendar", LISTED, ids=["every-site", "timezone-one-year"])
def test_stock_leaving_on_a_holiday_is_out_of_hours(
    taken_at_ten: list[Reading], calendar: str
) -> None:
    (alert,) = raised(feed(engine_for(parse_rules(calendar)), taken_at_ten))
    assert HOLIDAY + timedelta(hours=10) <= datetime.fromtimestamp(alert.opened_at, BERLIN)
    assert alert.opened_at < (HOLIDAY + timedelta(hours=10, minutes=15)).timestamp()
    assert "on Tuesday 2026-01-27, a public holiday of its site" in alert.reasons[0]
    assert alert.evidence["holiday"] == "2026-01-27"
    assert alert.evidence["hour_of_week"] == 24 + 10
    assert alert.evidence["weeks_moved"] == 3  # a busy hour on a working Tuesday


@pytest.mark.parametrize("calendar", NOT_LISTED, ids=["built-in", "other-timezone"])
def test_the_same_loss_on_a_working_tuesday_is_in_hours(
    taken_at_ten: list[Reading], calendar: str
) -> None:
    assert raised(feed(engine_for(parse_rules(calendar)), taken_at_ten)) == []


def test_a_holiday_added_by_a_live_reload_counts(taken_at_ten: list[Reading]) -> None:
    engine = engine_for(RuleSet())
    cut = before(taken_at_ten, HOLIDAY - timedelta(hours=12))
    alerts = feed(engine, taken_at_ten[:cut])
    engine.set_rules(parse_rules(LISTED[0]))
    alerts += feed(engine, taken_at_ten[cut:])
    assert len(raised(alerts)) == 1
    engine.set_rules(RuleSet())  # and dropped again: the next hours judge by the schedule
    assert engine.movement.calendar == RuleSet().calendar


def test_a_restored_checkpoint_keeps_the_current_calendar(
    taken_at_ten: list[Reading], tmp_path: Path
) -> None:
    cut = before(taken_at_ten, HOLIDAY - timedelta(hours=12))
    one = engine_for(RuleSet())  # written without the holiday...
    feed(one, taken_at_ten[:cut])
    one.checkpoint(tmp_path / "engine.ckpt", key=KEY)
    two = engine_for(parse_rules(LISTED[0]))  # ...restored under rules that have it
    two.restore(tmp_path / "engine.ckpt", key=KEY)
    assert two.movement.lots and two.movement.calendar.holidays == ["01-27"]
    assert len(raised(feed(two, taken_at_ten[cut:]))) == 1


def test_holiday_hours_are_not_learned() -> None:
    """A Tuesday closed all day: its hours keep the weeks learned before it."""
    readings = stream(last_day_moves=False, taken_at=None, until_hour=25)  # to Wednesday 01:00
    cut = before(readings, HOLIDAY)
    tuesday = range(24, 48)

    def across_the_holiday(rules: RuleSet) -> tuple[list[Weeks], list[Weeks]]:
        engine = engine_for(rules)
        feed(engine, readings[:cut])
        schedule = engine.movement.lots["h1-c1"].schedule
        rule = engine.movement.rule
        was = [schedule.weeks(slot, rule) for slot in tuesday]
        feed(engine, readings[cut:])
        return was, [schedule.weeks(slot, rule) for slot in tuesday]

    was, now = across_the_holiday(parse_rules(LISTED[0]))
    assert was[10] == (3, 3)  # Tuesday 10:00: three weeks seen, stock moved in each
    assert now == was
    was, now = across_the_holiday(RuleSet())
    assert now[10] == (4, 3)  # without the calendar, the closed day was learned as still
