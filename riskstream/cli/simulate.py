"""`riskstream simulate fleet` and `riskstream simulate run`."""

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from devices.errors import FleetFileError, TopicError
from devices.fleet_file import load_fleet, save_fleet
from devices.model import Fleet
from devices.sparkplug.host_state import state_topic
from devices.sparkplug.mapping import SparkplugMap, sparkplug_map
from devices.topics import ID_PATTERN
from riskstream.cli.terminal import command_console
from simulator import (
    SCENARIOS,
    FleetError,
    Injection,
    Message,
    generate,
    generate_fleet,
    loan_events,
    parse_broker_url,
    plan_scenarios,
    publish,
    run_to_file,
    truth_records,
    write_outcomes,
    write_truth,
)
from simulator import cross_pledge as cross
from simulator.errors import BrokerUnavailableError
from simulator.fleetgen import parse_load_cells
from simulator.run import file_format, run_lenders_to_file
from simulator.wire import MAX_BATCH

PASSWORD_ENV = "RISKSTREAM_MQTT_PASSWORD"  # noqa: S105 (a variable's name)

console = command_console()
err = command_console(stderr=True)

DAY_S = 86_400.0


class _UsageError(Exception):
    """A bad argument: the message names the option."""


def fleet(
    borrowers: Annotated[int, typer.Option(min=1, help="number of borrowers")] = 20,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same file)")] = 1,
    out: Annotated[Path, typer.Option(help="fleet file to write (YAML)")] = Path("fleet.yaml"),
    tenant: Annotated[str, typer.Option(help="tenant (lender) id")] = "demo-bank",
    load_cells: Annotated[
        str,
        typer.Option(
            help="load cells per warehouse lot: N, or FEWEST-MOST drawn per lot (1-8), "
            "each cell its share of the lot with its own noise"
        ),
    ] = "1",
) -> None:
    """Generate a fleet file: borrowers, loans, pledged collateral, sites and devices.

    \b
    Examples:
      riskstream simulate fleet --borrowers 50 --seed 3 --out fleet.yaml
      riskstream simulate fleet --borrowers 40 --load-cells 1-8 --out fleet.yaml
    """
    if not ID_PATTERN.match(tenant):
        err.print(f"[red]error:[/red] --tenant: {tenant!r} is not an id (letters, digits, . _ -)")
        raise typer.Exit(2)
    cells = parse_load_cells(load_cells)
    if cells is None:
        err.print(
            f"[red]error:[/red] --load-cells: {load_cells!r} is not N or FEWEST-MOST "
            "with 1 <= FEWEST <= MOST <= 8"
        )
        raise typer.Exit(2)
    generated = generate_fleet(borrowers, seed, tenant, cells)
    try:
        save_fleet(generated, out)
    except OSError as exc:
        err.print(f"[red]error:[/red] --out: cannot write {out}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    console.print(f"wrote {out}: {borrowers} borrowers, {len(generated.devices())} devices")


def _kinds(scenarios: str | None) -> list[str] | None:
    if scenarios is None:
        return None
    kinds = [k.strip() for k in scenarios.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in SCENARIOS]
    if unknown:
        raise _UsageError(
            f"--scenarios: unknown kind(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}"
        )
    return kinds


def _check(
    days: float, broker: str | None, out: Path | None, batch: int, sign: bool, start: float | None
) -> tuple[str, int] | None:
    """Check the options that typer cannot; return the broker's host and port if any."""
    if not (math.isfinite(days) and days > 0):
        raise _UsageError(f"--days: must be a number > 0, got {days}")
    if (broker is None) == (out is None):
        raise _UsageError("give exactly one of --broker (publish) or --out (write a file)")
    if start is not None and not (math.isfinite(start) and start >= 0):
        raise _UsageError(f"--start: must be epoch seconds >= 0, got {start}")
    if out is not None:
        try:
            file_format(out)
        except ValueError as exc:
            raise _UsageError(f"--out: {exc}") from None
        if batch != 1 or sign:
            raise _UsageError("--batch and --sign apply to --broker only (files have no payloads)")
        return None
    assert broker is not None
    try:
        return parse_broker_url(broker)
    except ValueError as exc:
        raise _UsageError(f"--broker: {exc}") from None


def _load(fleet_file: Path) -> Fleet:
    try:
        return load_fleet(fleet_file)
    except FleetFileError as exc:
        raise _UsageError(f"--fleet: {exc}") from None


def _check_host_id(host_id: str | None, sparkplug: bool) -> None:
    if host_id is None:
        return
    if not sparkplug:
        raise _UsageError("--sparkplug-host-id is for --sparkplug")
    try:
        state_topic(host_id)
    except TopicError as exc:
        raise _UsageError(f"--sparkplug-host-id: {exc}") from None


def _sparkplug(
    fleet: Fleet, fleet_file: Path, out: Path | None, batch: int, sign: bool
) -> SparkplugMap:
    if out is not None or batch != 1 or sign:
        raise _UsageError("--sparkplug publishes to --broker, without --batch or --sign")
    if fleet.sparkplug is None:
        raise _UsageError(
            f"--sparkplug: {fleet_file} has no 'sparkplug' section; add 'sparkplug: {{}}' "
            "(each device then publishes as device {id} of edge node {site})"
        )
    return sparkplug_map([fleet])


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _summary(injections: list[Injection]) -> str:
    counts = Counter(i.scenario for i in injections)
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"


def run(
    fleet_file: Annotated[Path, typer.Option("--fleet", help="fleet file (YAML)")],
    days: Annotated[float, typer.Option(help="simulated days (> 0)")] = 1.0,
    start: Annotated[
        float | None, typer.Option(help="event time of the start, epoch s (default: now - days)")
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.0, help="event seconds per wall second (0: no pacing)")
    ] = 0.0,
    broker: Annotated[str | None, typer.Option(help="publish to mqtt://HOST:PORT")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write telemetry.csv or telemetry.parquet instead")
    ] = None,
    truth: Annotated[Path, typer.Option(help="ground truth file (JSON lines)")] = Path(
        "truth.jsonl"
    ),
    outcomes: Annotated[
        Path | None, typer.Option(help="loan outcomes file (JSON lines, POST /api/loan-events)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    scenario_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of borrowers hit")
    ] = 0.3,
    scenarios: Annotated[
        str | None, typer.Option(help="comma list of kinds (default: all): " + ", ".join(SCENARIOS))
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH, help="reports of a device per message (JSON array)")
    ] = 1,
    sign: Annotated[bool, typer.Option(help="sign payloads with the device secrets")] = False,
    glitches: Annotated[
        bool, typer.Option(help="harmless glitches: dropped messages, reboots, spikes")
    ] = True,
    retry_for: Annotated[
        float, typer.Option(min=0.0, help="give up after the broker is unreachable this long (s)")
    ] = 300.0,
    username: Annotated[
        str | None,
        typer.Option(
            help="MQTT user (e.g. devices-TENANT on a NATS cluster); password from "
            "RISKSTREAM_MQTT_PASSWORD"
        ),
    ] = None,
    sparkplug: Annotated[
        bool,
        typer.Option(
            "--sparkplug",
            help="publish as Sparkplug B edge nodes (protobuf on spBv1.0/...), as the fleet "
            "file's 'sparkplug' section binds the devices",
        ),
    ] = False,
    sparkplug_host_id: Annotated[
        str | None,
        typer.Option(
            help="with --sparkplug: the edge nodes' Primary Host (ingest's "
            "--sparkplug-host-id): births only once its STATE is online, a pause while it "
            "is offline, births again when it is back"
        ),
    ] = None,
) -> None:
    """Play a fleet's telemetry with injected risk scenarios, to a broker or a file.

    \b
    Examples:
      riskstream simulate run --fleet fleet.yaml --days 2 --speed 3600 \\
        --broker mqtt://127.0.0.1:1883
      riskstream simulate run --fleet fleet.yaml --days 30 --out \\
        telemetry.parquet
      riskstream simulate run --fleet fleet.yaml --broker \\
        mqtt://127.0.0.1:1883 --batch 50 --sign
      riskstream simulate run --fleet fleet.yaml --broker \\
        mqtt://127.0.0.1:1883 --sparkplug
    """
    try:
        target = _check(days, broker, out, batch, sign, start)
        loaded = _load(fleet_file)
        kinds = _kinds(scenarios)
        mapping = _sparkplug(loaded, fleet_file, out, batch, sign) if sparkplug else None
        _check_host_id(sparkplug_host_id, sparkplug)
    except _UsageError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    begin = float(int(time.time() - days * DAY_S)) if start is None else start
    end = begin + days * DAY_S
    try:
        injections = plan_scenarios(loaded, seed, begin, end, rate=scenario_rate, kinds=kinds)
        messages = generate(loaded, injections, begin, end, seed, glitches=glitches)
    except FleetError as exc:
        err.print(f"[red]error:[/red] {fleet_file}: {exc}")
        raise typer.Exit(2) from None
    write_truth(truth_records(loaded.tenant.id, injections, end), truth)
    console.print(f"ground truth in {truth}: {_summary(injections)}")
    if outcomes is not None:
        events = loan_events(loaded, injections, begin, end, seed)
        write_outcomes(events, outcomes)
        console.print(f"loan outcomes in {outcomes}: {len(events)} events")
    if out is not None:
        _to_file(messages, loaded.tenant.id, out, begin, end)
        return
    assert target is not None
    secrets = {d.id: d.secret for d in loaded.devices() if d.secret} if sign else None
    login = (username, os.environ.get(PASSWORD_ENV, "")) if username else None
    if login is not None and not login[1]:
        err.print(f"[red]error:[/red] --username {username}: set {PASSWORD_ENV} to its password")
        raise typer.Exit(2)
    try:
        _to_broker(
            messages,
            loaded.tenant.id,
            target,
            (speed, begin, end),
            batch,
            secrets,
            retry_for,
            mapping,
            login,
            sparkplug_host_id,
        )
    except BrokerUnavailableError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _to_file(messages: Iterator[Message], tenant: str, out: Path, begin: float, end: float) -> None:
    began = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("event time", total=end - begin, done="0 readings")

        def on_progress(rows: int, ts: float) -> None:
            progress.update(task, completed=max(0.0, ts - begin), done=f"{rows:,} readings")

        n = run_to_file(messages, tenant, out, on_progress=on_progress)
        progress.update(task, completed=end - begin, done=f"{n:,} readings")
    elapsed = time.perf_counter() - began
    console.print(
        f"wrote {n:,} readings to {out} in {elapsed:.1f} s ({n / elapsed:,.0f} readings/s)"
    )


