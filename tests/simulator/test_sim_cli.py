"""`riskstream simulate fleet|run` and `riskstream bench simulate`: outputs and clear errors."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
import yaml
from typer.testing import CliRunner

from riskstream.bench import simulate as bench_simulate
from riskstream.cli import simulate as cli_simulate
from simulator.injection import read_truth
from tests.servers import Mosquitto, free_port

START = "1767571200"


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    simulate = typer.Typer()
    cli_simulate.register(simulate)
    bench = typer.Typer()
    bench_simulate.register(bench)
    root.add_typer(simulate, name="simulate")
    root.add_typer(bench, name="bench")
    return root


@pytest.fixture(scope="module")
def fleet_file(app: typer.Typer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fleet") / "fleet.yaml"
    result = CliRunner().invoke(
        app, ["simulate", "fleet", "--borrowers", "6", "--seed", "3", "--out", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "6 borrowers" in result.output
    return path


def _run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["simulate", "run", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_run_to_files_writes_telemetry_truth_and_outcomes(
    app: typer.Typer, fleet_file: Path, tmp_path: Path
) -> None:
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"t.{suffix}"
        code, output = _run(
            app, "--fleet", str(fleet_file), "--days", "1", "--start", START, "--out", str(out),
            "--truth", str(tmp_path / "truth.jsonl"), "--outcomes", str(tmp_path / "o.jsonl"),
            "--scenario-rate", "1", "--seed", "4",
        )  # fmt: skip
        assert code == 0, output
        assert "readings/s" in output and "ground truth in" in output
    truth = read_truth(tmp_path / "truth.jsonl")
    assert len(truth) >= 5 and len({t.scenario for t in truth}) == len(truth)
    assert len({t.borrower_id for t in truth}) == len(truth)
    rows = pq.read_table(tmp_path / "t.parquet").num_rows
    assert rows == len((tmp_path / "t.csv").read_text().splitlines()) - 1 > 10_000
    for line in (tmp_path / "o.jsonl").read_text().splitlines():
        assert set(json.loads(line)) == {"ts", "tenant", "borrower_id", "loan_id", "event"}


def test_run_publishes_batched_and_signed(
    app: typer.Typer, fleet_file: Path, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    code, output = _run(
        app, "--fleet", str(fleet_file), "--days", "0.1", "--start", START,
        "--broker", mosquitto.url, "--truth", str(tmp_path / "truth.jsonl"),
        "--scenarios", "spoof,replay", "--batch", "10", "--sign",
    )  # fmt: skip
    assert code == 0, output
    assert "published" in output and "signed" in output and "messages/s" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days: must be a number > 0"),
        (["--days", "nan"], "--days: must be a number > 0"),
        (["--out", "t.csv", "--start", "-5"], "--start: must be epoch seconds >= 0"),
        (["--out", "t.json"], "--out: t.json: unknown telemetry file type '.json'"),
        (["--out", "t.csv", "--broker", "mqtt://h"], "give exactly one of --broker"),
        ([], "give exactly one of --broker"),
        (["--out", "t.csv", "--sign"], "--batch and --sign apply to --broker only"),
        (["--broker", "http://h:1"], "--broker: broker URL 'http://h:1': scheme must be 'mqtt'"),
        (["--out", "t.csv", "--scenarios", "drain,replay"], "--scenarios: unknown kind(s) drain"),
        (["--out", "t.csv", "--batch", "0"], "Invalid value for '--batch'"),
        (["--out", "t.csv", "--scenario-rate", "2"], "Invalid value for '--scenario-rate'"),
        (["--out", "t.csv", "--speed", "-1"], "Invalid value for '--speed'"),
    ],
)
def test_bad_arguments_fail_with_a_message_naming_the_option(
    app: typer.Typer, fleet_file: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [a if a != "t.csv" else str(tmp_path / "t.csv") for a in args]
    code, output = _run(app, "--fleet", str(fleet_file), *args)
    assert code == 2
    assert message in " ".join(output.split())
    assert not (tmp_path / "t.csv").exists()


def test_bad_fleet_files_name_the_field(app: typer.Typer, fleet_file: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(fleet_file.read_text())
    raw["borrowers"][1]["sites"][0]["timezone"] = "Mars/Olympus"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    code, output = _run(app, "--fleet", str(bad), "--out", str(tmp_path / "t.csv"))
    assert code == 2
    assert "borrowers.1.sites.0.timezone: unknown timezone 'Mars/Olympus'" in " ".join(
        output.split()
    )
    raw["borrowers"][1]["sites"][0]["timezone"] = "Europe/Paris"
    raw["borrowers"][2]["loans"][0]["collateral"][0]["quantity"] = -3
    bad.write_text(yaml.safe_dump(raw))
    code, output = _run(app, "--fleet", str(bad), "--out", str(tmp_path / "t.csv"))
    assert code == 2
    assert "borrowers.2.loans.0.collateral.0.quantity" in " ".join(output.split())
    code, output = _run(
        app, "--fleet", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "t.csv")
    )
    assert code == 2 and "cannot read" in output


def test_an_unreachable_broker_is_retried_then_reported(
    app: typer.Typer, fleet_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    code, output = _run(
        app, "--fleet", str(fleet_file), "--days", "0.05", "--start", START, "--broker", url,
        "--truth", str(tmp_path / "truth.jsonl"), "--retry-for", "1",
    )  # fmt: skip
    assert code == 1
    assert "unreachable for" in output and "gave up" in output
    assert "retrying in" in caplog.text


def test_fleet_command_errors(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "fleet", "--borrowers", "0", "--out", str(tmp_path / "f.yaml")]
    )
    assert result.exit_code == 2 and "Invalid value for '--borrowers'" in result.output
    result = CliRunner().invoke(
        app, ["simulate", "fleet", "--tenant", "a bank", "--out", str(tmp_path / "f.yaml")]
    )
    assert result.exit_code == 2 and "--tenant: 'a bank' is not an id" in result.output


@pytest.mark.broker  # the benchmark starts a mosquitto of its own
def test_bench_simulate_reports_rates_and_the_machine(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "simulate",
            "--borrowers",
            "3",
            "--days",
            "0.05",
            "--publish-days",
            "0.01",
            "--workdir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "cores" in text and "mosquitto version" in text
    for row in (
        "generate (no output)",
        "write csv",
        "write parquet",
        "publish, 1/msg",
        "publish, 50/msg",
        "signed",
    ):
        assert row in text
    assert (tmp_path / "telemetry.parquet").exists()
