"""Loan outcomes: missed payments, defaults and cures, as the lender's core system reports them.

They are messages rather than telemetry, the labels the online models learn from, and
are written as JSON lines (``ts, tenant, borrower_id, loan_id, event``): the body that
``POST /api/loan-events`` takes.

Every loan has a monthly due date (a day of the month, 17:00 local). At each due date
inside the run a current loan misses its payment with a small monthly probability
that depends on the borrower's quality and grows while an operational scenario is
under way (a production slowdown, a business in decline or a drained lot raise it
most); a loan in arrears is cured with some probability, or misses again, and defaults
at the third miss in a row.
The scenarios fall in three families, as a lender's credit matrix sees them: collateral
(goods gone or pledged twice), operations (the plant slowing or idle) and conduct
(vehicles, doors, devices and data handled badly). A borrower's risk multiplier is the
product over families of the largest multiplier of that family's scenarios under way,
so a borrower in trouble on two fronts misses more than one in trouble on one.
So outcomes follow the scenarios without being decided by them: most hit borrowers pay
on time and some untouched ones do not. Two scenarios force events:
``production_slowdown`` ends in a missed payment 1–5 days after the fall, and
``borrower_default`` is a missed payment followed by default or cure.
"""

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import orjson

from devices.model import Borrower, Fleet, Loan
from simulator.injection import Injection

LoanEventKind = Literal["payment_missed", "default", "cured"]

MONTHLY_MISS = 0.01
CURE = 0.5
MISSES_TO_DEFAULT = 3
DUE_HOUR = 17
FAMILY_RISK: dict[str, dict[str, float]] = {
    "collateral": {
        "double_pledge": 10.0,
        "inventory_drain": 8.0,
        "inventory_removal": 8.0,
        "unregistered_move": 8.0,
        "salami_theft": 5.0,
        "cold_chain": 2.0,
    },
    "operations": {
        "production_slowdown": 12.0,
        "business_decline": 8.0,
        "machine_idle": 5.0,
    },
    "conduct": {
        "tamper_door": 4.0,
        "geofence_exit": 3.0,
        "gps_spoof": 3.0,
        "spoof": 3.0,
        "replay": 3.0,
        "device_silent": 2.5,
        "parked_moving": 2.0,
        "stuck_values": 2.0,
        "cell_fault": 1.5,
    },
}
RISK: dict[str, float] = {k: v for family in FAMILY_RISK.values() for k, v in family.items()}
FAMILY: dict[str, str] = {k: name for name, family in FAMILY_RISK.items() for k in family}


@dataclass(frozen=True, slots=True)
class LoanEvent:
    """One loan outcome."""

    ts: float
    tenant: str
    borrower_id: str
    loan_id: str
    event: LoanEventKind


def _due_dates(tz: str, day: int, start: float, end: float) -> list[float]:
    zone = ZoneInfo(tz)
    first = dt.datetime.fromtimestamp(start, zone)
    year, month = first.year, first.month
    out: list[float] = []
    while True:
        last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
        ts = dt.datetime(year, month, min(day, last), DUE_HOUR, tzinfo=zone).timestamp()
        if ts >= end:
            return out
        if ts >= start:
            out.append(ts)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


class _LoanBook:
    """The payment state of one loan as events are decided."""

    def __init__(self, tenant: str, borrower: Borrower, loan: Loan) -> None:
        self.tenant = tenant
        self.borrower = borrower
        self.loan = loan
        self.streak = 0
        self.defaulted = False
        self.events: list[LoanEvent] = []

    def record(self, ts: float, event: LoanEventKind) -> None:
        self.events.append(
            LoanEvent(round(ts, 3), self.tenant, self.borrower.id, self.loan.id, event)
        )

    def miss(self, ts: float) -> None:
        if self.defaulted:
            return
        self.streak += 1
        self.record(ts, "payment_missed")
        if self.streak >= MISSES_TO_DEFAULT:
            self.defaulted = True
            self.record(ts, "default")

    def due(self, ts: float, p_miss: float, rng: random.Random, risk: float) -> None:
        if self.defaulted:
            return
        if self.streak and rng.random() < CURE / risk:
            self.streak = 0
            self.record(ts, "cured")
        elif self.streak or rng.random() < p_miss:
            self.miss(ts)


def _risk(scenarios: Sequence[str]) -> float:
    """Product over families of the largest multiplier among ``scenarios`` under way."""
    worst: dict[str, float] = {}
    for scenario in scenarios:
        family = FAMILY.get(scenario)
        if family is not None:
            worst[family] = max(worst.get(family, 1.0), RISK[scenario])
    risk = 1.0
    for value in worst.values():
        risk *= value
    return risk


def loan_events(
    fleet: Fleet, injections: Sequence[Injection], start_ts: float, end_ts: float, seed: int
) -> list[LoanEvent]:
    """Loan outcomes in ``[start_ts, end_ts)`` for ``fleet`` hit by ``injections``.

    Returns:
        Events ordered by time, then borrower and loan.
    """
    tenant = fleet.tenant.id
    hits: dict[str, list[Injection]] = {}
    for inj in injections:
        hits.setdefault(inj.borrower_id, []).append(inj)
    events: list[LoanEvent] = []
    for borrower in fleet.borrowers:
        mine = hits.get(borrower.id, [])
        for loan in borrower.loans:
            book = _LoanBook(tenant, borrower, loan)
            forced = [i for i in mine if i.scenario == "borrower_default" and i.loan_id == loan.id]
            if forced:
                inj = forced[0]
                book.record(inj.start_ts, "payment_missed")
                verdict: LoanEventKind = "default" if inj.param("default") >= 0.5 else "cured"
                resolved = inj.end_ts or inj.start_ts + inj.param("resolve_s")
                if resolved < end_ts:
                    book.record(resolved, verdict)
                events.extend(book.events)
                continue
            rng = random.Random(f"{seed}:{loan.id}:outcomes")
            quality = rng.lognormvariate(0.0, 0.5)
            due_day = rng.randint(1, 28)
            points: list[tuple[float, str]] = [
                (ts, "due") for ts in _due_dates(borrower.timezone, due_day, start_ts, end_ts)
            ]
            for inj in mine:
                if inj.scenario == "production_slowdown" and inj.loan_id == loan.id:
                    missed = inj.start_ts + inj.param("missed_after_s")
                    if missed < end_ts:
                        points.append((missed, "miss"))
            for ts, what in sorted(points):
                risk = _risk([i.scenario for i in mine if i.start_ts <= ts])
                if what == "miss":
                    if not book.streak:
                        book.miss(ts)
                else:
                    book.due(ts, min(0.9, MONTHLY_MISS * quality * risk), rng, risk)
            events.extend(book.events)
    events.sort(key=lambda e: (e.ts, e.borrower_id, e.loan_id))
    return events


def write_outcomes(events: Sequence[LoanEvent], path: Path | str) -> None:
    """Write loan events as JSON lines: ``ts, tenant, borrower_id, loan_id, event``."""
    with Path(path).open("wb") as f:
        for e in events:
            line = {
                "ts": e.ts,
                "tenant": e.tenant,
                "borrower_id": e.borrower_id,
                "loan_id": e.loan_id,
                "event": e.event,
            }
            f.write(orjson.dumps(line) + b"\n")
