"""`riskstream backtest --outcomes`: loan outcomes teach the outcome model in event time."""

from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from riskstream.backtest import generic_fleet, read_telemetry, replay
from riskstream.backtest.errors import InputFileError
from riskstream.backtest.outcomes_file import read_outcomes_file
from riskstream.cli import backtest as cli_backtest
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from tests.riskstream.backtest_data import DAY, START

runner = CliRunner()
DAYS = 40


def cli() -> typer.Typer:
    app = typer.Typer()
    cli_backtest.register(app)
    return app


def telemetry_csv(path: Path) -> Path:
    """One sensor reporting hourly for DAYS days."""
    rows = [f"{START + h * 3600.0},s1,level_m,{1.0 + (h % 24) / 100}" for h in range(DAYS * 24)]
    path.write_text("ts,device_id,metric,value\n" + "\n".join(rows) + "\n")
    return path


def outcomes_jsonl(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def test_outcomes_label_snapshots_at_their_event_time(tmp_path: Path) -> None:
    telemetry = read_telemetry(telemetry_csv(tmp_path / "t.csv"))
    fleet = generic_fleet(telemetry)
    missed_at = START + 20 * DAY
    outcomes = read_outcomes_file(
        outcomes_jsonl(
            tmp_path / "o.jsonl",
            [
                {"ts": missed_at + DAY, "borrower_id": "default", "event": "default"},
                {"ts": missed_at, "borrower_id": "default", "event": "payment_missed"},
            ],
        )
    )
    assert [o.event for o in outcomes] == ["payment_missed", "default"], "sorted by time"
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    replay(engine, telemetry, fleet.tenant.id, outcomes=outcomes)
    engine.scoring.models.expire(engine.watermark or 0.0)  # as the report does at the end
    model = engine.scoring.models.of(fleet.tenant.id).summary()
    assert model["outcomes"] == 2
    # a snapshot a day (at days 0..20) up to the missed payment, all within the 30-day
    # horizon; the default a day later labels the one snapshot taken since; each is
    # learned 31 days after it was taken, so days 0..8 were learned by the end (day 40)
    assert model["bad_outcomes_waiting"] == 2
    assert model["labels"] == model["positive_labels"] == 9
    assert len(engine.scoring.models.of(fleet.tenant.id).labelled_bad) == 22 - 9


def test_backtest_command_reports_the_outcome_model(tmp_path: Path) -> None:
    csv = telemetry_csv(tmp_path / "t.csv")
    outcomes = outcomes_jsonl(
        tmp_path / "o.jsonl",
        [
            {"ts": START + 10 * DAY, "borrower_id": "default", "event": "payment_missed"},
            {"ts": START + 11 * DAY, "borrower_id": "somebody-else", "event": "default"},
        ],
    )
    args = ["backtest", "--telemetry", str(csv), "--outcomes", str(outcomes)]
    result = runner.invoke(cli(), [*args, "--out", str(tmp_path / "a.jsonl")])
    assert result.exit_code == 0, result.output
    assert "1 loan outcomes of borrowers not in the fleet ignored" in result.output
    assert (
        "outcome model default: 1 loan outcomes fed, 0 bad learned (1 more waiting until "
        "their snapshots are 31 days old)" in result.output
    )
    assert "progressive ROC AUC" in result.output


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"borrower_id": "b1", "event": "default"}, "o.jsonl:1: ts"),
        ({"ts": 1.0, "event": "default"}, "o.jsonl:1: borrower_id"),
        ({"ts": 1.0, "borrower_id": "b1", "event": "bankrupt"}, "o.jsonl:1: event"),
    ],
)
def test_bad_outcome_lines_are_refused_naming_file_line_and_field(
    tmp_path: Path, line: dict[str, object], message: str
) -> None:
    with pytest.raises(InputFileError) as caught:
        read_outcomes_file(outcomes_jsonl(tmp_path / "o.jsonl", [line]))
    assert message in str(caught.value)
