"""The ``[rules.*]`` tables come from the detector registry: each registered detector's
rule models, read back typed with `Rules.table`; and the schema, the registry and every
detector module import in any order (the schema imports the registry, so no detector may
import the schema when it runs)."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import riskstream.detectors
import riskstream.engine
from riskstream.detectors.inventory import InventoryRule
from riskstream.detectors.registry import REGISTRY, DetectorSpec
from riskstream.detectors.stuck_values import StuckValuesRule
from riskstream.rules.fields import RuleTable
from riskstream.rules.schema import TABLES, Rules, RuleSet, parse_rules, tables_of

ROOT = Path(__file__).resolve().parents[2]


def test_every_registered_table_is_a_rules_table_in_registry_order() -> None:
    registered = [kind for spec in REGISTRY for kind in spec.tables]
    assert list(Rules.model_fields) == [*registered, "custom"]
    for spec in REGISTRY:
        for kind, model in spec.tables.items():
            assert Rules.model_fields[kind].annotation is model
            assert issubclass(model, RuleTable)
            assert model.__module__.startswith("riskstream.detectors."), model


def test_a_table_is_read_typed_by_its_model_and_follows_the_file() -> None:
    rules = parse_rules("[rules.inventory_below_pledge]\ncoverage_below = 0.5\n").rules
    table = rules.table(InventoryRule)
    assert isinstance(table, InventoryRule) and table.coverage_below == 0.5
    assert RuleSet().rules.table(StuckValuesRule) == StuckValuesRule()
    with pytest.raises(KeyError):
        rules.table(RuleTable)  # a model no detector registered


def _spec(name: str, tables: dict[str, type[RuleTable]]) -> DetectorSpec:
    return DetectorSpec(name=name, tables=tables, make=lambda *_: None, use_rules=lambda *_: None)


def test_two_detectors_claiming_one_table_or_a_reserved_name_are_refused() -> None:
    with pytest.raises(RuntimeError, match=r"\[rules.inventory_below_pledge\].*twice"):
        tables_of([*REGISTRY, _spec("again", {"inventory_below_pledge": InventoryRule})])
    with pytest.raises(RuntimeError, match="twice"):  # one model under a second name
        tables_of([*REGISTRY, _spec("again", {"stock_low": InventoryRule})])
    for reserved in ("custom", "table"):
        with pytest.raises(RuntimeError, match="taken by the rules file"):
            tables_of([_spec("x", {reserved: InventoryRule})])
    assert tables_of(REGISTRY) == TABLES


def _modules() -> list[str]:
    """The detectors, the engine and the rules modules the schema is built from (the rest
    of `riskstream.rules` sits on the service's tables, which one process defines once)."""
    found = [f"riskstream.rules.{name}" for name in ("fields", "settings", "scope", "schema")]
    for package in (riskstream.detectors, riskstream.engine):
        found.append(package.__name__)
        found += [m.name for m in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
    return sorted(found)


def test_each_module_imports_first_without_a_cycle() -> None:
    """In one fresh interpreter, each module is imported first with nothing of
    riskstream loaded (a cycle shows as a partially initialised module)."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'riskstream']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    modules = _modules()
    assert "riskstream.rules.schema" in modules and "riskstream.detectors.registry" in modules
    done = subprocess.run(
        [sys.executable, "-c", script, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
