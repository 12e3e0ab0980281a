"""One contract for every registered detector, as river checks every estimator.

For each detector of `riskstream.detectors.registry.REGISTRY` that names a simulator
scenario it detects, a simulated fleet with that scenario injected must raise the
detector's alerts; with its rules disabled, in the file or by an override for the
lender, it stays silent; an alert is raised no sooner than the rule's ``for`` after its
evidence began; a checkpoint taken halfway and restored gives the same alerts as a run
that never stopped; and the same fleet without scenarios raises none of its alerts. A
new detector is covered by adding its registry entry. Runs are 3 days of the whole fleet,
unless `SETUPS` gives a detector longer ones (on a fleet cut down to what it watches).
Each run is replayed once under the default rules, and its alerts shared by the tests
that judge them (the clean fleet's by every detector's).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devices.model import Fleet
from ingest.integrity import IntegritySignal
from riskstream.backtest import read_telemetry
from riskstream.backtest.replay import AlertLog, batches, feed, integrity_signals
from riskstream.backtest.telemetry_file import Telemetry
from riskstream.detectors.registry import REGISTRY, DetectorSpec
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet, parse_rules
from simulator import generate_fleet, plan_scenarios
from simulator.run import run_to_file
from simulator.telemetry import generate
from simulator.vehicle import EXIT_LEAD_S
from tests.fleets import production_lines
from tests.riskstream.backtest_data import DAY, START

SEED = 7
BORROWERS = 12
DAYS = 3.0
KEY = b"c" * 32
# a detector of the platform's match across lenders is tested with two lenders
# (tests/riskstream/test_pledged_elsewhere.py)
SPECS = [spec for spec in REGISTRY if spec.detects and not spec.across_lenders]
# fleets whose lots have 1–4 load cells: for the scenarios that need several, and the
# clean run (no detector may mistake several cells' noise and glitches for an event)
SEVERAL_CELLS = {"cell_fault", "salami_theft", None}


@dataclass(frozen=True)
class Setup:
    """How a detector's runs are simulated: how many days, of which fleet."""

    days: float = DAYS
    lines_only: bool = False  # the fleet cut down to its production lines


SETUPS = {
    # judged on whole days against the weeks before: a fall over weeks needs weeks of run
    "decline": Setup(days=35.0, lines_only=True),
}


def setup_of(spec: DetectorSpec) -> Setup:
    return SETUPS.get(spec.name, Setup())


@dataclass(frozen=True)
class Run:
    fleet: Fleet
    telemetry: Telemetry
    days: float


RunKey = tuple[str | None, Setup]  # (scenario, or None for the clean fleet; its setup)


def simulated(where: Path, scenario: str | None, setup: Setup) -> Run:
    cells = (1, 4) if scenario in SEVERAL_CELLS else (1, 1)
    fleet = (
        production_lines(BORROWERS, SEED)
        if setup.lines_only
        else generate_fleet(BORROWERS, SEED, load_cells=cells)
    )
    end = START + setup.days * DAY
    plan = plan_scenarios(fleet, SEED, START, end, rate=0.01, kinds=[scenario]) if scenario else []
    path = (
        where / f"{scenario or 'clean'}-{setup.days:g}d{'-lines' if setup.lines_only else ''}.csv"
    )
    run_to_file(generate(fleet, plan, START, end, SEED, glitches=False), fleet.tenant.id, path)
    return Run(fleet, read_telemetry(path), setup.days)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[RunKey, Run]:
    where = tmp_path_factory.mktemp("contract")
    keys = {(spec.detects[0].scenario, setup_of(spec)) for spec in SPECS}
    keys |= {(None, setup) for _, setup in keys}
    ordered = sorted(keys, key=lambda k: (k[0] or "", k[1].days, k[1].lines_only))
    return {key: simulated(where, *key) for key in ordered}


def engine(run: Run, extra: str = "") -> Engine:
    return Engine([run.fleet], parse_rules(extra) if extra else RuleSet(), wall_clock=lambda: 0.0)


Work = list[tuple[list[Any], Any]]


def work_of(run: Run) -> tuple[Work, list[IntegritySignal]]:
    """The run's batches (readings, then ticks) and ingest's integrity signals."""
    tenant = run.fleet.tenant.id
    return list(batches(run.telemetry, tenant)), integrity_signals(run.telemetry, tenant)


def play(e: Engine, run: Run) -> list[dict[str, Any]]:
    """Every alert of a replay of ``run`` through ``e``, in its final state."""
    work, signals = work_of(run)
    log = AlertLog()
    feed(e, work, log, signals=signals)
    return log.final(e.open_alerts())