def _to_broker(
    messages: Iterator[Message],
    tenant: str,
    target: tuple[str, int],
    pace: tuple[float, float, float],
    batch: int,
    secrets: dict[str, str] | None,
    retry_for: float,
    sparkplug: SparkplugMap | None = None,
    login: tuple[str, str] | None = None,
    sparkplug_host_id: str | None = None,
) -> None:
    speed, begin, end = pace  # event s per wall s, first and last event time
    readings = 0

    def counted() -> Iterator[Message]:
        nonlocal readings
        for m in messages:
            readings += len(m.values)
            yield m

    began = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("event time", total=end - begin, done="0 messages")

        def on_progress(n: int, ts: float) -> None:
            progress.update(task, completed=max(0.0, ts - begin), done=f"{n:,} messages")

        n = asyncio.run(
            publish(
                counted(),
                tenant=tenant,
                host=target[0],
                port=target[1],
                speed=speed,
                start_ts=begin,
                on_progress=on_progress,
                batch=batch,
                secrets=secrets,
                give_up_after=retry_for,
                sparkplug=sparkplug,
                login=login,
                sparkplug_host_id=sparkplug_host_id,
            )
        )
    elapsed = time.perf_counter() - began
    signed = ", signed" if secrets is not None else ""
    signed += ", Sparkplug B" if sparkplug is not None else ""
    console.print(
        f"published {n:,} messages ({readings:,} readings{signed}) in {elapsed:.1f} s: "
        f"{n / elapsed:,.0f} messages/s, {readings / elapsed:,.0f} readings/s"
    )


