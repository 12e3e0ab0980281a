"""`riskstream backtest` and `riskstream evaluate`: replay telemetry, score the alerts."""

import time
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from devices.errors import FleetFileError
from devices.fleet_file import load_fleet
from devices.model import Fleet
from riskstream.backtest import (
    InputFileError,
    Telemetry,
    generic_fleet,
    read_telemetry,
    replay,
    write_alerts,
)
from riskstream.backtest.outcomes_file import LoanOutcome, read_outcomes_file
from riskstream.backtest.replay import STEP_S, ReplayResult, Steps
from riskstream.backtest.suggest_matrix import suggest_matrix as suggest
from riskstream.cli.matrix_report import report_matrix
from riskstream.cli.terminal import command_console
from riskstream.engine.core import Engine
from riskstream.engine.lenders import LenderEngines
from riskstream.errors import RulesFileError
from riskstream.rules.schema import RuleSet, load_rules

console = command_console()
err = command_console(stderr=True)

PROGRESS_MIN_ROWS = 500_000  # about two seconds of replay: show a bar above this


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _rules(path: Path | None) -> RuleSet:
    if path is None:
        return RuleSet()
    try:
        return load_rules(path)
    except RulesFileError as exc:
        raise _fail(str(exc)) from None


def _fleets(paths: list[Path] | None) -> list[Fleet]:
    fleets = []
    for path in paths or []:
        try:
            fleets.append(load_fleet(path))
        except FleetFileError as exc:
            raise _fail(f"--fleet: {exc}") from None
    tenants = [f.tenant.id for f in fleets]
    for tenant in tenants:
        if tenants.count(tenant) > 1:
            raise _fail(f"--fleet: two fleet files of lender {tenant!r}")
    return fleets


def _run(
    engine: Steps,
    telemetry: Telemetry,
    tenant: str | None,
    step: float,
    outcomes: list[LoanOutcome],
) -> ReplayResult:
    if len(telemetry) < PROGRESS_MIN_ROWS:
        return replay(engine, telemetry, tenant, step_s=step, outcomes=outcomes)
    bar = Progress(
        TextColumn("event time"),
        BarColumn(),
        TextColumn("{task.fields[done]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar if console.is_terminal else nullcontext(bar):
        task = bar.add_task("replay", total=max(telemetry.end - telemetry.start, 1.0), done="")

        def on_progress(done: int, ts: float) -> None:
            bar.update(task, completed=ts - telemetry.start, done=f"{done:,} readings")

        return replay(
            engine, telemetry, tenant, step_s=step, on_progress=on_progress, outcomes=outcomes
        )


def backtest(
    telemetry: Annotated[
        Path,
        typer.Option(
            help="telemetry file: .csv or .parquet with ts, device_id, metric, value "
            "(optional tenant, seq)"
        ),
    ],
    out: Annotated[Path, typer.Option(help="alerts to write, one JSON line each")] = Path(
        "alerts.jsonl"
    ),
    fleet: Annotated[
        list[Path] | None,
        typer.Option(
            help="fleet file (YAML); without it every device is a generic sensor. Give one "
            "per lender to replay several (the telemetry then needs a tenant column) with "
            "the platform's cross-lender match (pledged_elsewhere)"
        ),
    ] = None,
    rules: Annotated[Path | None, typer.Option(help="rules file (TOML; default: built in)")] = None,
    tick: Annotated[
        float, typer.Option(min=1.0, help="event seconds between timer runs (deadman)")
    ] = STEP_S,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            help="loan outcomes (JSON lines: ts, borrower_id, event), learned by the "
            "outcome model in event time; its progressive AUC and log loss are printed"
        ),
    ] = None,
    suggest_matrix: Annotated[
        Path | None,
        typer.Option(
            help="with --outcomes: write a suggested [scoring.matrix] (TOML) with weights "
            "learned per segment from how well each component ranked the outcomes"
        ),
    ] = None,
) -> None:
    """Run the risk engine over recorded telemetry in event time, as fast as it goes.

    Writes one JSON line per alert in its final state (the alert contract's fields,
    plus raised_at: the event time the engine raised it). Without --fleet every device
    is a generic sensor of borrower 'default' reporting at its median interval, and of
    the rules only the deadman (device_silent), custom rules ([[rules.custom]]) and
    anomaly detection on any series ([rules.anomaly.series]) apply.

    \b
    Example:
      riskstream backtest --telemetry telemetry.csv --fleet fleet.yaml --out \\
        alerts.jsonl --outcomes outcomes.jsonl
    """
    if suggest_matrix is not None and outcomes is None:
        raise _fail("--suggest-matrix needs --outcomes (the loan outcomes to learn from)")
    ruleset = _rules(rules)
    registered_fleets = _fleets(fleet)
    if len(registered_fleets) > 1:
        _lenders(telemetry, registered_fleets, ruleset, out, tick, outcomes)
        return
    registered = registered_fleets[0] if registered_fleets else None
    began = time.perf_counter()
    try:
        data = read_telemetry(telemetry)
        used = registered if registered is not None else generic_fleet(data)
        loan_outcomes = read_outcomes_file(outcomes) if outcomes is not None else []
    except InputFileError as exc:
        raise _fail(str(exc)) from None
    read_s = time.perf_counter() - began
    if registered is None:
        console.print(
            f"no --fleet: {len(data.device_ids):,} devices as generic sensors of borrower "
            "'default' (interval: median gap); only the deadman rule (device_silent), "
            "custom rules ([[rules.custom]]) and anomaly detection on any series "
            "([rules.anomaly.series]) apply",
            markup=False,
        )
    tenant = None if data.tenant is not None and registered is not None else used.tenant.id
    engine = Engine([used], ruleset)
    known = [o for o in loan_outcomes if o.borrower_id in engine.index.borrowers]
    if len(known) < len(loan_outcomes):
        console.print(
            f"note: {len(loan_outcomes) - len(known):,} loan outcomes of borrowers not in "
            "the fleet ignored"
        )
    if outcomes is not None:
        engine.scoring.snapshot_log = []
    result = _run(engine, data, tenant, tick, known)
    try:
        write_alerts(result.alerts, out)
    except OSError as exc:
        raise _fail(f"--out: cannot write {out}: {exc.strerror or exc}") from None
    total_s = time.perf_counter() - began
    _report(data, result, out, read_s, total_s)
    if outcomes is not None:
        _report_models(engine, len(known))
        table = report_matrix(engine, ruleset, known, data.end)
        if suggest_matrix is not None:
            text = suggest(ruleset.scoring.matrix, table)
            try:
                suggest_matrix.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise _fail(
                    f"--suggest-matrix: cannot write {suggest_matrix}: {exc.strerror or exc}"
                ) from None
            console.print(f"suggested matrix → {suggest_matrix} (review it, then apply it)")


