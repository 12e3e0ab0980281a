"""`riskstream backtest`: event-time replay of telemetry files through the engine."""

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from devices.fleet_file import load_fleet
from riskstream.backtest import (
    Telemetry,
    TelemetryFileError,
    generic_fleet,
    read_telemetry,
    replay,
)
from riskstream.backtest.generic_fleet import median_intervals
from riskstream.backtest.replay import AlertLog, Ticks, batches, integrity_signals, readings
from riskstream.cli import backtest as cli_backtest
from riskstream.engine.core import Engine
from riskstream.engine.lenders import LenderEngines
from riskstream.rules.schema import RuleSet, parse_rules
from tests.riskstream.backtest_data import ASSIGN, DAY, START, SimulatedRun, simulate

runner = CliRunner()


def cli() -> typer.Typer:
    app = typer.Typer()
    cli_backtest.register(app)
    return app


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> SimulatedRun:
    """3 borrowers, 2 days: one inventory drain, one geofence exit, one silent device."""
    return simulate(tmp_path_factory.mktemp("injected"), 3, 2.0, 11, ASSIGN)


def alerts_of(path: Path, fleet_file: Path | None, chunk: int = 65_536) -> list[dict[str, Any]]:
    telemetry = read_telemetry(path)
    fleet = load_fleet(fleet_file) if fleet_file else generic_fleet(telemetry)
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    return replay(engine, telemetry, fleet.tenant.id, chunk=chunk).alerts


