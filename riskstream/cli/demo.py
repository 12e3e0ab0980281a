"""`riskstream demo`: the whole path in one process, on embedded defaults.

A generated fleet is registered, an amqtt broker starts in-process (unless
``--broker`` names one), the simulator replays the recent past at ``speed``× with
injected risk scenarios and then keeps publishing in real time, ingest writes to an
embedded DuckDB file, the engine raises alerts and the HTTP service shows them.

With a second lender (``--second-lender``), lender `SECOND_LENDER` registers one lot of
the fleet's goods under its own ids (`simulator.cross_pledge`): the same load cells,
tags and place, its gateway echoing their telemetry. Both lenders' users (`DEMO_USER`,
`SECOND_USER`) then see ``pledged_elsewhere`` on their own lot.
"""

import asyncio
import contextlib
import logging
import shutil
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from devices.fleet_file import save_fleet
from devices.model import Fleet
from devices.private_files import make_private_dirs
from devices.registry import Registry
from ingest.errors import IngestStalledError
from riskstream.api.app import create_app
from riskstream.rules.keeper import built_in_text
from riskstream.service.database import open_service_database
from riskstream.service.embedded_broker import embedded_broker
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import UserStore
from simulator import cross_pledge as cross
from simulator import generate, generate_fleet, plan_scenarios, publish, truth_records, write_truth
from simulator.publisher import parse_broker_url
from simulator.telemetry import Message

log = logging.getLogger(__name__)

LIVE_TAIL_S = 30 * 86400.0
DEMO_USER = "demo"
DEMO_PASSWORD = "riskstream-demo"  # noqa: S105 (printed on screen; the demo's own throw-away user)
SECOND_LENDER = "demo-bank-2"
SECOND_USER = "demo2"  # of the second lender, with the same password
DEMO_SCENARIOS = ("inventory_drain", "geofence_exit", "device_silent")


@dataclass(frozen=True)
class DemoOptions:
    """What `riskstream demo` was asked to do."""

    data_dir: Path
    borrowers: int = 20
    seed: int = 7
    speed: float = 360.0
    history_s: float = 12 * 3600.0
    scenario_rate: float = 0.3
    broker: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    duration_s: float | None = None
    rules: Path | None = None
    second_lender: bool = False


@dataclass
class DemoState:
    """Progress the terminal summary shows."""

    published: int = 0
    replay_done: bool = False


def _split_at(
    messages: Iterator[Message], ts: float
) -> tuple[Iterator[Message], Iterator[Message]]:
    """Two iterators: messages before ``ts``, then the rest (consumed lazily, in order)."""
    pending: list[Message] = []

    def head() -> Iterator[Message]:
        for m in messages:
            if m.ts >= ts:
                pending.append(m)
                return
            yield m

    def tail() -> Iterator[Message]:
        yield from pending
        yield from messages

    return head(), tail()


def second_lender_of(fleet: Fleet, seed: int) -> cross.CrossPledge:
    """The demo's second lender, with one lot of ``fleet`` pledged to it too.

    Raises:
        FleetError: the fleet has too few located warehouse lots.
    """
    return cross.pledge_twice(fleet, SECOND_LENDER, 1, seed)


def prepare(
    options: DemoOptions, now: float
) -> tuple[ServiceSettings, Iterator[Message], float, str, Iterator[Message] | None]:
    """Create the data dir, fleet(s), registry, plan and truth; return what the run needs:
    the settings, the first lender's messages, the start, its tenant, and the second
    lender's messages (None without one)."""
    if options.data_dir.exists():
        shutil.rmtree(options.data_dir)
    make_private_dirs(options.data_dir)
    fleet = generate_fleet(options.borrowers, options.seed)
    pledge = second_lender_of(fleet, options.seed) if options.second_lender else None
    if pledge is not None:
        fleet = pledge.first
        save_fleet(pledge.second, options.data_dir / f"{SECOND_LENDER}.yaml")
    save_fleet(fleet, options.data_dir / "fleet.yaml")
    database = str(options.data_dir / "riskstream.db")
    engine = open_service_database(database)
    Registry(engine).import_fleet(fleet)
    UserStore(engine).add(DEMO_USER, DEMO_PASSWORD, fleet.tenant.id, "risk_admin")
    if pledge is not None:
        Registry(engine).import_fleet(pledge.second)
        UserStore(engine).add(SECOND_USER, DEMO_PASSWORD, SECOND_LENDER, "risk_admin")
    engine.dispose()
    start = float(int(now - options.history_s))
    injections = plan_scenarios(
        fleet,
        options.seed,
        start,
        start + options.history_s,
        rate=options.scenario_rate,
        kinds=list(DEMO_SCENARIOS),
    )
    end = start + options.history_s + LIVE_TAIL_S
    records = truth_records(fleet.tenant.id, injections, end)
    if pledge is not None:
        records += cross.truth(pledge, start, end)
    write_truth(records, options.data_dir / "truth.jsonl")
    settings = ServiceSettings(
        broker=options.broker or "mqtt://127.0.0.1:1883",
        store=f"duckdb:///{(options.data_dir / 'telemetry.duckdb').resolve()}",
        database=database,
        rules=options.rules or _editable_rules(options.data_dir),
        checkpoint=options.data_dir / "engine.ckpt",
        deadletter=options.data_dir / "deadletter.jsonl",
        host=options.host,
        port=options.port,
    )
    echoes = None
    if pledge is not None:  # the same telemetry once more: the second lender's echo of it
        again = generate(fleet, injections, start, end, options.seed)
        echoes = (m for t, m in cross.both_lenders(again, pledge) if t == SECOND_LENDER)
    messages = generate(fleet, injections, start, end, options.seed)
    return settings, messages, start, fleet.tenant.id, echoes


