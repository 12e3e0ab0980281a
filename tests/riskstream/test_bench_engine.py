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
