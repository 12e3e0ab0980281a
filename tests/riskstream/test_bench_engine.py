"""`riskstream bench engine`: each run's rates, their median, the state per device."""

import re

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from riskstream.bench import engine as bench_engine


def test_bench_engine_reports_the_median_of_its_runs_and_the_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench_engine, "console", Console(width=240))  # one line per row
    app = typer.Typer()
    bench = typer.Typer()
    bench_engine.register(bench)
    app.add_typer(bench, name="bench")
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
    monkeypatch.setattr(bench_engine, "console", Console(width=240))
    app = typer.Typer()
    bench = typer.Typer()
    bench_engine.register(bench)
    app.add_typer(bench, name="bench")
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
    monkeypatch.setattr(bench_engine, "console", Console(width=240))
    app = typer.Typer()
    bench = typer.Typer()
    bench_engine.register(bench)
    app.add_typer(bench, name="bench")
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
