"""Which credit matrix component each alert kind counts in: declared by its detector's rule
model, collected by the registry, and the same as the matrix counted before it was."""

from typing import ClassVar

import pytest

from riskstream.detectors.inventory import InventoryDetector
from riskstream.detectors.registry import REGISTRY, DetectorSpec, alert_kinds, matrix_components
from riskstream.rules.fields import AlertComponent, Enabled, RuleTable
from riskstream.rules.schema import tables_of
from riskstream.scoring.components import component_of_kind, components
from tests.riskstream.test_credit_matrix import alert, by_name, facts

AS_HAND_WRITTEN = {
    "collateral": {
        "inventory_below_pledge",
        "inventory_slow_loss",
        "double_pledge",
        "cold_chain_excursion",
        "geofence_exit",
    },
    "operations": {"production_slowdown", "machine_idle", "production_drift", "production_decline"},
    "conduct": {
        "collateral_moved_out_of_hours",
        "vehicle_moving_when_parked",
        "position_implausible",
        "data_integrity",
        "messages_lost",
        "values_stuck",
        "load_cell_fault",
        "device_silent",
    },
    # no rule of the hand-written matrix named these: they counted as behaviour
    "behaviour": {"anomaly", "pledged_elsewhere"},
}
"""riskstream/scoring/components.py's kind sets before the registry declared them."""


def test_every_built_in_kind_counts_where_the_hand_written_matrix_counted_it() -> None:
    derived = matrix_components()
    assert set(derived) == alert_kinds()
    for component, kinds in AS_HAND_WRITTEN.items():
        for kind in kinds:
            assert derived[kind] == component_of_kind(kind) == component, kind


def test_custom_rules_kinds_count_as_behaviour() -> None:
    assert component_of_kind("silo_level_low") == "behaviour"
    assert component_of_kind("") == "behaviour"


def test_one_open_alert_of_each_kind_scores_as_before() -> None:
    """15/40/70 points per open alert in its kind's component, capped at 100."""
    kinds_then = sorted(k for kinds in AS_HAND_WRITTEN.values() for k in kinds)
    open_alerts = [alert(kind, "info", f"d-{kind}") for kind in kinds_then]
    parts = by_name(components(facts(alerts=open_alerts), now=0.0))
    for component, kinds in AS_HAND_WRITTEN.items():
        # collateral: no lot and no volatility in these facts, so its alerts only
        assert parts[component].score == min(100.0, 15.0 * len(kinds)), component
        named = [r for r in parts[component].reasons if r.startswith("open info alert")]
        assert {r.split()[3] for r in named} == kinds


class _SiloRule(RuleTable):
    """A made-up detector's table: silo level below its pledge."""

    matrix_component: ClassVar[AlertComponent] = "collateral"

    enabled: Enabled = True


class _Undeclared(RuleTable):
    """A table that forgot its component."""

    enabled: Enabled = True


def _spec(kind: str, rule: type[RuleTable]) -> DetectorSpec:
    return DetectorSpec.one_rule("silo", kind, rule, lambda index, r: InventoryDetector(index, r))


def test_a_new_detector_declares_its_component_in_its_rule_model_only() -> None:
    specs = (*REGISTRY, _spec("silo_below_pledge", _SiloRule))
    assert matrix_components(specs)["silo_below_pledge"] == "collateral"
    assert tables_of(specs)["silo_below_pledge"] is _SiloRule


def test_a_rule_model_without_a_component_is_refused_naming_it() -> None:
    with pytest.raises(RuntimeError, match="_Undeclared names no credit matrix component"):
        tables_of((_spec("silo_forgot", _Undeclared),))
