"""`riskstream bench login`: GET /api/me latency while wrong logins flood POST /api/token.

The service runs in a child process (uvicorn on a free loopback port, a fresh SQLite
database with one user), as `riskstream serve` would, without ingest. This process
logs the user in, then sends ``--logins`` wrong logins at once; a thread meanwhile
calls GET /api/me with the token, one request after another, until the flood is
answered. It reports p50/p99/max of /api/me, the flood's answers by status and the
service's peak RSS. ``--no-throttle`` turns the login back-off off, as a flood from
many addresses would find it, so that only the password-check slots bound the work.

`run_flood` is also what the tests use (with generous bounds instead of the target).
"""

import asyncio
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn

from riskstream.api.app import create_app
from riskstream.cli.terminal import command_console
from riskstream.service import login_guard, password_slots
from riskstream.service.database import open_service_database
from riskstream.service.local_broker import free_port, machine
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore

console = command_console()
USER = "bench"
PASSWORD = "bench-password"  # noqa: S105 - a throwaway user of a temporary database
TARGET_P99_MS = 250.0


@dataclass
class FloodResult:
    """What the /api/me prober and the flood saw."""

    me_ms: list[float] = field(default_factory=list)
    me_statuses: Counter[int] = field(default_factory=Counter)
    login_statuses: Counter[int] = field(default_factory=Counter)
    refusals_without_retry_after: int = 0
    flood_s: float = 0.0

    def me_percentile_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of /api/me latency, nearest rank."""
        ordered = sorted(self.me_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def run_flood(
    base_url: str, token: str, logins: int = 200, username: str = USER, timeout_s: float = 30.0
) -> FloodResult:
    """Send ``logins`` wrong logins for ``username`` at once while a thread calls
    GET /api/me with ``token`` back to back; return what both saw. Status 0 counts a
    request that failed without an answer (connection error or ``timeout_s``)."""
    result = FloodResult()
    stop = threading.Event()
    prober = threading.Thread(
        target=_probe_me, args=(base_url, token, result, stop, timeout_s), daemon=True
    )
    prober.start()
    started = time.perf_counter()
    try:
        asyncio.run(_flood(base_url, logins, username, result, timeout_s))
    finally:
        result.flood_s = time.perf_counter() - started
        stop.set()
        prober.join(timeout_s)
    return result


def _probe_me(
    base_url: str, token: str, result: FloodResult, stop: threading.Event, timeout_s: float
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=auth, timeout=timeout_s) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                status = client.get("/api/me").status_code
            except httpx.HTTPError:
                status = 0
            result.me_ms.append((time.perf_counter() - started) * 1000)
            result.me_statuses[status] += 1


async def _flood(
    base_url: str, logins: int, username: str, result: FloodResult, timeout_s: float
) -> None:
    limits = httpx.Limits(max_connections=logins, max_keepalive_connections=logins)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as client:

        async def wrong_login(i: int) -> None:
            form = {"username": username, "password": f"wrong-password-{i:05d}"}
            try:
                response = await client.post("/api/token", data=form)
            except httpx.HTTPError:
                result.login_statuses[0] += 1
                return
            result.login_statuses[response.status_code] += 1
            refused = response.status_code in (429, 503)
            if refused and not response.headers.get("retry-after", "").isdigit():
                result.refusals_without_retry_after += 1

        await asyncio.gather(*(wrong_login(i) for i in range(logins)))


def _serve(database: str, port: int, throttle: bool, slots: int) -> None:
    """The child process: the HTTP service on ``port`` (no ingest)."""
    if not throttle:
        login_guard.FREE_FAILURES = 1 << 30
    password_slots.SLOTS = slots
    runtime = Runtime(ServiceSettings(database=database, deadletter=None, checkpoint_enabled=False))
    uvicorn.run(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")


def _proc_kib(pid: int, key: str) -> int:
    """``VmRSS`` or ``VmHWM`` (peak) of a process, in KiB; 0 where /proc has none."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _wait_until_up(base_url: str, child: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not child.is_alive():
            raise RuntimeError("the HTTP service exited while starting")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the HTTP service did not answer /healthz within 60 s")


def login(
    logins: Annotated[int, typer.Option(min=1, max=5000, help="wrong logins sent at once")] = 200,
    throttle: Annotated[
        bool, typer.Option(help="--no-throttle: no back-off, as from many addresses")
    ] = True,
    slots: Annotated[
        int,
        typer.Option(min=1, max=5000, help="password checks at a time (the service's default)"),
    ] = password_slots.SLOTS,
) -> None:
    """GET /api/me latency (p50/p99/max) while wrong logins flood POST /api/token.

    \b
    Example: riskstream bench login --logins 200 --no-throttle
    """
    with tempfile.TemporaryDirectory(prefix="rs-bench-login-") as tmp:
        database = str(Path(tmp) / "bench.db")
        UserStore(open_service_database(database)).add(USER, PASSWORD, "bench", "risk_admin")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        child = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(database, port, throttle, slots), daemon=True
        )
        child.start()
        try:
            _wait_until_up(base_url, child)
            answer = httpx.post(
                f"{base_url}/api/token", data={"username": USER, "password": PASSWORD}, timeout=30
            )
            answer.raise_for_status()
            rss_before = _proc_kib(child.pid or 0, "VmRSS")
            result = run_flood(base_url, answer.json()["access_token"], logins)
            rss_peak = _proc_kib(child.pid or 0, "VmHWM")
        finally:
            child.terminate()
            child.join(10)
    _report(result, logins, throttle, slots, rss_before, rss_peak)


def _report(
    result: FloodResult, logins: int, throttle: bool, slots: int, rss_before: int, rss_peak: int
) -> None:
    p99 = result.me_percentile_ms(0.99)
    median = statistics.median(result.me_ms) if result.me_ms else 0.0
    answers = ", ".join(
        f"{n} × {code or 'no answer'}" for code, n in sorted(result.login_statuses.items())
    )
    console.print(f"machine: {machine()}; service in a child process, clients in this one")
    console.print(
        f"{logins} concurrent wrong logins ({'with' if throttle else 'without'} back-off, "
        f"{slots} password-check slots) answered in {result.flood_s:.2f} s: "
        f"{answers}; {result.refusals_without_retry_after} refusals lacked Retry-After"
    )
    me = ", ".join(f"{n} × {code or 'no answer'}" for code, n in sorted(result.me_statuses.items()))
    console.print(
        f"GET /api/me during the flood, {len(result.me_ms)} calls ({me}): p50 {median:.1f} ms, "
        f"p99 {p99:.1f} ms, max {max(result.me_ms, default=0.0):.1f} ms "
        f"(target p99 < {TARGET_P99_MS:.0f} ms)"
    )
    console.print(f"service RSS {rss_before / 1024:.0f} MiB before, peak {rss_peak / 1024:.0f} MiB")
    if p99 >= TARGET_P99_MS or set(result.me_statuses) != {200}:
        raise typer.Exit(1)


def register(bench_app: typer.Typer) -> None:
    """Add `bench login`."""
    bench_app.command("login")(login)


if __name__ == "__main__":
    typer.run(login)
