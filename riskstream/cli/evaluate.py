"""`riskstream evaluate`: alerts against ground truth, next to the periodic checks."""

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from devices.errors import FleetFileError
from devices.fleet_file import load_fleet
from riskstream.backtest import (
    BASELINES,
    Evaluation,
    InputFileError,
    evaluate,
    match,
    read_alerts,
    read_truth_file,
    render_timeline,
    write_timeline,
)
from riskstream.backtest.evaluate import Detection, TtdFrom
from riskstream.backtest.matching import GRACE_S
from riskstream.cli.terminal import command_console
from riskstream.durations import format_duration

console = command_console()
err = command_console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _share(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _ttd(x: float | None) -> str:
    return "–" if x is None else format_duration(x)


def _cells(d: Detection) -> list[str]:
    return [f"{d.detected}/{d.events}", _share(d.recall), _ttd(d.median_s), _ttd(d.p90_s)]


def _scenario_table(result: Evaluation) -> Table:
    table = Table(
        title="riskstream: detection by scenario",
        caption="TTD: event time from an event's start until "
        + (
            "the engine raised its alert"
            if result.ttd_from == "raised_at"
            else "the evidence of its alert (--ttd-from opened_at)"
        ),
    )
    table.add_column("scenario", no_wrap=True)
    table.add_column("detected by")
    for name in ("found", "recall", "TTD median", "TTD p90"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in result.scenarios:
        engine = (
            _cells(row.engine) if row.has_detector else [f"–/{row.engine.events}", "–", "–", "–"]
        )
        kinds = ", ".join(row.alert_kinds) if row.has_detector else "none yet"
        table.add_row(row.scenario, kinds, *engine)
    table.add_section()
    for row in (result.detectable, result.everything):
        table.add_row(row.scenario, "", *_cells(row.engine), style="bold")
    return table


def _baseline_table(result: Evaluation) -> Table:
    table = Table(
        title="the periodic checks riskstream replaces: share caught, median TTD",
        caption="; ".join(f"{c.short}: {c.label}" for c in BASELINES)
        + ", at a seeded random phase per borrower; an event is caught by the first check "
        "after its start if that comes before its end (or the run's end)",
    )
    table.add_column("scenario", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True)
    table.add_column("riskstream", justify="right", no_wrap=True)
    for check in BASELINES:
        table.add_column(check.short, justify="right", no_wrap=True)
    rows = [*result.scenarios, result.everything]
    for n, row in enumerate(rows):
        if n == len(rows) - 1:
            table.add_section()
        engine = _pair(row.engine) if row.has_detector else "no detector"
        cells = [engine] + [_pair(row.baselines[c.key]) for c in BASELINES]
        table.add_row(row.scenario, str(row.engine.events), *cells)
    return table


def _pair(d: Detection) -> str:
    return f"{_share(d.recall)} · {_ttd(d.median_s)}"


def _kind_table(result: Evaluation) -> Table:
    table = Table("alert kind", "alerts", "matching an event", "false", "precision")
    table.title = "alerts by kind"
    for k in result.kinds:
        table.add_row(k.kind, str(k.alerts), str(k.matched), str(k.false), _share(k.precision))
    table.add_section()
    matched = result.alerts - result.false_alerts
    table.add_row(
        "all",
        str(result.alerts),
        str(matched),
        str(result.false_alerts),
        _share(result.precision),
        style="bold",
    )
    return table


def _summary(result: Evaluation) -> list[str]:
    rate = result.false_per_100_borrower_days
    return [
        f"precision {_share(result.precision)}, recall {_share(result.detectable.engine.recall)} "
        f"(kinds with a detector; {_share(result.everything.engine.recall)} of all injected), "
        f"median time to detect {_ttd(result.detectable.engine.median_s)}",
        f"false alerts: {result.false_alerts} in {result.borrowers} borrowers × "
        f"{result.days:.2f} days = {'–' if rate is None else f'{rate:.2f}'} per 100 borrower-days",
        *(f"note: {n}" for n in result.notes),
    ]


def evaluate_command(
    truth: Annotated[Path, typer.Option(help="ground truth (JSON lines, from the simulator)")],
    alerts: Annotated[Path, typer.Option(help="alerts (JSON lines, from riskstream backtest)")],
    borrowers: Annotated[
        int | None, typer.Option(min=1, help="borrowers in the fleet (for borrower-days)")
    ] = None,
    fleet: Annotated[
        Path | None, typer.Option(help="fleet file: count its borrowers instead")
    ] = None,
    days: Annotated[
        float | None, typer.Option(min=0.0, help="days of event time watched (default: files)")
    ] = None,
    grace: Annotated[
        float, typer.Option(min=0.0, help="seconds an alert's evidence may precede an event")
    ] = GRACE_S,
    seed: Annotated[int, typer.Option(help="seed of the periodic checks' phases")] = 0,
    ttd_from: Annotated[
        str,
        typer.Option(
            help="time to detect ends when the engine raised the alert (raised_at) or at "
            "its evidence (opened_at)"
        ),
    ] = "raised_at",
    plot: Annotated[
        Path | None, typer.Option(help="timeline of events and alerts (.html, self-contained)")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the numbers as JSON")
    ] = None,
) -> None:
    """Precision, recall, time to detect and false alerts, against the periodic checks.

    An alert matches an injected event when borrower and subject are the event's, its
    kind detects the event's scenario, and its evidence (opened_at) lies between the
    event's start (less --grace) and end. Time to detect runs from the event's start to
    the event time the engine raised the alert. The baselines are a monthly field exam
    and a quarterly review at a seeded random phase per borrower.

    \b
    Example: riskstream evaluate --truth truth.jsonl --alerts alerts.jsonl
    --fleet fleet.yaml --days 7 --plot timeline.html
    """
    if ttd_from not in ("raised_at", "opened_at"):
        raise _fail(f"--ttd-from: {ttd_from!r}: use raised_at or opened_at")
    if plot is not None and plot.suffix.lower() not in (".html", ".htm"):
        raise _fail(f"--plot: {plot}: write the timeline as .html (PNG would need matplotlib)")
    if fleet is not None and borrowers is None:
        try:
            borrowers = len(load_fleet(fleet).borrowers)
        except FleetFileError as exc:
            raise _fail(f"--fleet: {exc}") from None
    try:
        records = read_truth_file(truth)
        alert_records = read_alerts(alerts)
    except InputFileError as exc:
        raise _fail(str(exc)) from None
    when: TtdFrom = "opened_at" if ttd_from == "opened_at" else "raised_at"
    result = evaluate(records, alert_records, borrowers, days, grace, seed, when)
    console.print(_scenario_table(result))
    console.print(_baseline_table(result))
    console.print(_kind_table(result))
    summary = _summary(result)
    for line in summary:
        console.print(line)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2))
        console.print(f"numbers in {json_out}")
    if plot is not None:
        page = render_timeline(
            records, alert_records, match(records, alert_records, grace), seed, summary=summary
        )
        write_timeline(plot, page)
        console.print(f"timeline in {plot}")
