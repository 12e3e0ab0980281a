"""`riskstream evaluate`: matching, metrics and the periodic-check baselines, known answers."""

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from riskstream.backtest import (
    AlertRecord,
    EvaluationFileError,
    evaluate,
    match,
    read_alerts,
    read_truth_file,
    render_timeline,
    write_timeline,
)
from riskstream.backtest.baselines import (
    BASELINES,
    DAY_S,
    PeriodicCheck,
    caught_at,
    next_check,
    phase,
)
from riskstream.backtest.evaluate import percentile
from riskstream.cli import backtest as cli_backtest
from simulator import TruthRecord

runner = CliRunner()
MONTHLY, QUARTERLY = BASELINES


def cli() -> typer.Typer:
    app = typer.Typer()
    cli_backtest.register(app)
    return app


def truth(scenario: str, borrower: str, start: float, end: float, **ids: str) -> dict[str, Any]:
    record = {"collateral_id": None, "site_id": None, "device_id": None, **ids}
    return {
        "scenario": scenario,
        "tenant": "bank",
        "borrower_id": borrower,
        "start_ts": start,
        "end_ts": end,
        **record,
    }


def alert(
    n: int, kind: str, borrower: str, subject: str, opened: float, raised: float
) -> dict[str, Any]:
    return {
        "id": f"a{n}",
        "tenant": "bank",
        "borrower_id": borrower,
        "kind": kind,
        "subject": subject,
        "opened_at": opened,
        "raised_at": raised,
        "updated_at": raised + 60,
        "resolved_at": None,
        "status": "open",
        "severity": "warning",
    }


TRUTH = [
    truth("inventory_drain", "b1", 1000, 100_000, collateral_id="c1", device_id="lc1"),
    truth("geofence_exit", "b2", 5000, 9000, device_id="g2"),
    truth("device_silent", "b3", 2000, 50_000, device_id="d3"),
    truth("sensor_swap", "b4", 3000, 4000, device_id="t4"),  # a kind unknown here
]
ALERTS = [
    alert(1, "inventory_below_pledge", "b1", "c1", 1500, 3300),  # T1, 2300 s after its start
    alert(2, "inventory_below_pledge", "b1", "c1", 20_000, 21_800),  # T1 again: not false
    alert(3, "geofence_exit", "b2", "g2", 4700, 5100),  # T2: evidence 300 s early = grace
    alert(4, "geofence_exit", "b2", "g2", 9001, 9300),  # after T2 ended: false
    alert(5, "device_silent", "b3", "d9", 2500, 2500),  # another device: false
    alert(6, "inventory_below_pledge", "b2", "c1", 1500, 3300),  # another borrower: false
]


def write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return write_lines(tmp_path / "truth.jsonl", TRUTH), write_lines(
        tmp_path / "alerts.jsonl", ALERTS
    )


def test_matching_and_metrics_on_known_answers(files: tuple[Path, Path]) -> None:
    records, alerts = read_truth_file(files[0]), read_alerts(files[1])
    matching = match(records, alerts, grace_s=300)
    assert matching.truth_of == [0, 0, 1, None, None, None]
    assert matching.alerts_of == [[0, 1], [2], [], []]
    result = evaluate(records, alerts, borrowers=10, days=2.0, grace_s=300)
    rows = {r.scenario: r for r in result.scenarios}
    assert rows["inventory_drain"].engine.ttd_s == (2300.0,)
    assert rows["geofence_exit"].engine.ttd_s == (100.0,)
    assert rows["device_silent"].engine.recall == 0.0
    assert not rows["sensor_swap"].has_detector and result.notes == [
        "no detector yet for: sensor_swap"
    ]
    assert result.detectable.engine.recall == pytest.approx(2 / 3)
    assert result.everything.engine.recall == 0.5
    assert result.detectable.engine.median_s == 1200.0
    assert result.detectable.engine.p90_s == pytest.approx(2080.0)
    assert result.precision == 0.5 and result.false_alerts == 3
    assert [(k.kind, k.alerts, k.matched) for k in result.kinds] == [
        ("device_silent", 1, 0),
        ("geofence_exit", 2, 1),
        ("inventory_below_pledge", 3, 2),
    ]
    assert result.false_per_100_borrower_days == pytest.approx(15.0)  # 3 / (10 × 2) × 100
    from_evidence = evaluate(records, alerts, 10, 2.0, 300, ttd_from="opened_at")
    assert from_evidence.detectable.engine.ttd_s == (0.0, 500.0)  # 4700 < 5000; 1500 - 1000


def test_grace_bounds_the_evidence_before_an_event(files: tuple[Path, Path]) -> None:
    records, alerts = read_truth_file(files[0]), read_alerts(files[1])
    assert match(records, alerts, grace_s=299).truth_of[2] is None
    assert match(records, alerts, grace_s=300).truth_of[2] == 1


def test_an_alert_goes_to_the_event_whose_evidence_it_follows() -> None:
    records = [
        TruthRecord("device_silent", "bank", "b", None, None, "d", 100.0, 500.0),
        TruthRecord("device_silent", "bank", "b", None, None, "d", 400.0, 900.0),
    ]
    alerts = [
        AlertRecord("a1", "bank", "b", "device_silent", "d", 450.0, 450.0, 460.0, "open"),
        AlertRecord("a2", "bank", "b", "device_silent", "d", 90.0, 90.0, 95.0, "resolved"),
    ]
    assert match(records, alerts, grace_s=20).truth_of == [1, 0]


