"""Overrides per loan and tenant, cooldowns and escalation, on the real engine."""

from pathlib import Path

import pytest

from devices.reading import Reading
from riskstream.engine.core import Engine
from riskstream.errors import RulesFileError
from riskstream.rules.schema import RuleSet, parse_rules
from tests.fleets import small_fleet
from tests.riskstream.test_engine import INSIDE, OUTSIDE, T0, minute_readings

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.toml"


def rules(extra: str = "", **alerts: str) -> RuleSet:
    """The sample rules with short inventory timings, ``alerts`` tables and ``extra``."""
    text = SAMPLE.read_text()
    text = text.replace('for = "30m"\nclear_after = "1h"', 'for = "5m"\nclear_after = "5m"', 1)
    for table, body in alerts.items():
        header = f"[alerts.{table}]\n"
        start = text.index(header)
        end = text.index("\n[", start + len(header))
        text = text[:start] + header + body + "\n" + text[end:]
    return parse_rules(text + extra, "rules.toml")


def both_lots(minute: int, coverage: float) -> list[Reading]:
    """b1's lot (1,000 t pledged) and b2's lot (400 t) at the same coverage."""
    ts = T0 + minute * 60
    jitter = (minute % 3) * 0.1
    return [
        Reading("bank-a", "b1-d1", ts, "weight_kg", coverage * 1_000_000 + jitter, minute),
        Reading("bank-a", "b2-d1", ts, "weight_kg", coverage * 400_000 + jitter, minute),
        Reading("bank-a", "b1-d2", ts, "lat_deg", INSIDE[0], minute),
        Reading("bank-a", "b1-d2", ts, "lon_deg", INSIDE[1], minute),
    ]


def run_lots(e: Engine, minutes: range, coverage: float) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for m in minutes:
        out += [a.to_dict() for a in e.process(both_lots(m, coverage))]
        out += [a.to_dict() for a in e.tick(T0 + m * 60)]
    return out


LOAN_OVERRIDE = """
[[overrides]]
loan = "b1-l1"
[overrides.rules.inventory_below_pledge]
coverage_below = 0.8
clear_above = 0.82
"""


def inventory_borrowers(changes: list[dict[str, object]]) -> set[object]:
    return {c["borrower_id"] for c in changes if c["kind"] == "inventory_below_pledge"}


def test_loan_override_changes_the_threshold_of_that_loan_only() -> None:
    plain = Engine([small_fleet()], rules(), wall_clock=lambda: 42.0)
    assert inventory_borrowers(run_lots(plain, range(0, 20), 0.85)) == {"b1", "b2"}

    scoped = Engine([small_fleet()], rules(LOAN_OVERRIDE), wall_clock=lambda: 42.0)
    assert scoped.scope.of("bank-a", "b1-l1").inventory_below_pledge.coverage_below == 0.8
    assert scoped.scope.of("bank-a", "b2-l1").inventory_below_pledge.coverage_below == 0.9
    assert inventory_borrowers(run_lots(scoped, range(0, 20), 0.85)) == {"b2"}
    # below the loan's own threshold it alerts, with the loan's threshold as evidence
    changes = run_lots(scoped, range(20, 40), 0.7)
    b1 = [c for c in changes if c["borrower_id"] == "b1"]
    assert b1 and b1[0]["evidence"]["threshold_coverage"] == 0.8  # type: ignore[index]
    # after a batch the detectors are back on the file's rules
    assert scoped.inventory.rule.coverage_below == 0.9


def test_tenant_override_and_deadman_override_applied_live() -> None:
    e = Engine([small_fleet()], rules(), wall_clock=lambda: 42.0)
    run_lots(e, range(0, 5), 1.2)
    e.set_rules(
        rules(
            """
[[overrides]]
tenant = "bank-a"
[overrides.rules.inventory_below_pledge]
enabled = false

[[overrides]]
loan = "b2-l1"
[overrides.rules.device_silent]
enabled = false

[[overrides]]
loan = "no-such-loan"
[overrides.rules.geofence_exit]
for = "1m"
"""
        )
    )
    assert e.scope.warnings == ["overrides.2 (loan 'no-such-loan') matches no registered loan"]
    assert inventory_borrowers(run_lots(e, range(5, 20), 0.5)) == set()
    # b1's truck and load cell go silent; b2's load cell too, but its loan opts out
    silent = []
    for m in range(20, 60):
        silent += [a.to_dict() for a in e.tick(T0 + m * 60)]
    assert {c["device_id"] for c in silent if c["kind"] == "device_silent"} == {"b1-d1", "b1-d2"}


