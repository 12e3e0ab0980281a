"""`riskstream bench notify`: how long alert changes take to reach webhooks and e-mail.

In one process, as in `riskstream serve` without ingest: a `Runtime` on a fresh SQLite
database, its webhook outbox and mail outbox running as they do in the service, and
receivers on loopback in threads of their own (`notify_receivers`). Alert changes are
stored with `Runtime.publish` at ``--rate`` per second, one alert each; latency is from
the moment the change is stored to the moment the receiver got it (its first 2xx for a
webhook). Three runs: webhooks to a receiver that always answers 204; to one that answers
500 half the time (seeded), which the outbox retries with its back-off (base
``--backoff-ms``, up to ``--attempts``; a delivery dead after its last attempt
counts as not delivered); e-mail over SMTP, one mail per change.
"""

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from riskstream.bench.notify_receivers import Arrivals, http_receiver, smtp_receiver, wait_for
from riskstream.cli.terminal import command_console
from riskstream.engine.alerts import Alert
from riskstream.service.local_broker import machine
from riskstream.service.notify import Filters
from riskstream.service.notify.webhook_store import WebhookDeliveryRow
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings

console = command_console()
TENANT = "bench-bank"


@dataclass(frozen=True)
class Figures:
    """One run's results; latencies in milliseconds."""

    label: str
    changes: int
    delivered: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    attempts_per_delivery: float | None = None

    @property
    def delivered_share(self) -> float:
        return self.delivered / self.changes if self.changes else 0.0


