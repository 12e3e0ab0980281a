"""The alert score orders alerts as a loan officer should act on them: severity first,
then money at risk (share of the loan), then age."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from devices.reading import Reading
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.engine.fleet_index import FleetIndex
from riskstream.rules.schema import RuleSet
from riskstream.scoring.alert_score import alert_score, apply, price, rescored
from tests.fleets import small_fleet

T0 = 1_795_000_000.0
DAY = 86_400.0
percents = st.integers(min_value=0, max_value=100)
ages = st.floats(min_value=0.0, max_value=10 * 365 * DAY, allow_nan=False)


@given(percents, ages, percents, ages)
def test_a_critical_always_outranks_a_warning_and_a_warning_an_info(
    p1: int, a1: float, p2: int, a2: float
) -> None:
    assert alert_score("critical", p1, a1) > alert_score("warning", p2, a2)
    assert alert_score("warning", p1, a1) > alert_score("info", p2, a2)


@given(st.sampled_from(["info", "warning", "critical"]), percents, ages)
def test_each_severity_keeps_to_its_band(severity: str, percent: int, age: float) -> None:
    low, high = {"info": (0, 32), "warning": (34, 66), "critical": (68, 100)}[severity]
    assert low <= alert_score(severity, percent, age) <= high


@given(st.sampled_from(["info", "warning", "critical"]), percents, percents, ages, ages)
def test_more_money_outranks_less_within_a_severity_whatever_the_age(
    severity: str, p1: int, p2: int, a1: float, a2: float
) -> None:
    if p1 > p2:
        assert alert_score(severity, p1, a1) > alert_score(severity, p2, a2)


@given(st.sampled_from(["info", "warning", "critical"]), percents, ages, ages)
def test_older_outranks_newer_at_equal_money(
    severity: str, percent: int, a1: float, a2: float
) -> None:
    if a1 > a2 + 1.0:
        assert alert_score(severity, percent, a1) > alert_score(severity, percent, a2)


def test_the_score_is_explained_by_its_figures() -> None:
    assert alert_score("critical", 0, 0.0) == 68.0
    assert alert_score("warning", 0, 0.0) == 34.0
    # half of one percent step after a day open; one percent step is 32/101 points
    assert abs(alert_score("critical", 50, DAY) - (68 + 32 * 50.5 / 101)) < 1e-9


def alert(kind: str, severity: str, subject: str, **more: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": kind,
        "tenant": "bank-a",
        "borrower_id": "b1",
        "loan_id": "b1-l1",
        "site_id": None,
        "device_id": None,
        "kind": kind,
        "subject": subject,
        "severity": severity,
        "status": "open",
        "opened_at": T0,
        "detected_at": T0,
        "updated_at": T0,
        "score": 100.0,
        "reasons": [],
        "evidence": {},
        "rule": f"rules.{kind}",
    }
    fields.update(more)
    return Alert(**fields)


def test_money_at_risk_is_the_shortfall_found_else_the_pledged_value_in_doubt() -> None:
    index = FleetIndex([small_fleet()])
    # b1's loan: EUR 5,000,000; its lot b1-c1 (1,000 t x 8,000) and its truck (90,000)
    short = price(
        alert("inventory_below_pledge", "critical", "b1-c1", evidence={"shortfall_value": 1.2e6}),
        index,
    )
    assert (short.money_at_risk, short.currency, short.exposure) == (1.2e6, "EUR", 5e6)
    assert short.percent == 24
    truck = price(alert("geofence_exit", "warning", "b1-d2", device_id="b1-d2"), index)
    assert (truck.money_at_risk, truck.percent) == (90_000.0, 1)
    silent = price(alert("device_silent", "warning", "b1-d1", device_id="b1-d1"), index)
    assert (silent.money_at_risk, silent.percent) == (8e6, 100)  # the whole lot in doubt
    nothing = price(alert("data_integrity", "info", "b1-x", loan_id=None), index)
    assert (nothing.money_at_risk, nothing.exposure) == (0.0, 5e6)


def test_apply_keeps_the_detectors_score_and_explains_the_alert_score() -> None:
    index = FleetIndex([small_fleet()])
    a = alert("geofence_exit", "warning", "b1-d2", device_id="b1-d2", detector_score=100.0)
    apply(a, index, T0 + 3600)
    assert a.detector_score == 100.0
    assert 34 < a.score < 35 and a.money_at_risk == 90_000.0 and a.money_at_risk_pct == 1
    assert a.score_basis == (
        "warning band 34–66; EUR 90,000 at risk = 1 % of EUR 5,000,000 lent; open 1.0 h"
    )
    older = rescored(a.to_dict(), T0 + 2 * DAY)
    assert older["score"] > a.score and older["money_at_risk"] == 90_000.0
    # a resolved alert ages no further
    done = rescored({**a.to_dict(), "resolved_at": T0 + 3600}, T0 + 9 * DAY)
    assert done["score"] == a.score
    # an alert stored before money at risk existed keeps its band
    legacy = rescored({**alert("x", "critical", "s").to_dict(), "money_at_risk": None}, T0)
    assert legacy["score"] == 68.0 and legacy["detector_score"] == 100.0


def test_the_engines_critical_shortfall_outranks_its_warning_silent_device() -> None:
    """The issue: a silent device (warning) scored 100 while inventory alerts (critical)
    scored 62-69."""
    engine = Engine([small_fleet()], RuleSet(), wall_clock=lambda: 42.0)
    changed: list[Alert] = []
    for minute in range(0, 90):
        ts = T0 + minute * 60
        noise = (minute % 3) * 0.1
        weight = 1_200_000.0 if minute < 10 else 850_000.0
        batch = [Reading("bank-a", "b1-d1", ts, "weight_kg", weight + noise, minute)]
        if minute < 20:  # b2's load cell goes silent after 20 minutes
            batch.append(Reading("bank-a", "b2-d1", ts, "weight_kg", 500_000.0 + noise, minute))
        changed += engine.process(batch)
        changed += engine.tick(ts)
    latest = {(a.kind, a.subject): a for a in changed}
    inventory = latest["inventory_below_pledge", "b1-c1"]
    silent = latest["device_silent", "b2-d1"]
    assert inventory.severity == "critical" and silent.severity == "warning"
    assert silent.detector_score is not None
    assert inventory.score >= 68 > 66 >= silent.score
    # 150 t missing of b1's lot (8,000 a tonne; the cell's noise: a hair less) of EUR 5 m
    assert inventory.money_at_risk is not None
    assert abs(inventory.money_at_risk - 1_200_000.0) < 10 and inventory.money_at_risk_pct == 23
    # b2's whole lot (400 t x 2,000) in doubt against its EUR 1 m loan
    assert silent.money_at_risk == 800_000.0 and silent.money_at_risk_pct == 80