@pytest.mark.parametrize(
    ("override", "line", "field", "reason"),
    [
        ("[overrides.rules.inventory_below_pledge]\ncoverage_below = 0", 5, "below", "greater"),
        (
            "[overrides.rules.inventory_below_pledge]\ncovrage_below = 1",
            5,
            "covrage_below",
            "unknown",
        ),
        ("[overrides.rules.inventory]\nenabled = false", 4, "inventory", "unknown rule"),
        ("[overrides.rules.values_stuck]\nmetrics = []", 5, "metrics", "whole service"),
        ("[overrides.rules.anomaly]\nn_trees = 5", 5, "n_trees", "whole service"),
        ("[overrides.rules.anomaly.series]\nmethod = 'hst'", 4, "series", "whole service"),
        ("[overrides.rules.pledged_elsewhere]\nmin_facts = 4", 5, "min_facts", "whole service"),
    ],
)
def test_override_errors_name_line_and_field(
    override: str, line: int, field: str, reason: str
) -> None:
    base = SAMPLE.read_text()
    text = f'{base}\n[[overrides]]\nloan = "b1-l1"\n{override}\n'
    with pytest.raises(RulesFileError) as info:
        parse_rules(text, "rules.toml")
    error = info.value
    offset = len(base.splitlines())
    assert error.line == offset + line, (error.line, offset, str(error))
    assert error.field is not None and error.field.startswith("overrides.0.")
    assert error.field.endswith(field)
    assert reason in str(error)


def test_override_without_scope_and_unknown_alert_kind_are_refused() -> None:
    with pytest.raises(RulesFileError, match="needs `tenant`, `loan` or both"):
        parse_rules(
            SAMPLE.read_text() + "\n[[overrides]]\n[overrides.rules.geofence_exit]\nfor = 1\n"
        )
    with pytest.raises(RulesFileError) as info:
        rules(cooldown='default = "0s"\ngeofence = "1h"')
    assert info.value.field == "alerts.cooldown" and "unknown alert kind 'geofence'" in str(
        info.value
    )


def flapping(e: Engine) -> list[dict[str, object]]:
    """b1's lot: low 10–20, fine 21–30, low 31–40, fine 41–50, low from 51 to 160."""
    out: list[dict[str, object]] = []
    for m in range(0, 160):
        low = 10 <= m <= 20 or 31 <= m <= 40 or m >= 51
        out += [
            a.to_dict()
            for a in e.process(minute_readings(m, 850.0 if low else 1200.0, INSIDE))
            + e.tick(T0 + m * 60)
        ]
    return [c for c in out if c["kind"] == "inventory_below_pledge"]


def test_without_cooldown_every_recurrence_is_a_new_alert() -> None:
    changes = flapping(Engine([small_fleet()], rules(), wall_clock=lambda: 42.0))
    assert len({c["id"] for c in changes}) == 3


def test_cooldown_counts_recurrences_and_alerts_if_the_condition_outlasts_it() -> None:
    e = Engine([small_fleet()], rules(cooldown='default = "0s"\ninventory_below_pledge = "2h"'))
    changes = flapping(e)
    first = changes[0]
    assert first["status"] == "open" and first["updated_at"] == T0 + 15 * 60
    resolved = [c for c in changes if c["id"] == first["id"] and c["status"] == "resolved"]
    # resolved at 26; recurrences at 36 and 56 are counted on the resolved alert
    assert [c["evidence"]["suppressed_recurrences"] for c in resolved[1:]] == [1, 2]  # type: ignore[index]
    assert "no new alert during the cooldown" in resolved[-1]["reasons"][-1]  # type: ignore[index]
    others = [c for c in changes if c["id"] != first["id"]]
    # nothing new until the cooldown ends (26 + 120 min); the condition still holds then
    assert others and min(c["updated_at"] for c in others) == T0 + 146 * 60  # type: ignore[type-var]
    assert len({c["id"] for c in others}) == 1
    assert others[0]["opened_at"] == T0 + 51 * 60
    assert f"recurred 2× during the cooldown after alert {first['id']}" in others[0]["reasons"][-1]  # type: ignore[index]


def geofence_changes(
    e: Engine, minutes: range, ack_at: int | None = None
) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for m in minutes:
        pos = OUTSIDE if m >= 10 else INSIDE
        out += [
            a.to_dict() for a in e.process(minute_readings(m, 1200.0, pos)) + e.tick(T0 + m * 60)
        ]
        if m == ack_at:
            for alert in e.open_alerts():
                e.book.acknowledge(alert.id)
    return [c for c in out if c["kind"] == "geofence_exit"]


def test_unacknowledged_alert_escalates_one_step_with_a_reason() -> None:
    e = Engine([small_fleet()], rules(escalate_after='default = "0s"\ngeofence_exit = "30m"'))
    changes = geofence_changes(e, range(0, 120))
    assert changes[0]["severity"] == "warning" and changes[0]["updated_at"] == T0 + 15 * 60
    escalated = [c for c in changes if c["severity"] == "critical"]
    assert escalated[0]["updated_at"] == T0 + 45 * 60
    note = "escalated to critical: not acknowledged for 30 min"
    assert note in escalated[0]["reasons"]  # type: ignore[operator]
    # later updates keep the raised severity and the reason; critical goes no higher
    assert all(c["severity"] == "critical" and note in c["reasons"] for c in escalated)  # type: ignore[operator]
    assert [c["severity"] for c in changes].count("warning") == 7  # opened, updates every 5 min


def test_acknowledged_alert_does_not_escalate() -> None:
    e = Engine([small_fleet()], rules(escalate_after='default = "30m"'))
    changes = geofence_changes(e, range(0, 120), ack_at=20)
    assert changes and {c["severity"] for c in changes} == {"warning"}
    later = [c["status"] for c in changes if c["updated_at"] > T0 + 20 * 60]  # type: ignore[operator]
    assert later and set(later) == {"acknowledged"}
