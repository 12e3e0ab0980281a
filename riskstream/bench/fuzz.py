"""`riskstream bench fuzz`: hostile messages through ingest's handler, valid ones between.

N messages go through `IngestPipeline.handle` in this process (no broker: this measures
the handler, and that nothing stops it), three hostile for each valid one. The hostile
ones come from a deterministic pool (`riskstream.bench.hostile`); the valid ones are
one-reading messages of a few registered devices with rising ``seq``. Refusals are
dead-lettered to a folder with the default bounds, as in production. Reported: messages/s,
refusals by reason, valid readings accepted (must be every one), peak RSS, and the
dead-letter folder's size against its bound. Exits 1 if a valid reading was lost or the
handler ever raised or refused something as ``internal_error``.
"""

import resource
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import orjson
import typer
from prometheus_client import CollectorRegistry
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.deadletter import DeadLetterLimits, DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.pipeline import DeviceAuth, IngestPipeline
from riskstream.bench.hostile import POISONED, TENANT, hostile_pool
from riskstream.cli.terminal import command_console
from riskstream.service.local_broker import machine

console = command_console()
GOOD_DEVICES = tuple(f"good-{i}" for i in range(8))
HOSTILE_PER_VALID = 3
POOL_SIZE = 4000
DRAIN_EVERY = 5000
POISONED_SECRET = "bench-fuzz-not-a-secret"  # noqa: S105 - signs nothing real


def _pipeline(deadletter: DeadLetterStore) -> IngestPipeline:
    devices = {(TENANT, d): DeviceAuth() for d in GOOD_DEVICES}
    devices[(TENANT, POISONED)] = DeviceAuth(secret=POISONED_SECRET)
    return IngestPipeline(devices, deadletter, IngestMetrics.create(CollectorRegistry()))


def _valid(device: str, seq: int, ts: float) -> bytes:
    return orjson.dumps({"ts": ts, "seq": seq, "values": {"weight_kg": 1000.0 + seq % 97}})


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def fuzz(
    messages: Annotated[int, typer.Option(min=1, help="messages in all, hostile and valid")] = (
        1_000_000
    ),
    seed: Annotated[int, typer.Option(help="seed of the hostile pool")] = 11,
    deadletter_dir: Annotated[
        Path | None, typer.Option(help="keep the dead-letter files here (default: a temp dir)")
    ] = None,
) -> None:
    """Hostile messages through ingest's handler: rate, refusals, nothing valid lost.

    \b
    Example: riskstream bench fuzz --messages 1000000
    """
    pool = hostile_pool(POOL_SIZE, seed)
    with tempfile.TemporaryDirectory(prefix="riskstream-fuzz-") as tmp:
        folder = deadletter_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        limits = DeadLetterLimits()
        deadletter = DeadLetterStore(folder / "deadletter.jsonl", keep_recent=100, limits=limits)
        pipeline = _pipeline(deadletter)
        reasons: Counter[str] = Counter()
        valid_sent = valid_accepted = 0
        largest_dir = 0
        now = time.time()
        seq = 0
        started = time.perf_counter()
        progress = Progress(
            TextColumn("fuzzing"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} messages"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        with progress:
            task = progress.add_task("fuzz", total=messages)
            for i in range(messages):
                if i % (HOSTILE_PER_VALID + 1) == 0:
                    device = GOOD_DEVICES[(i // 4) % len(GOOD_DEVICES)]
                    if device == GOOD_DEVICES[0]:
                        seq += 1
                    topic = f"rs/v1/{TENANT}/{device}/telemetry"
                    payload = _valid(device, seq, now - 600 + seq * 0.001)
                    valid_sent += 1
                else:
                    topic, payload = pool[i % POOL_SIZE]
                outcome = pipeline.handle(topic, payload, now)
                reasons.update(outcome.rejected)
                if i % DRAIN_EVERY == DRAIN_EVERY - 1 or i == messages - 1:
                    batch = pipeline.drain()
                    valid_accepted += sum(1 for r in batch if r.device_id != POISONED)
                    progress.update(task, completed=i + 1)
                    largest_dir = max(largest_dir, _dir_bytes(folder))
        seconds = time.perf_counter() - started
        deadletter.close()
        bound = limits.max_file_bytes * limits.files
        _report(messages, seconds, reasons, valid_sent, valid_accepted)
        console.print(
            f"dead letters: {deadletter.written:,} written, {deadletter.dropped:,} dropped by "
            f"rotation; folder at most {largest_dir / 2**20:,.1f} MiB "
            f"(bound {bound / 2**20:,.0f} MiB: {limits.files} files of "
            f"{limits.max_file_bytes / 2**20:,.0f} MiB)"
        )
        if valid_accepted != valid_sent or reasons["internal_error"] or largest_dir > bound:
            console.print(
                "[red]FAILED[/red]: a valid reading was lost, a fault escaped, "
                "or the dead letters passed their bound"
            )
            raise typer.Exit(1)


def _report(
    messages: int, seconds: float, reasons: Counter[str], valid_sent: int, valid_accepted: int
) -> None:
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"machine: {machine()}; in-process, no broker; pool seed fixed")
    table = Table("figure", "value")
    table.add_row("messages", f"{messages:,}")
    table.add_row("rate", f"{messages / seconds:,.0f} messages/s ({seconds:,.1f} s)")
    table.add_row("valid readings accepted", f"{valid_accepted:,} of {valid_sent:,}")
    table.add_row("peak RSS", f"{peak_rss_mib:,.0f} MiB")
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        table.add_row(f"refused: {reason}", f"{count:,}")
    console.print(table)


def register(bench_app: typer.Typer) -> None:
    """Add `riskstream bench fuzz`."""
    bench_app.command("fuzz")(fuzz)