def test_defaults_come_from_the_files_and_say_so(files: tuple[Path, Path]) -> None:
    result = evaluate(read_truth_file(files[0]), read_alerts(files[1]))
    assert result.borrowers == 4  # b1..b4 named in the files
    assert result.days == pytest.approx((100_000 - 1000) / DAY_S)
    assert any("give --borrowers" in n for n in result.notes)
    assert any("give --days" in n for n in result.notes)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 90) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 0.0, 20.0], 90) == pytest.approx(18.0)


def test_next_check_is_the_first_at_or_after() -> None:
    assert next_check(5.0, 10.0, 100.0) == 10.0
    assert next_check(10.0, 10.0, 100.0) == 10.0
    assert next_check(10.5, 10.0, 100.0) == 110.0
    assert next_check(-95.0, 10.0, 100.0) == -90.0


def test_a_periodic_check_catches_an_event_only_if_it_comes_before_the_end() -> None:
    check = PeriodicCheck("test", "test check", "test", 100.0)
    p = phase(check, "bank", "b1", seed=4)
    assert 0 <= p < 100 and p == phase(check, "bank", "b1", seed=4)
    assert p != phase(check, "bank", "b2", seed=4) or p != phase(check, "bank", "b1", seed=5)
    base = 1_000 * 100.0 + p  # a check time
    assert caught_at(check, "bank", "b1", base + 1, base + 50, seed=4) is None
    assert caught_at(check, "bank", "b1", base + 1, base + 100, seed=4) == base + 100
    assert caught_at(check, "bank", "b1", base, base, seed=4) == base


def test_baselines_over_many_borrowers() -> None:
    start = 1_767_571_200.0
    records = [
        TruthRecord("inventory_drain", "bank", f"b{i}", "c", None, None, start, start + 60 * DAY_S)
        for i in range(200)
    ]
    result = evaluate(records, [], borrowers=200, days=60.0, seed=1)
    monthly = result.everything.baselines[MONTHLY.key]
    quarterly = result.everything.baselines[QUARTERLY.key]
    assert monthly.recall == 1.0  # a 60-day event always sees a monthly check
    assert all(0 <= t < 30 * DAY_S for t in monthly.ttd_s)
    assert monthly.median_s is not None and 10 * DAY_S < monthly.median_s < 20 * DAY_S
    assert quarterly.recall is not None and 0.5 < quarterly.recall < 0.85  # about 60 / 90
    assert result.everything.engine.recall == 0.0 and result.false_alerts == 0
    assert result.false_per_100_borrower_days == 0.0


def test_cli_prints_tables_writes_json_and_a_self_contained_timeline(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    numbers, plot = tmp_path / "e.json", tmp_path / "timeline.html"
    result = runner.invoke(
        cli(),
        [
            "evaluate",
            "--truth",
            str(files[0]),
            "--alerts",
            str(files[1]),
            "--borrowers",
            "10",
            "--days",
            "2",
            "--json",
            str(numbers),
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "precision 0.50, recall 0.67" in result.output
    assert "15.00 per 100 borrower-days" in result.output
    assert "none yet" in result.output and "no detector yet for: sensor_swap" in result.output
    report = orjson.loads(numbers.read_bytes())
    assert report["false_alerts"] == 3 and report["recall_all_events"] == 0.5
    page = plot.read_text()
    assert "http" not in page and "<script" not in page
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    assert len(list(svg.iter("g"))) == len(ALERTS)
    assert len([r for r in svg.iter("rect") if r.get("fill-opacity")]) == len(TRUTH)


def test_png_timeline_is_refused_with_the_reason(files: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="matplotlib"):
        write_timeline(tmp_path / "t.png", render_timeline([], [], match([], [])))
    result = runner.invoke(
        cli(), ["evaluate", "--truth", str(files[0]), "--alerts", str(files[1]), "--plot", "t.png"]
    )
    assert result.exit_code == 2 and "matplotlib" in result.output


@pytest.mark.parametrize(
    ("which", "content", "message"),
    [
        ("truth", b'{"scenario": "x", "tenant": "t"}\n', "truth.jsonl:1: borrower_id: missing"),
        (
            "truth",
            b"\n" + orjson.dumps({**TRUTH[0], "end_ts": 1}),
            "truth.jsonl:2: end_ts: is before start_ts",
        ),
        ("truth", b"[1]\n", "truth.jsonl:1: not a JSON object"),
        (
            "alerts",
            orjson.dumps({**ALERTS[0], "opened_at": "soon"}),
            "alerts.jsonl:1: opened_at: missing, or not epoch",
        ),
        ("alerts", b"{not json\n", "alerts.jsonl:1: not JSON"),
    ],
)
def test_bad_lines_are_refused_naming_file_line_and_field(
    files: tuple[Path, Path], which: str, content: bytes, message: str
) -> None:
    path = files[0] if which == "truth" else files[1]
    path.write_bytes(content)
    reader = read_truth_file if which == "truth" else read_alerts
    with pytest.raises(EvaluationFileError) as caught:
        reader(path)
    assert message in str(caught.value)
    result = runner.invoke(cli(), ["evaluate", "--truth", str(files[0]), "--alerts", str(files[1])])
    assert result.exit_code == 2 and message in result.output.replace("\n", "")


def test_alerts_without_raised_at_count_from_their_evidence(tmp_path: Path) -> None:
    raw = {k: v for k, v in ALERTS[0].items() if k != "raised_at"}
    (record,) = read_alerts(write_lines(tmp_path / "a.jsonl", [raw]))
    assert record.raised_at == record.opened_at == 1500
    assert record.until == 3360  # updated_at, as it is still open
