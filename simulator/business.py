"""How one borrower does business: hours, shifts, working days, seasons and paydays.

A `BusinessProfile` is derived from what the fleet file says about a borrower (its
industry, timezone and where its sites are) and the seed, so hand-written fleets get
one too. Every signal model of the borrower reads the same profile: goods move in its
business hours on its working days, plants run its shifts, stock and output follow
its season, consumer goods leave faster in the days after paydays.
"""

import math
import random
from dataclasses import dataclass

from devices.model import Borrower, SiteKind
from simulator.catalog import DEFAULT_HOLIDAYS, HOLIDAYS, industry
from simulator.clock import LocalDay

STOCK_FLOOR = 1.10  # normal business never takes a lot below this share of its pledge
STOCK_CAP = 1.50  # ...nor above this one
DAYS_PER_YEAR = 365.25
PAYDAY_WINDOW_DAYS = 3


@dataclass(frozen=True, slots=True)
class BusinessProfile:
    """A borrower's operating pattern.

    Attributes:
        open_h: local hour goods start moving on a working day.
        close_h: local hour the warehouse closes.
        shift_start_h: local hour production starts.
        shift_end_h: local hour production stops (24 for round the clock).
        workdays: weekdays (Monday 0) the business works.
        holidays: (month, day) public holidays on which it does not.
        season_peak_doy: day of year of the yearly peak of stock and output.
        season_amplitude: relative size of the yearly cycle.
        paydays: days of the month after which consumer demand rises (0: last day).
        payday_boost: extra outflow after paydays, relative.
        stock_low: lowest normal closing stock, share of the pledge.
        stock_high: highest normal closing stock, share of the pledge.
        turnover: share of the stock shipped on a working day.
        truck_kg: goods per truck load.
    """

    open_h: float
    close_h: float
    shift_start_h: float
    shift_end_h: float
    workdays: frozenset[int]
    holidays: frozenset[tuple[int, int]]
    season_peak_doy: float
    season_amplitude: float
    paydays: tuple[int, ...]
    payday_boost: float
    stock_low: float
    stock_high: float
    turnover: float
    truck_kg: float

    def is_workday(self, day: LocalDay) -> bool:
        """Whether the business works on ``day`` (weekday and no public holiday)."""
        return day.weekday in self.workdays and (day.month, day.mday) not in self.holidays

    def in_business_hours(self, day: LocalDay, hour: float) -> bool:
        """Whether goods may move at local ``hour`` of ``day``."""
        return self.open_h <= hour < self.close_h and self.is_workday(day)

    def in_shift(self, day: LocalDay, hour: float) -> bool:
        """Whether the plant runs at local ``hour`` of ``day``."""
        return self.shift_start_h <= hour < self.shift_end_h and self.is_workday(day)

    def season(self, day: LocalDay) -> float:
        """Yearly cycle factor around 1 for ``day``."""
        phase = 2.0 * math.pi * (day.yday - self.season_peak_doy) / DAYS_PER_YEAR
        return 1.0 + self.season_amplitude * math.cos(phase)

    def after_payday(self, day: LocalDay) -> bool:
        """Whether ``day`` falls within a few days after a payday."""
        for payday in self.paydays:
            first = day.month_days if payday == 0 else payday
            if 0 <= day.mday - first < PAYDAY_WINDOW_DAYS:
                return True
            if payday == 0 and day.mday < PAYDAY_WINDOW_DAYS - 1:
                return True
        return False


def _southern(borrower: Borrower) -> bool:
    for site in borrower.sites:
        if site.location is not None:
            return site.location[0] < 0
    return False


def business_profile(borrower: Borrower, seed: int) -> BusinessProfile:
    """The operating pattern of ``borrower``; the same inputs give the same profile."""
    kind = industry(borrower.industry)
    rng = random.Random(f"{seed}:{borrower.id}:business")
    open_h = float(rng.choice((6, 7, 8)))
    close_h = open_h + float(rng.choice((9, 10, 11)))
    shifts = rng.choice(kind.shifts)
    if shifts >= 3:
        shift_start, shift_end = 0.0, 24.0
    elif shifts == 2:
        shift_start, shift_end = 6.0, 22.0
    else:
        shift_start, shift_end = open_h, open_h + 8.0
    workdays = {0, 1, 2, 3, 4}
    if rng.random() < kind.saturday:
        workdays.add(5)
    if rng.random() < kind.sunday:
        workdays.add(6)
    has_plant = any(s.kind is SiteKind.PRODUCTION_LINE for s in borrower.sites)
    if has_plant and shifts >= 3:
        workdays |= {5, 6}
    timezone = borrower.timezone
    if timezone == "UTC" and borrower.sites:
        timezone = borrower.sites[0].timezone
    peak = kind.season_peak_doy + (DAYS_PER_YEAR / 2 if _southern(borrower) else 0.0)
    low = rng.uniform(1.15, 1.25)
    return BusinessProfile(
        open_h=open_h,
        close_h=close_h,
        shift_start_h=shift_start,
        shift_end_h=shift_end,
        workdays=frozenset(workdays),
        holidays=frozenset(HOLIDAYS.get(timezone, DEFAULT_HOLIDAYS)),
        season_peak_doy=peak % DAYS_PER_YEAR,
        season_amplitude=kind.season_amplitude * rng.uniform(0.7, 1.3),
        paydays=rng.choice(((1, 15), (15, 0), (0,))),
        payday_boost=kind.payday_boost * rng.uniform(0.5, 1.5),
        stock_low=low,
        stock_high=min(1.45, low + rng.uniform(0.1, 0.2)),
        turnover=rng.uniform(0.03, 0.12),
        truck_kg=float(rng.choice((20_000, 24_000, 26_000))),
    )