DefaultAlerts = Callable[[RunKey], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def default_alerts(runs: dict[RunKey, Run]) -> DefaultAlerts:
    """Every alert of a run replayed under the default rules, replayed once per run: the
    contract's tests judge the same replays (the clean fleet's for every detector)."""
    replayed: dict[RunKey, list[dict[str, Any]]] = {}

    def alerts_of(key: RunKey) -> list[dict[str, Any]]:
        if key not in replayed:
            replayed[key] = play(engine(runs[key]), runs[key])
        return replayed[key]

    return alerts_of


def key_of(spec: DetectorSpec) -> RunKey:
    return (spec.detects[0].scenario, setup_of(spec))


def of(spec: DetectorSpec, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["kind"] in spec.kinds]


def disabled(spec: DetectorSpec) -> str:
    return "".join(f"[rules.{kind}]\nenabled = false\n" for kind in spec.kinds)


def overridden(spec: DetectorSpec, tenant: str) -> str:
    tables = "".join(f"[overrides.rules.{kind}]\nenabled = false\n" for kind in spec.kinds)
    return f'[[overrides]]\ntenant = "{tenant}"\n{tables}'


def run_of(spec: DetectorSpec, runs: dict[RunKey, Run]) -> Run:
    return runs[key_of(spec)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_it_detects_its_scenario_and_waits_for_its_for(
    spec: DetectorSpec, runs: dict[RunKey, Run], default_alerts: DefaultAlerts
) -> None:
    e = engine(run_of(spec, runs))
    alerts = of(spec, default_alerts(key_of(spec)))
    assert alerts, f"{spec.name}: no {spec.kinds} alert for scenario {spec.detects[0].scenario}"
    for alert in alerts:
        rule = getattr(e.rules.rules, alert["kind"])
        for_s = getattr(rule, "for_", 0.0)
        assert alert["raised_at"] - alert["opened_at"] >= for_s - 1e-6, alert


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_disabled_in_the_file_or_by_an_override_it_stays_silent(
    spec: DetectorSpec, runs: dict[RunKey, Run]
) -> None:
    run = run_of(spec, runs)
    assert of(spec, play(engine(run, disabled(spec)), run)) == []
    assert of(spec, play(engine(run, overridden(spec, run.fleet.tenant.id)), run)) == []


def clear_after_kinds(e: Engine, spec: DetectorSpec) -> dict[str, float]:
    """The detector's kinds whose rule holds a resolution back by ``clear_after``."""
    rules = {kind: getattr(e.rules.rules, kind) for kind in spec.kinds}
    return {kind: r.clear_after for kind, r in rules.items() if hasattr(r, "clear_after")}


def held(spec: DetectorSpec, seconds: float) -> str:
    return "".join(f"[rules.{kind}]\nclear_after = {seconds}\n" for kind in spec.kinds)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_it_clears_no_sooner_than_clear_after_and_a_longer_one_holds_it_open(
    spec: DetectorSpec, runs: dict[RunKey, Run], default_alerts: DefaultAlerts
) -> None:
    run = run_of(spec, runs)
    waits = clear_after_kinds(engine(run), spec)
    alerts = of(spec, default_alerts(key_of(spec)))
    for alert in alerts:
        if alert["status"] == "resolved" and alert["kind"] in waits:
            # the condition held from opened_at on, so it cleared clear_after later at least
            assert alert["resolved_at"] - alert["opened_at"] >= waits[alert["kind"]] - 1e-6, alert
    if waits:
        kept = of(spec, play(engine(run, held(spec, 2 * run.days * DAY)), run))
        held_kinds = [a for a in kept if a["kind"] in waits]
        assert held_kinds and all(a["status"] != "resolved" for a in held_kinds), kept


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_checkpoint_halfway_gives_the_same_alerts(
    spec: DetectorSpec, runs: dict[RunKey, Run], default_alerts: DefaultAlerts, tmp_path: Path
) -> None:
    run = run_of(spec, runs)
    whole = default_alerts(key_of(spec))
    work, signals = work_of(run)
    split = START + run.days * DAY / 2
    before = [b for b in work if not b[0] or b[0][-1].ts < split]
    log = AlertLog()
    first, second = engine(run), engine(run)
    feed(first, before, log, signals=[s for s in signals if s.at < split])
    first.checkpoint(tmp_path / "e.ckpt", key=KEY)
    second.restore(tmp_path / "e.ckpt", key=KEY)
    feed(second, work[len(before) :], log, signals=[s for s in signals if s.at >= split])
    assert log.final(second.open_alerts()) == whole


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_fleet_without_scenarios_raises_none_of_its_alerts(
    spec: DetectorSpec, default_alerts: DefaultAlerts
) -> None:
    assert of(spec, default_alerts((None, setup_of(spec)))) == []


def test_the_registry_dates_a_fence_exit_as_the_simulator_leaves_its_round() -> None:
    parked = next(spec for spec in REGISTRY if spec.name == "parked_moving")
    assert EXIT_LEAD_S in {row.lead_s for row in parked.detects}


def test_every_rules_table_has_its_detector_and_every_kind_its_table() -> None:
    from riskstream.detectors.registry import alert_kinds
    from riskstream.rules.schema import Rules

    assert set(Rules.model_fields) - {"custom"} == alert_kinds()
