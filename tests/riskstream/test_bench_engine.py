"""`riskstream bench engine`: each run's rates, their median, the state per device."""

import re
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from riskstream.backtest.replay import STEP_S, AlertLog, feed_groups, step_groups
from riskstream.backtest.telemetry_file import read_telemetry
from riskstream.bench import engine as bench_engine
from riskstream.bench.engine_kinds import measure_by_kind
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet


def _bench_app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """`riskstream bench engine` alone, printing one line per table row."""
    monkeypatch.setattr(bench_engine, "console", Console(width=240))
    app = typer.Typer()
    bench = typer.Typer()
    bench_engine.register(bench)
    app.add_typer(bench, name="bench")
    return app


def test_bench_engine_reports_the_median_of_its_runs_and_the_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _bench_app(monkeypatch)
    result = CliRunner().invoke(
        app, ["bench", "engine", "--devices", "60", "--hours", "0.1", "--repeat", "3"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "cores" in text and "load average" in text
    runs = re.findall(
        r"run (\d)/3: ([\d,]+) readings .*? backtest ([\d,]+) readings/s .*? "
        r"engine alone ([\d,]+) readings/s",
        text,
    )
    assert [run[0] for run in runs] == ["1", "2", "3"]
    assert len({run[1] for run in runs}) == 1 and int(runs[0][1].replace(",", "")) > 100
    # the table's rate is the median of the runs'
    backtest = sorted(int(run[2].replace(",", "")) for run in runs)
    row = re.search(r"backtest from CSV [^│]*, median of 3 │ ([\d,]+)", text)
    assert row is not None and int(row.group(1).replace(",", "")) == backtest[1]
    assert re.search(r"engine state, KiB per device \(\d+ devices\) │ \d+\.\d\d", text)


def test_bench_engine_weighs_lots_on_several_cells_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _bench_app(monkeypatch)
    fleet = bench_engine.fleet_of(60, 1, (4, 4))
    cells = [d for d in fleet.devices() if d.kind.value == "load_cell"]
    lots = {d.collateral for d in cells}
    assert len(cells) == 4 * len(lots) > 0
    result = CliRunner().invoke(
        app, ["bench", "engine", "--devices", "60", "--hours", "0", "--load-cells", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "expected none" not in result.output, "the steady feed of 4-cell lots raised alerts"
    refused = CliRunner().invoke(app, ["bench", "engine", "--load-cells", "0-9"])
    assert refused.exit_code == 2 and "--load-cells" in refused.output


def test_bench_engine_long_file_sets_years_of_hourly_readings_against_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _bench_app(monkeypatch)
    result = CliRunner().invoke(
        app,
        ["bench", "engine", "--devices", "60", "--hours", "0.1", "--repeat", "1", "--long-file"],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # four years of hourly readings less the 10-hour gap, which the deadman finds
    assert "long file: 35,054 hourly readings over 4 years (1 alerts)" in text
    standard = re.search(r"backtest from CSV [^│]* │ ([\d,]+)", text)
    row = re.search(
        r"4 years of one gauge's hourly readings[^│]* │ ([\d,]+) │ ([\d,]+) │ ≥ ([\d,]+)", text
    )
    assert standard is not None and row is not None
    assert row.group(3) == standard.group(1)  # compared with the same run's backtest


def test_timing_each_handler_changes_no_alert_and_counts_every_reading_by_kind(
    tmp_path: Path,
) -> None:
    fleet = bench_engine.fleet_of(60, 1, (1, 4))
    path = bench_engine.write_telemetry(fleet, 0.5, 1, tmp_path)
    work = list(step_groups(read_telemetry(path), fleet.tenant.id, STEP_S))
    plain, log = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0), AlertLog()
    fed = feed_groups(plain, work, log)

    timed = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    profile = measure_by_kind(timed, work)

    assert profile.readings == fed
    assert profile.alerts == len(log.latest) and timed.open_alerts() == plain.open_alerts()
    kinds = {k.kind: k for k in profile.kinds}
    cells = sum(
        1 for group in work for r in group.readings if r.metric == "weight_kg"
    )  # every reading of a cell on a lot reaches the lot detectors
    assert kinds["load_cell (bound to a lot)"].readings == cells > 0
    assert sum(k.readings for k in profile.kinds) <= fed
    assert all(k.seconds > 0 for k in profile.kinds)
    assert 0 <= profile.timer_s < 1e-4  # two clock reads and a call
    assert profile.rest_micros_per_reading() >= 0


def test_bench_engine_by_kind_prints_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _bench_app(monkeypatch)
    result = CliRunner().invoke(
        app,
        ["bench", "engine", "--devices", "60", "--hours", "0.1", "--repeat", "1", "--by-kind"],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "where the engine's time goes" in text
    row = re.search(r"load_cell \(bound to a lot\) │ ([\d,]+) │ [\d.]+% │ (\d+\.\d\d) │", text)
    assert row is not None and int(row.group(1).replace(",", "")) > 0
    assert re.search(r"every reading: route lookup, deadman bookkeeping, timers, scoring", text)