def cross_pledge(
    fleet_file: Annotated[
        Path, typer.Option("--fleet", help="the first lender's fleet file (YAML)")
    ],
    lender: Annotated[str, typer.Option(help="the second lender's tenant id")] = "second-bank",
    lots: Annotated[int, typer.Option(min=1, help="lots pledged to both lenders")] = 2,
    days: Annotated[float, typer.Option(min=0.01, help="simulated days")] = 1.0,
    start: Annotated[
        float | None, typer.Option(help="event time of the start, epoch s (default: now - days)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same files)")] = 1,
    out: Annotated[
        Path, typer.Option(help="both lenders' telemetry (.csv with a tenant column)")
    ] = Path("telemetry.csv"),
    fleets: Annotated[
        Path, typer.Option(help="directory for both lenders' fleet files (TENANT.yaml)")
    ] = Path("."),
    truth: Annotated[Path, typer.Option(help="ground truth file (JSON lines)")] = Path(
        "truth.jsonl"
    ),
) -> None:
    """Simulate goods pledged to two lenders of one platform (scenario cross_pledge).

    The second lender registers, under its own ids, lots of the first lender's goods:
    the same load cells (serials), RFID tags, and a site within 30 m; its telemetry is
    the first lender's cells' under its device ids. Decoys share one fact only (the
    place of one lot, the weight changes of another). Writes both fleet files (every
    device of the first fleet gets a serial), one telemetry file with a tenant column
    and the ground truth; replay them with several --fleet options of backtest.

    \b
    Example:
      riskstream simulate cross-pledge --fleet fleet.yaml --lender bank-b \\
        --days 2 --out telemetry.csv --fleets fleets --truth truth.jsonl
    """
    try:
        loaded = _load(fleet_file)
        if not ID_PATTERN.match(lender):
            raise _UsageError(f"--lender: {lender!r} is not an id (letters, digits, . _ -)")
        if out.suffix.lower() != ".csv":
            raise _UsageError(f"--out: {out}: several lenders' telemetry is written as .csv")
        pledge = cross.pledge_twice(loaded, lender, lots, seed)
    except (_UsageError, FleetError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    begin = float(int(time.time() - days * DAY_S)) if start is None else start
    end = begin + days * DAY_S
    try:
        fleets.mkdir(parents=True, exist_ok=True)
        for each in (pledge.first, pledge.second):
            save_fleet(each, fleets / f"{each.tenant.id}.yaml")
        write_truth(cross.truth(pledge, begin, end), truth)
        messages = cross.both_lenders(generate(pledge.first, [], begin, end, seed), pledge)
        n = run_lenders_to_file(messages, out)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write: {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"fleets {fleets / (pledge.first.tenant.id + '.yaml')} and "
        f"{fleets / (lender + '.yaml')}; {n:,} readings of both lenders in {out}; "
        f"ground truth in {truth}: {cross.SCENARIO} {2 * len(pledge.lots)} "
        f"(lots {', '.join(pledge.lots)} at both lenders)"
    )


def register(app: typer.Typer) -> None:
    """Add these commands to `riskstream simulate`."""
    app.command("fleet")(fleet)
    app.command("run")(run)
    app.command("cross-pledge")(cross_pledge)