def _alert(i: int, now: float) -> Alert:
    return Alert(
        id=f"bench-{i:06d}",
        tenant=TENANT,
        borrower_id=f"b{i:06d}",
        loan_id=None,
        site_id=None,
        device_id=None,
        kind="inventory_below_pledge",
        subject=f"lot-{i}",
        severity="critical",
        status="open",
        opened_at=now,
        detected_at=now,
        updated_at=now,
        score=80.0,
        reasons=["weighed 40 % below the pledged quantity for 10 min"],
        evidence={},
        rule="rules.inventory_below_pledge",
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def _figures(
    label: str, stored: dict[str, float], arrivals: Arrivals, attempts: float | None = None
) -> Figures:
    latencies = [
        (arrivals.first[key] - at) * 1000 for key, at in stored.items() if key in arrivals.first
    ]
    return Figures(
        label,
        len(stored),
        len(latencies),
        statistics.median(latencies) if latencies else float("nan"),
        _percentile(latencies, 0.99),
        max(latencies, default=float("nan")),
        attempts,
    )


def _runtime(
    tmp: Path, name: str, backoff_s: float, attempts: int = 10, smtp_port: int | None = None
) -> Runtime:
    return Runtime(
        ServiceSettings(
            database=str(tmp / f"{name}.db"),
            deadletter=None,
            checkpoint_enabled=False,
            webhook_allowed_destinations=["127.0.0.1/32"],
            webhook_backoff_s=backoff_s,
            webhook_backoff_cap_s=max(backoff_s * 16, 1.0),
            webhook_max_attempts=attempts,
            smtp_host="127.0.0.1" if smtp_port else None,
            smtp_port=smtp_port or 587,
            smtp_starttls=False,
        )
    )


async def _feed(runtime: Runtime, changes: int, rate: float, key: str) -> dict[str, float]:
    """Store ``changes`` alert changes at ``rate`` per second; when each was stored."""
    stored: dict[str, float] = {}
    started = time.monotonic()
    for i in range(changes):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        alert = _alert(i, time.time())
        runtime.publish([alert])
        stored[alert.id if key == "id" else alert.borrower_id] = time.time()
    return stored


def _unfinished(runtime: Runtime) -> int:
    counts = runtime.notify.webhooks.counts(TENANT)
    return counts.get("pending", 0)


async def _webhooks(
    tmp: Path,
    label: str,
    changes: int,
    rate: float,
    fail_share: float,
    backoff_s: float,
    attempts: int,
) -> Figures:
    runtime = _runtime(tmp, f"webhooks-{fail_share:g}", backoff_s, attempts)
    with http_receiver(fail_share) as (url, arrivals):
        runtime.notify.webhooks.create(TENANT, url, "bench", Filters(), "bench", time.time())
        stop = asyncio.Event()
        await runtime.notify.outbox.step()  # its cursor starts at the newest change
        worker = asyncio.create_task(runtime.notify.outbox.run(stop, runtime.notifier))
        stored = await _feed(runtime, changes, rate, "id")
        await wait_for(lambda: len(arrivals.first) >= changes, 5.0)
        # retries still to come: wait until each delivery is delivered or dead
        await wait_for(lambda: not _unfinished(runtime), 3600.0)
        stop.set()
        await worker
    with runtime.notify.webhooks._session() as s:
        mean_attempts = s.scalar(select(func.avg(WebhookDeliveryRow.attempts)))
    runtime.db.dispose()
    return _figures(label, stored, arrivals, float(mean_attempts or 0.0))


async def _mail(tmp: Path, changes: int, rate: float) -> Figures:
    with smtp_receiver() as (port, arrivals):
        runtime = _runtime(tmp, "mail", 1.0, smtp_port=port)
        runtime.notify.mail.create(TENANT, "desk@bench.example", Filters(), 0, "bench", time.time())
        stop = asyncio.Event()
        await runtime.notify.mail_outbox.step()
        worker = asyncio.create_task(runtime.notify.mail_outbox.run(stop, runtime.notifier))
        stored = await _feed(runtime, changes, rate, "borrower")
        await wait_for(lambda: len(arrivals.first) >= changes, 60.0)
        stop.set()
        await worker
        runtime.db.dispose()
    return _figures("e-mail, one mail per change (SMTP)", stored, arrivals)


async def run_bench(
    changes: int, rate: float, backoff_s: float, email: bool = True, attempts: int = 10
) -> list[Figures]:
    """The three runs; what the command prints and the test checks."""
    with tempfile.TemporaryDirectory(prefix="rs-bench-notify-") as name:
        tmp = Path(name)
        always, flaky = "webhooks, receiver always 204", "webhooks, receiver 500 half the time"
        runs = [
            await _webhooks(tmp, always, changes, rate, 0.0, backoff_s, attempts),
            await _webhooks(tmp, flaky, changes, rate, 0.5, backoff_s, attempts),
        ]
        if email:
            runs.append(await _mail(tmp, changes, rate))
    return runs


def notify(
    changes: Annotated[int, typer.Option(min=1, max=100_000, help="alert changes per run")] = 200,
    rate: Annotated[
        float, typer.Option(min=0.1, max=10_000, help="alert changes stored per second")
    ] = 10.0,
    backoff_ms: Annotated[
        float, typer.Option(min=1, max=60_000, help="webhook_backoff_s for the runs, in ms")
    ] = 100.0,
    email: Annotated[bool, typer.Option(help="--no-email: webhooks only")] = True,
    attempts: Annotated[
        int, typer.Option(min=1, max=50, help="webhook_max_attempts for the runs")
    ] = 10,
) -> None:
    """Webhook and e-mail delivery latency (p50/p99, stored → received), and retries and
    delivered share against a receiver that fails half the time.

    \b
    Example: riskstream bench notify --changes 200 --rate 10
    """
    runs = asyncio.run(run_bench(changes, rate, backoff_ms / 1000.0, email, attempts))
    console.print(f"machine: {machine()}; {changes} changes per run at {rate:g}/s")
    console.print(
        f"webhook back-off base {backoff_ms:g} ms (the service's default is 10 s), "
        f"{attempts} attempts at most"
    )
    for run in runs:
        tries = (
            f", {run.attempts_per_delivery:.2f} attempts per delivery"
            if run.attempts_per_delivery is not None
            else ""
        )
        console.print(
            f"{run.label}: delivered {run.delivered}/{run.changes} "
            f"({run.delivered_share:.1%}); latency p50 {run.p50_ms:.1f} ms, "
            f"p99 {run.p99_ms:.1f} ms, max {run.max_ms:.1f} ms{tries}"
        )


def register(bench_app: typer.Typer) -> None:
    """Add ``bench notify``."""
    bench_app.command("notify")(notify)