def _lenders(
    telemetry: Path,
    fleets: list[Fleet],
    ruleset: RuleSet,
    out: Path,
    tick: float,
    outcomes: Path | None,
) -> None:
    """Replay several lenders' telemetry through one engine per lender and the
    platform's cross-lender match, as `riskstream serve` runs them."""
    if outcomes is not None:
        raise _fail("--outcomes: give one --fleet (loan outcomes name no lender)")
    began = time.perf_counter()
    try:
        data = read_telemetry(telemetry)
    except InputFileError as exc:
        raise _fail(str(exc)) from None
    if data.tenant is None:
        raise _fail(
            f"--telemetry: {telemetry} has no tenant column; several --fleet files need one "
            "to tell the lenders' devices apart"
        )
    read_s = time.perf_counter() - began
    # the cross-lender hashes live only in this process: a random platform key serves
    engines = LenderEngines(fleets, ruleset)
    result = _run(engines, data, None, tick, [])
    try:
        write_alerts(result.alerts, out)
    except OSError as exc:
        raise _fail(f"--out: cannot write {out}: {exc.strerror or exc}") from None
    console.print(f"{len(fleets)} lenders: {', '.join(f.tenant.id for f in fleets)}")
    _report(data, result, out, read_s, time.perf_counter() - began)


def _report(
    data: Telemetry, result: ReplayResult, out: Path, read_s: float, total_s: float
) -> None:
    notes = []
    if data.dropped:
        notes.append(f"{data.dropped:,} rows without a finite value dropped")
    if data.refused:
        notes.append(f"{data.refused:,} messages dropped as redeliveries or replays (by seq)")
    if data.out_of_order:
        notes.append(
            "rows are not in arrival order: seq checks (replays, forged senders, lost "
            "messages) skipped"
        )
    if data.resorted:
        notes.append("rows sorted by ts (the file was not in event-time order)")
    if result.unmatched:
        notes.append(f"{result.unmatched:,} readings of devices not in the fleet ignored")
    for note in notes:
        console.print(f"note: {note}")
    kinds = ", ".join(f"{k} {n}" for k, n in result.by_kind().items()) or "none"
    days = (data.end - data.start) / 86_400
    engine_rate = result.readings / result.seconds if result.seconds > 0 else 0.0
    n = len(result.alerts)
    console.print(
        f"{result.readings:,} readings, event time {_when(data.start)} to {_when(data.end)} "
        f"({days:.2f} days); {n} alert{'' if n == 1 else 's'} ({kinds}) → {out}; "
        f"{engine_rate:,.0f} readings/s in the engine, "
        f"{result.readings / total_s:,.0f}/s with reading the file ({read_s:.1f} s)"
    )


def register(app: typer.Typer) -> None:
    """Add `riskstream backtest` and `riskstream evaluate`."""
    from riskstream.cli.evaluate import evaluate_command

    app.command("backtest")(backtest)
    app.command("evaluate")(evaluate_command)


def _days(engine: Engine) -> str:
    models = engine.rules.models
    return f"{(models.horizon + models.outcome_grace) / 86_400:g} days"


def _report_models(engine: Engine, outcomes: int) -> None:
    """The outcome models' progressive validation after the replay."""
    engine.scoring.models.expire(engine.watermark or 0.0)
    for tenant, model in sorted(engine.scoring.models.by_tenant.items()):
        m = model.summary()
        auc = "n/a (needs good and bad labels)" if m["auc"] is None else f"{m['auc']:.3f}"
        logloss = "n/a" if m["logloss"] is None else f"{m['logloss']:.3f}"
        console.print(
            f"outcome model {tenant}: {outcomes:,} loan outcomes fed, {m['bad_outcomes']:,} "
            f"bad learned ({m['bad_outcomes_waiting']:,} more waiting until their snapshots "
            f"are {_days(engine)} old); {m['labels']:,} labelled snapshots "
            f"({m['positive_labels']:,} positive); progressive ROC AUC {auc}, "
            f"log loss {logloss}; weight in the borrower score {m['weight']:.0%}"
        )