def test_backtest_and_evaluate_find_every_injected_scenario(
    injected: SimulatedRun, tmp_path: Path
) -> None:
    out = tmp_path / "alerts.jsonl"
    args = ["--telemetry", str(injected.telemetry), "--fleet", str(injected.fleet_file)]
    result = runner.invoke(cli(), ["backtest", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{injected.rows:,} readings" in result.output
    alerts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    seen = {(a["borrower_id"], a["kind"], a["subject"]) for a in alerts}
    expected = {
        (
            "b001",
            "inventory_below_pledge",
            next(t.collateral_id for t in injected.truth if t.borrower_id == "b001"),
        ),
        (  # the drain goes on through the night, when this lot's stock does not move
            "b001",
            "collateral_moved_out_of_hours",
            next(t.collateral_id for t in injected.truth if t.borrower_id == "b001"),
        ),
        (
            "b002",
            "geofence_exit",
            next(t.device_id for t in injected.truth if t.borrower_id == "b002"),
        ),
        (
            "b003",
            "device_silent",
            next(t.device_id for t in injected.truth if t.borrower_id == "b003"),
        ),
    }
    assert seen == expected
    for a in alerts:
        assert a["raised_at"] >= a["opened_at"] and a["tenant"] == injected.fleet.tenant.id
        assert a["reasons"] and a["rule"] == f"rules.{a['kind']}"
        # stock leaving out of hours resolves when the lot's hours begin; the rest hold
        assert a["status"] == (
            "resolved" if a["kind"] == "collateral_moved_out_of_hours" else "open"
        )

    numbers, plot = tmp_path / "evaluation.json", tmp_path / "timeline.html"
    result = runner.invoke(
        cli(),
        [
            "evaluate",
            "--truth",
            str(injected.truth_file),
            "--alerts",
            str(out),
            "--fleet",
            str(injected.fleet_file),
            "--days",
            "2",
            "--json",
            str(numbers),
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(numbers.read_bytes())
    recall = {row["scenario"]: row["engine"]["recall"] for row in report["scenarios"]}
    assert recall == {"inventory_drain": 1.0, "geofence_exit": 1.0, "device_silent": 1.0}
    assert report["precision"] == 1.0 and report["false_alerts_per_100_borrower_days"] == 0.0
    assert report["borrower_days"] == 6.0
    assert "precision 1.00, recall 1.00" in result.output
    assert plot.read_text().count("<rect x=") >= 3


def test_a_clean_fleet_raises_no_alert_in_30_days(tmp_path: Path) -> None:
    run = simulate(tmp_path, 3, 30.0, 5, None)
    assert run.rows > 500_000 and run.truth == []
    assert alerts_of(run.telemetry, run.fleet_file) == []


def test_batch_size_does_not_change_the_alerts(injected: SimulatedRun) -> None:
    whole = alerts_of(injected.telemetry, injected.fleet_file)
    assert len(whole) == 4
    assert alerts_of(injected.telemetry, injected.fleet_file, chunk=37) == whole


def test_shuffled_csv_and_parquet_give_the_same_alerts(
    injected: SimulatedRun, tmp_path: Path
) -> None:
    table = pacsv.read_csv(injected.telemetry)
    order = np.random.default_rng(3).permutation(table.num_rows)
    shuffled = tmp_path / "shuffled.csv"
    pacsv.write_csv(table.take(pa.array(order)), shuffled)
    parquet = tmp_path / "telemetry.parquet"
    pq.write_table(table, parquet)
    assert read_telemetry(shuffled).resorted and not read_telemetry(parquet).resorted
    expected = alerts_of(injected.telemetry, injected.fleet_file)
    assert alerts_of(shuffled, injected.fleet_file) == expected
    assert alerts_of(parquet, injected.fleet_file) == expected


def write_rows(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_without_a_fleet_any_series_is_backtested_for_silence(tmp_path: Path) -> None:
    rows = [f"{START + t},s1,level_m,{t / 100}" for t in range(0, 3600, 10)]
    rows += [f"{START + t},s2,temp_c,4.0" for t in range(0, 3600, 60) if not 600 <= t < 2400]
    path = write_rows(tmp_path / "series.csv", "ts,device_id,metric,value", rows)
    telemetry = read_telemetry(path)
    fleet = generic_fleet(telemetry)
    assert [(d.id, d.kind.value, d.interval_s) for d in fleet.devices()] == [
        ("s1", "generic", 10.0),
        ("s2", "generic", 60.0),
    ]
    result = runner.invoke(
        cli(), ["backtest", "--telemetry", str(path), "--out", str(tmp_path / "a.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert "only the deadman rule (device_silent), custom rules" in result.output
    (alert,) = [orjson.loads(line) for line in (tmp_path / "a.jsonl").read_bytes().splitlines()]
    assert (alert["tenant"], alert["borrower_id"], alert["kind"], alert["subject"]) == (
        "default",
        "default",
        "device_silent",
        "s2",
    )
    assert alert["opened_at"] == START + 540 + 600  # last reading + max(5 intervals, 10 min)
    assert alert["status"] == "resolved" and alert["resolved_at"] == START + 2400


def test_median_interval_per_device_ignores_repeated_timestamps() -> None:
    device = np.array([0, 0, 1, 0, 1, 0, 1, 1, 0], dtype=np.int32)
    ts = np.array([0, 0, 1, 5, 4, 10, 7, 100, 30], dtype=np.float64)
    # device 0 at 0, 5, 10, 30: gaps 5, 5, 20; device 1 at 1, 4, 7, 100: gaps 3, 3, 93
    assert median_intervals(device, ts, 3).tolist() == [5.0, 3.0, 60.0]
    two = np.array([0, 0, 0], dtype=np.int32)
    assert median_intervals(two, np.array([0.0, 10.0, 40.0]), 1).tolist() == [20.0]


def test_ticks_run_at_every_step_end_also_in_gaps(tmp_path: Path) -> None:
    rows = [f"{t},d1,x_count,1" for t in (10.0, 70.0, 75.0, 400.0, 401.0)]
    telemetry = read_telemetry(write_rows(tmp_path / "t.csv", "ts,device_id,metric,value", rows))
    steps = [([r.ts for r in b], list(ticks)) for b, ticks in batches(telemetry, "t", 60.0)]
    assert steps == [
        ([10.0], [60.0]),
        ([70.0, 75.0], [120.0, 180.0, 240.0, 300.0, 360.0]),
        ([400.0, 401.0], [401.0]),
    ]
    chunks = [([r.ts for r in b], list(t)) for b, t in batches(telemetry, "t", 60.0, chunk=1)]
    assert chunks[1:3] == [([70.0], []), ([75.0], [120.0, 180.0, 240.0, 300.0, 360.0])]


def test_silence_in_a_gap_of_the_whole_stream_is_raised_when_its_limit_passes(
    tmp_path: Path,
) -> None:
    rows = [f"{START + t},a,x_count,1" for t in range(0, 600, 60)]
    rows += [f"{START + 86_400 + t},a,x_count,1" for t in range(0, 600, 60)]
    path = write_rows(tmp_path / "gap.csv", "ts,device_id,metric,value", rows)
    (alert,) = alerts_of(path, None)
    assert alert["opened_at"] == START + 540 + 600
    assert alert["raised_at"] == START + 1200  # the first minute after the limit passed
    assert alert["resolved_at"] == START + 86_400


def test_optional_tenant_and_seq_columns_and_timestamps(tmp_path: Path) -> None:
    rows = ["2026-01-05T00:00:00Z,a,b1,x_count,1,7", "2026-01-05T00:01:00Z,a,b1,x_count,2,"]
    path = write_rows(tmp_path / "t.csv", "ts,tenant,device_id,metric,value,seq", rows)
    telemetry = read_telemetry(path)
    assert telemetry.ts.tolist() == [START, START + 60]
    readings = [r for batch, _ in batches(telemetry, None) for r in batch]
    assert [(r.tenant, r.seq) for r in readings] == [("a", 7), ("a", None)]


def test_rows_without_a_finite_value_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = ["1,d,x_count,1", "2,d,x_count,", "3,d,x_count,nan", "4,d,x_count,inf", "5,d,x_count,2"]
    telemetry = read_telemetry(write_rows(tmp_path / "t.csv", "ts,device_id,metric,value", rows))
    assert telemetry.dropped == 3 and telemetry.value.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("no_value.csv", "ts,device_id,metric\n1,d,x\n", "no_value.csv: value: missing column"),
        ("two.csv", "ts,device\n1,d\n", "two.csv: device_id, metric, value: missing columns"),
        ("empty.csv", "", "empty.csv: empty file: no header line"),
        ("header.csv", "ts,device_id,metric,value\n", "header.csv: has no readings"),
        ("words.csv", "ts,device_id,metric,value\nnoon,d,x,1\n", "words.csv: ts: must be epoch"),
        (
            "nulls.csv",
            "ts,device_id,metric,value\n1,d,x,1\n,d,x,1\n",
            "nulls.csv: ts: 1 rows have no ts (first: data row 2)",
        ),
        ("text.csv", "ts,device_id,metric,value\n1,d,x,high\n", "text.csv: value: must be numbers"),
        ("t.json", "{}", "t.json: unknown telemetry file type"),
        ("gone.csv", None, "gone.csv: no such file"),
        ("bad.parquet", "not parquet", "bad.parquet: cannot read parquet"),
    ],
)
def test_bad_files_are_refused_naming_file_and_column(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(TelemetryFileError) as caught:
        read_telemetry(path)
    assert message in str(caught.value)
    result = runner.invoke(
        cli(), ["backtest", "--telemetry", str(path), "--out", str(tmp_path / "a.jsonl")]
    )
    assert result.exit_code == 2 and "error:" in result.output
    assert name in result.output.replace("\n", "")


def test_generic_fleet_refuses_ids_it_cannot_register(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "t.csv", "ts,device_id,metric,value", ["1,pump 7,x_count,1"])
    with pytest.raises(TelemetryFileError, match=r"device_id: 'pump 7' is not a valid device id"):
        generic_fleet(read_telemetry(path))


def test_devices_missing_from_the_fleet_are_counted(injected: SimulatedRun, tmp_path: Path) -> None:
    extra = [f"{START + t},stranger,x_count,1" for t in range(0, int(DAY), 3600)]
    path = write_rows(tmp_path / "t.csv", "ts,device_id,metric,value", extra)
    result = runner.invoke(
        cli(),
        [
            "backtest",
            "--telemetry",
            str(path),
            "--fleet",
            str(injected.fleet_file),
            "--out",
            str(tmp_path / "a.jsonl"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "24 readings of devices not in the fleet ignored" in result.output


def test_without_a_fleet_custom_rules_screen_any_series(tmp_path: Path) -> None:
    rows = [f"{START + t},tank-7,level_m,{4.0 if t < 3600 else 0.5}" for t in range(0, 7200, 60)]
    path = write_rows(tmp_path / "series.csv", "ts,device_id,metric,value", rows)
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rules.custom]]\nname = "tank_low"\nmetric = "level_m"\ncondition = "below"\n'
        'threshold = 1.0\nfor = "20m"\n'
    )
    out = tmp_path / "a.jsonl"
    result = runner.invoke(
        cli(), ["backtest", "--telemetry", str(path), "--rules", str(rules), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (alert,) = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert (alert["kind"], alert["subject"], alert["opened_at"]) == (
        "tank_low",
        "tank-7",
        START + 3600,
    )
    assert alert["reasons"] == ["level_m 0.5 m below 1 m"]
    assert alert["evidence"]["lines"] == [{"value": 1.0, "label": "below 1"}]


TIMERS = """
[alerts]
update_every = "5m"
[alerts.cooldown]
default = "30m"
[alerts.escalate_after]
default = "45m"
""" + "".join(
    f'[[rules.custom]]\nname = "gap_{m}"\nmetric = "{m}"\ncondition = "missing_for"\n'
    'duration = "20m"\n'
    for m in ("weight_kg", "lat_deg", "door_open", "temperature_c", "power_kw", "output_count")
)


def every_tick(engine: Engine, ticks: Ticks, log: AlertLog) -> None:
    for now in ticks:
        log.add(engine.tick(now))


def step_by_step(engine: Engine, telemetry: Telemetry, tenant: str) -> list[dict[str, Any]]:
    """The replay as it was first written: one `process` per step, every tick after it,
    signals after the step that reaches them."""
    log = AlertLog()
    signals = integrity_signals(telemetry, tenant)
    pending = 0
    for batch, ticks in batches(telemetry, tenant):
        log.add(engine.process(batch))
        first = pending
        while pending < len(signals) and signals[pending].at <= batch[-1].ts:
            pending += 1
        if pending > first:
            log.add(engine.integrity(signals[first:pending]))
        every_tick(engine, ticks, log)
    log.add(engine.integrity(signals[pending:]))
    return log.final(engine.open_alerts())


@pytest.mark.parametrize("seed", [11, 23])
def test_merged_steps_give_what_one_step_at_a_time_gives(tmp_path: Path, seed: int) -> None:
    run = simulate(tmp_path, 3, 1.0, seed, ASSIGN)
    telemetry = read_telemetry(run.telemetry)
    merged = Engine([run.fleet], parse_rules(TIMERS), wall_clock=lambda: 0.0)
    alerts = replay(merged, telemetry, run.fleet.tenant.id).alerts
    stepped = Engine([run.fleet], parse_rules(TIMERS), wall_clock=lambda: 0.0)
    assert alerts == step_by_step(stepped, telemetry, run.fleet.tenant.id)
    # the borrowers were scored at the same event times too
    assert merged.scoring.history == stepped.scoring.history
    assert merged.readings_processed == stepped.readings_processed == len(telemetry)


SPARSE_RULES = """
[rules.device_silent]
enabled = false
[[rules.custom]]
name = "gauge_gone"
metric = "level_m"
devices = ["meter-2"]
condition = "missing_for"
duration = "2h"
"""


def test_a_series_first_seen_inside_merged_steps_is_timed_from_its_own_reading(
    tmp_path: Path,
) -> None:
    # meter-1 reports hourly for 20 days; meter-2 only from hour 100 to 103 (4 readings),
    # and once more at hour 300: its missing_for due time appears in the middle of a
    # stretch the engine feeds in one call
    rows = [(h, "meter-1") for h in range(24 * 20)]
    rows += [(h, "meter-2") for h in (100, 101, 102, 103, 300)]
    lines = [f"{START + h * 3600 + 7},{d},level_m,5.0" for h, d in sorted(rows)]
    telemetry = read_telemetry(write_rows(tmp_path / "s.csv", "ts,device_id,metric,value", lines))
    fleet = generic_fleet(telemetry)
    merged = Engine([fleet], parse_rules(SPARSE_RULES), wall_clock=lambda: 0.0)
    alerts = replay(merged, telemetry, fleet.tenant.id).alerts
    stepped = Engine([fleet], parse_rules(SPARSE_RULES), wall_clock=lambda: 0.0)
    assert alerts == step_by_step(stepped, telemetry, fleet.tenant.id)
    gone = [a for a in alerts if a["kind"] == "gauge_gone"]
    assert [(a["subject"], a["opened_at"]) for a in gone] == [
        ("meter-2", START + 103 * 3600 + 7 + 7200),
        ("meter-2", START + 300 * 3600 + 7 + 7200),
    ]
    # raised at the first minute boundary after its due time, as ticking every step would
    assert [a["raised_at"] - a["opened_at"] for a in gone] == [53.0, 53.0]


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_skipping_ticks_where_nothing_is_due_changes_no_alert(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = simulate(tmp_path, 3, 1.0, seed, ASSIGN)
    telemetry = read_telemetry(run.telemetry)

    def alerts() -> list[dict[str, Any]]:
        engine = Engine([run.fleet], parse_rules(TIMERS), wall_clock=lambda: 0.0)
        return replay(engine, telemetry, run.fleet.tenant.id).alerts

    skipping = alerts()
    monkeypatch.setattr(sys.modules["riskstream.backtest.replay"], "run_ticks", every_tick)
    assert skipping == alerts()
    kinds = {a["kind"] for a in skipping}
    assert "device_silent" in kinds and any(k.startswith("gap_") for k in kinds)
    assert any("escalated" in r for a in skipping for r in a["reasons"])


def test_years_of_hourly_readings_tick_only_where_something_is_due(tmp_path: Path) -> None:
    rows = [
        f"{START + h * 3600},meter-1,level_m,5.0" for h in range(24 * 400) if not 5000 <= h < 5010
    ]
    telemetry = read_telemetry(write_rows(tmp_path / "h.csv", "ts,device_id,metric,value", rows))
    fleet = generic_fleet(telemetry)
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    ticked = 0
    tick = engine.tick

    def counting(now: float) -> list[Any]:
        nonlocal ticked
        ticked += 1
        return tick(now)

    engine.tick = counting  # type: ignore[method-assign]
    result = replay(engine, telemetry, fleet.tenant.id)
    assert [a["kind"] for a in result.alerts] == ["device_silent"]
    # one tick per step would be 60 per hour of data; what is due is far less
    assert ticked < len(rows) / 2


def test_process_steps_goes_on_until_a_timer_is_due_or_an_alert_changed(tmp_path: Path) -> None:
    lines = [f"{START + h * 3600 + 7},meter-1,level_m,5.0" for h in range(48)]
    telemetry = read_telemetry(write_rows(tmp_path / "m.csv", "ts,device_id,metric,value", lines))
    fleet = generic_fleet(telemetry)
    engine = Engine([fleet], RuleSet(), wall_clock=lambda: 0.0)
    batch = readings(telemetry, 0, len(telemetry), fleet.tenant.id)
    ends = list(range(1, 49))
    quiet = [START + h * 3600 for h in range(1, 49)]  # the last tick before the next hour
    # nothing ticked yet: when the deadman is due is unknown, so one step only
    assert engine.process_steps(batch, ends, quiet) == ([], 1)
    assert engine.tick(quiet[0]) == []
    # the deadman is due 5 intervals after the last reading; each hour's reading moves it
    # on, so the hours go in one call up to the one that reaches the daily scoring
    # (a day after the first reading), which is scored at the end of the call
    assert engine.next_due() == START + 7 + 5 * 3600
    alerts, stop = engine.process_steps(batch, ends, quiet, 1)
    assert alerts == [] and stop == 25 and batch[stop - 1].ts == START + 7 + 86_400
    assert engine.readings_processed == 25
    assert engine.next_due() == batch[stop - 1].ts + 5 * 3600  # scored: next in a day
    # a step marked quiet until inf (a signal is handed over after it) ends the call
    marked = [*quiet[:30], math.inf, *quiet[31:]]
    assert engine.process_steps(batch, ends, marked, 25)[1] == 31


def test_one_lender_behind_lender_engines_merges_steps_as_its_engine_does(tmp_path: Path) -> None:
    run = simulate(tmp_path, 3, 1.0, 11, ASSIGN)
    telemetry = read_telemetry(run.telemetry)
    engines = LenderEngines([run.fleet], parse_rules(TIMERS), wall_clock=lambda: 0.0)
    merged = replay(engines, telemetry, run.fleet.tenant.id).alerts
    stepped = Engine([run.fleet], parse_rules(TIMERS), wall_clock=lambda: 0.0)
    assert merged == step_by_step(stepped, telemetry, run.fleet.tenant.id)
    assert engines.of(run.fleet.tenant.id).scoring.history == stepped.scoring.history
