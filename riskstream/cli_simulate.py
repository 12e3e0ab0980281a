"""`riskstream simulate fleet` and `riskstream simulate run`."""

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from devices.errors import FleetFileError
from devices.fleet_file import load_fleet, save_fleet
from simulator import (
    SCENARIOS,
    generate,
    generate_fleet,
    plan_scenarios,
    publish,
    run_to_file,
    truth_records,
    write_truth,
)
from simulator.publisher import parse_broker_url

console = Console()
err = Console(stderr=True)


def fleet(
    borrowers: Annotated[int, typer.Option(min=1, help="number of borrowers")] = 20,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same file)")] = 1,
    out: Annotated[Path, typer.Option(help="fleet file to write (YAML)")] = Path("fleet.yaml"),
    tenant: Annotated[str, typer.Option(help="tenant (lender) id")] = "demo-bank",
) -> None:
    """Generate a fleet file: borrowers, loans, pledged collateral, sites and devices.

    Example: riskstream simulate fleet --borrowers 50 --seed 3 --out fleet.yaml
    """
    generated = generate_fleet(borrowers, seed, tenant)
    save_fleet(generated, out)
    console.print(f"wrote {out}: {borrowers} borrowers, {len(generated.devices())} devices")


def run(
    fleet_file: Annotated[Path, typer.Option("--fleet", help="fleet file (YAML)")],
    days: Annotated[float, typer.Option(min=0.0, help="simulated days")] = 1.0,
    start: Annotated[
        float | None, typer.Option(help="event time of the start, epoch s (default: now - days)")
    ] = None,
    speed: Annotated[
        float, typer.Option(help="event seconds per wall second (0: no pacing)")
    ] = 0.0,
    broker: Annotated[str | None, typer.Option(help="publish to mqtt://HOST:PORT")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write telemetry CSV instead of publishing")
    ] = None,
    truth: Annotated[Path, typer.Option(help="ground truth file (JSON lines)")] = Path(
        "truth.jsonl"
    ),
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    scenario_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.3,
    scenarios: Annotated[
        str | None, typer.Option(help=f"comma list of {', '.join(SCENARIOS)}")
    ] = None,
) -> None:
    """Play a fleet's telemetry with injected risk scenarios, to a broker or a CSV file.

    Examples:
      riskstream simulate run --fleet fleet.yaml --days 2 --speed 3600 --broker mqtt://127.0.0.1:1883
      riskstream simulate run --fleet fleet.yaml --days 30 --out telemetry.csv --truth truth.jsonl
    """
    if (broker is None) == (out is None):
        err.print("[red]error:[/red] give exactly one of --broker or --out")
        raise typer.Exit(2)
    try:
        loaded = load_fleet(fleet_file)
    except FleetFileError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    kinds = [k.strip() for k in scenarios.split(",")] if scenarios else None
    begin = float(int(time.time() - days * 86400)) if start is None else start
    end = begin + days * 86400
    try:
        injections = plan_scenarios(loaded, seed, begin, end, rate=scenario_rate, kinds=kinds)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --scenarios: {exc}")
        raise typer.Exit(2) from None
    write_truth(truth_records(loaded.tenant.id, injections, end), truth)
    messages = generate(loaded, injections, begin, end, seed)
    if out is not None:
        n = run_to_file(messages, loaded.tenant.id, out)
        console.print(f"wrote {n:,} readings to {out}; ground truth in {truth}")
        return
    assert broker is not None
    try:
        host, port = parse_broker_url(broker)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[sent]} msgs"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("event time", total=end - begin, sent=0)

        def on_progress(n: int, ts: float) -> None:
            progress.update(task, completed=max(0.0, ts - begin), sent=f"{n:,}")

        n = asyncio.run(
            publish(
                messages,
                tenant=loaded.tenant.id,
                host=host,
                port=port,
                speed=speed,
                start_ts=begin,
                on_progress=on_progress,
            )
        )
    console.print(f"published {n:,} messages; ground truth in {truth}")


def register(app: typer.Typer) -> None:
    """Add these commands to `riskstream simulate`."""
    app.command("fleet")(fleet)
    app.command("run")(run)