def _editable_rules(data_dir: Path) -> Path:
    """A copy of the built-in rules in the demo's directory, so they can be edited live."""
    path = data_dir / "rules.toml"
    path.write_text(built_in_text(), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def _broker(url: str | None) -> AsyncIterator[str]:
    if url is not None:
        yield url
        return
    async with embedded_broker() as embedded_url:
        yield embedded_url


async def run_demo(
    options: DemoOptions,
    on_frame: Callable[[Runtime, DemoState, str], None] | None = None,
    ready: asyncio.Event | None = None,
) -> Runtime:
    """Run the demo until ``duration_s`` passes (or forever); return the runtime for stats."""
    now = time.time()
    settings, messages, start, tenant, echoes = prepare(options, now)
    state = DemoState()
    async with _broker(options.broker) as broker_url:
        settings = settings.model_copy(update={"broker": broker_url})
        runtime = Runtime(settings)
        app = create_app(runtime)
        server = _DemoServer(
            uvicorn.Config(
                app, host=options.host, port=options.port, log_level="warning", lifespan="on"
            )
        )
        stop = asyncio.Event()
        async with runtime.running():
            serve_task = asyncio.create_task(server.serve(), name="http")
            while not server.started:
                if serve_task.done():
                    await serve_task
                    raise RuntimeError(f"HTTP server could not start on port {options.port}")
                await asyncio.sleep(0.05)
            await asyncio.wait_for(runtime.ingest.connected.wait(), 30)  # type: ignore[union-attr]
            url = f"http://{options.host}:{_bound_port(server, options.port)}/"
            if ready is not None:
                ready.set()
            sims = [
                asyncio.create_task(
                    _simulate(messages, tenant, broker_url, options, start, now, runtime, state),
                    name="simulator",
                )
            ]
            if echoes is not None:
                echo = _simulate(
                    echoes, SECOND_LENDER, broker_url, options, start, now, runtime, DemoState()
                )
                sims.append(asyncio.create_task(echo, name="simulator-2"))
            began = time.monotonic()
            try:
                with _stop_on_signals(stop):
                    while not stop.is_set() and (
                        options.duration_s is None or time.monotonic() - began < options.duration_s
                    ):
                        if runtime.failed.is_set():
                            raise IngestStalledError(runtime.ingest_failed or "ingest stopped")
                        if serve_task.done():
                            break  # the HTTP server stopped (it says why in its log)
                        if on_frame is not None:
                            on_frame(runtime, state, url)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), 0.5)
            finally:
                runtime.stop.set()
                for sim in sims:
                    sim.cancel()
                await asyncio.gather(*sims, return_exceptions=True)
                server.should_exit = True
                await serve_task
    return runtime


class _DemoServer(uvicorn.Server):
    """The HTTP server without uvicorn's own SIGINT/SIGTERM handlers: the demo takes them
    (`_stop_on_signals`) and stops the simulator, ingest and engine too, not the HTTP
    server alone. uvicorn would also re-raise the signal after its shutdown, which
    SIGTERM's default action turns into an exit with nothing flushed."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT or SIGTERM while the demo runs, even where the demo was
    started with SIGINT ignored (a background job of a non-interactive shell)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; whoever runs this elsewhere stops it
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, before[sig])


def _bound_port(server: uvicorn.Server, fallback: int) -> int:
    for s in server.servers:
        for sock in s.sockets:
            port: int = sock.getsockname()[1]
            return port
    return fallback


async def _simulate(
    messages: Iterator[Message],
    tenant: str,
    broker_url: str,
    options: DemoOptions,
    start: float,
    now: float,
    runtime: Runtime,
    state: DemoState,
) -> None:
    host, port = parse_broker_url(broker_url)
    speed = options.speed
    # Event time catches up with wall time after history / (speed - 1) wall seconds.
    catch_up = now + options.history_s / (speed - 1) if speed > 1 else now
    replay, live = _split_at(messages, catch_up)
    stop = runtime.stop

    def progress(n: int, _ts: float) -> None:
        state.published = base + n

    base = 0
    base = state.published = await publish(
        replay,
        tenant=tenant,
        host=host,
        port=port,
        speed=speed,
        start_ts=start,
        stop=stop,
        on_progress=progress,
        client_id=f"riskstream-demo-sim-{tenant}",
    )
    state.replay_done = True
    if stop.is_set():
        return
    await publish(
        live,
        tenant=tenant,
        host=host,
        port=port,
        speed=1.0,
        start_ts=catch_up,
        stop=stop,
        on_progress=progress,
        client_id=f"riskstream-demo-sim-live-{tenant}",
    )
