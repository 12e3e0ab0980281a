"""`riskstream bench engine`: backtest throughput and engine state per device.

Throughput: a generated fleet of about ``--devices`` devices reports for ``--hours``
of event time, with the simulator's scenarios planned on its first `PLAN_BORROWERS`
borrowers; the simulator writes that to a CSV in a temporary directory (not timed).
Then, separately:

- engine only: `Engine.process` and `Engine.tick` over readings built beforehand, in
  the backtest's event-time batches;
- backtest: reading the CSV with pyarrow (ingest's sequence checks in file order,
  sorting), building the readings, and the engine (what ``riskstream backtest`` does,
  minus writing the alerts).

Each rate is given per wall second and per CPU second of the process (all its
threads): on a shared machine the second is the steadier figure, and the target is
for one core. The file is written once and the stages timed ``--repeat`` times (3 by
default); each run's rates are printed, and the table gives their median.

Memory: with tracemalloc on, an engine is built for the fleet and fed every metric of
every device three times, a minute apart (steady state: coverage 100 %, trucks inside
their fence, so no alert); the bytes still allocated afterwards (readings freed) are
the engine's: its fleet lookups (`FleetIndex`, with the ids, sites and lots of the fleet
model it keeps alive; the fleet is parsed inside the measurement and dropped) and the
state the readings build (detectors, borrower scores).

Targets (DESIGN.md): ≥ 200,000 readings/s for the backtest, ≤ 4 KiB per device.
The 100,000-device case: ``riskstream bench engine --devices 100000 --hours 0.25``.
"""

import gc
import math
import os
import platform
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from devices.model import KG_PER_UNIT, METRICS, DeviceKind, Fleet
from devices.reading import Reading
from riskstream.backtest.replay import STEP_S, AlertLog, feed_groups, replay, step_groups
from riskstream.backtest.telemetry_file import read_telemetry
from riskstream.bench.engine_kinds import KindProfile, measure_by_kind
from riskstream.bench.long_file import YEARS, LongRun, measure_long_file, write_long_file
from riskstream.cli.terminal import command_console
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet
from simulator import generate, generate_fleet, plan_scenarios, run_to_file
from simulator.fleetgen import parse_load_cells

console = command_console()

START_TS = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC: runs are comparable
TARGET_READINGS_PER_S = 200_000.0
TARGET_KIB_PER_DEVICE = 4.0
DEVICES_PER_BORROWER = 10.0  # about what `generate_fleet` gives
FEED_ROUNDS = 3
PLAN_BORROWERS = 200
GENERIC_METRICS = ("current_a", "vibration_mms")


def machine() -> str:
    """Cores, CPU model, load and Python of this machine, for the record."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}), load average {_load()}, "
        f"Python {platform.python_version()}"
    )


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def fleet_of(devices: int, seed: int, load_cells: tuple[int, int] = (1, 1)) -> Fleet:
    """A generated fleet with at least ``devices`` devices (whole borrowers)."""
    start = max(1, math.ceil(devices / DEVICES_PER_BORROWER) + 2)
    generated = generate_fleet(start, seed, load_cells=load_cells)
    while len(generated.devices()) < devices:
        generated = generate_fleet(len(generated.borrowers) * 2, seed, load_cells=load_cells)
    kept, count = [], 0
    for borrower in generated.borrowers:
        if count >= devices:
            break
        kept.append(borrower)
        count += len(borrower.devices)
    return generated.model_copy(update={"borrowers": kept})


def steady_readings(fleet: Fleet, ts: float) -> Iterator[Reading]:
    """Every metric of every device at ``ts``, at values that raise no alert."""
    tenant = fleet.tenant.id
    for borrower in fleet.borrowers:
        lots = {c.id: c for loan in borrower.loans for c in loan.collateral}
        cells: dict[str, int] = {}
        for d in borrower.devices:
            if d.kind is DeviceKind.LOAD_CELL and d.collateral:
                cells[d.collateral] = cells.get(d.collateral, 0) + 1
        fences = {s.id: s.geofence for s in borrower.sites if s.geofence}
        for d in borrower.devices:
            values = dict.fromkeys(METRICS[d.kind] or GENERIC_METRICS, 0.0)
            lot = lots.get(d.collateral or "")
            if d.kind is DeviceKind.LOAD_CELL and lot is not None:
                kg = lot.quantity * KG_PER_UNIT.get(lot.unit, 1.0)
                values["weight_kg"] = kg / cells[lot.id]
            fence = fences.get(d.site)
            if d.kind is DeviceKind.GPS_TRACKER and fence:
                values["lat_deg"] = sum(p[0] for p in fence) / len(fence)
                values["lon_deg"] = sum(p[1] for p in fence) / len(fence)
            for metric, value in values.items():
                yield Reading(tenant, d.id, ts, metric, value)


@dataclass(frozen=True, slots=True)
class StateSize:
    """Bytes the engine holds for a fleet, from tracemalloc."""

    devices: int
    index_bytes: int
    state_bytes: int
    alerts: int

    @property
    def kib_per_device(self) -> float:
        """All engine bytes per device, KiB."""
        return (self.index_bytes + self.state_bytes) / 1024 / self.devices


def measure_state(fleet: Fleet) -> StateSize:
    """Engine bytes for ``fleet`` after every device reported `FEED_ROUNDS` times."""
    blob = fleet.model_dump_json()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        own = Fleet.model_validate_json(blob)  # ids, sites and lots the engine keeps are counted
        engine = Engine([own], RuleSet(), wall_clock=lambda: 0.0)
        del own
        gc.collect()
        indexed = tracemalloc.get_traced_memory()[0]
        alerts = 0
        for n in range(FEED_ROUNDS):
            ts = START_TS + n * 60.0
            batch = list(steady_readings(fleet, ts))
            alerts += len(engine.process(batch)) + len(engine.tick(ts))
            del batch
        gc.collect()
        fed = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    devices = len(engine.index.devices)
    return StateSize(devices, indexed - base, fed - indexed, alerts)


@dataclass(frozen=True, slots=True)
class Throughput:
    """Readings and seconds of the backtest stages in one run (engine set-up not included).

    Attributes:
        readings: readings fed to the engine.
        alerts: alerts of the backtest.
        read_s: wall seconds reading the file (with the sequence checks and sorting).
        build_s: wall seconds building the readings, in batches.
        engine_s: wall seconds of the engine alone over the readings built.
        backtest_s: wall seconds of the whole backtest (read, build, engine).
        engine_cpu_s: CPU seconds of ``engine_s``.
        backtest_cpu_s: CPU seconds of ``backtest_s``.
    """

    readings: int
    alerts: int
    read_s: float
    build_s: float
    engine_s: float
    backtest_s: float
    engine_cpu_s: float
    backtest_cpu_s: float


def write_telemetry(fleet: Fleet, hours: float, seed: int, workdir: Path) -> Path:
    """Write ``hours`` of the fleet's telemetry, with scenarios, to a CSV; return its path."""
    end = START_TS + hours * 3600.0
    path = workdir / "telemetry.csv"
    # the simulator's planner slows down sharply with fleet size (1,000 borrowers: 36 s
    # here), so scenarios are planned on the first borrowers only
    planned = fleet.model_copy(update={"borrowers": fleet.borrowers[:PLAN_BORROWERS]})
    plan = plan_scenarios(planned, seed, START_TS, end)
    run_to_file(generate(fleet, plan, START_TS, end, seed), fleet.tenant.id, path)
    return path


def measure_throughput(fleet: Fleet, path: Path) -> Throughput:
    """Time the backtest stages over the telemetry file at ``path``, once."""
    tenant = fleet.tenant.id
    engine = Engine([fleet], RuleSet())
    gc.collect()
    began, cpu = time.perf_counter(), time.process_time()
    telemetry = read_telemetry(path)
    read_s = time.perf_counter() - began
    result = replay(engine, telemetry, tenant, step_s=STEP_S)
    backtest_s, backtest_cpu_s = time.perf_counter() - began, time.process_time() - cpu
    began = time.perf_counter()
    work = list(step_groups(telemetry, tenant, STEP_S))
    build_s = time.perf_counter() - began
    engine = Engine([fleet], RuleSet())
    gc.collect()
    began, cpu = time.perf_counter(), time.process_time()
    fed = feed_groups(engine, work, AlertLog())
    engine_s, engine_cpu_s = time.perf_counter() - began, time.process_time() - cpu
    return Throughput(
        fed, len(result.alerts), read_s, build_s, engine_s, backtest_s, engine_cpu_s, backtest_cpu_s
    )


def _median_rate(runs: list[Throughput], seconds: Callable[[Throughput], float]) -> float:
    return statistics.median(run.readings / seconds(run) for run in runs)


def _ratio(value: float, target: float, higher_is_better: bool) -> str:
    ratio = value / target
    ok = ratio >= 1 if higher_is_better else ratio <= 1
    return f"[{'green' if ok else 'red'}]{ratio:.2f}× target[/]"


def engine(
    devices: Annotated[int, typer.Option(min=1, help="devices in the generated fleet")] = 5_000,
    hours: Annotated[
        float, typer.Option(min=0.0, help="event hours of telemetry for throughput (0: skip)")
    ] = 2.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    repeat: Annotated[
        int, typer.Option(min=1, help="time the backtest this often; the median is reported")
    ] = 3,
    load_cells: Annotated[
        str,
        typer.Option(
            help="load cells per warehouse lot, N or FEWEST-MOST (1-8), as simulate fleet"
        ),
    ] = "1",
    long_file: Annotated[
        bool,
        typer.Option(
            "--long-file",
            help="also backtest four years of one gauge's hourly readings after each run, "
            "against the run's backtest rate",
        ),
    ] = False,
    by_kind: Annotated[
        bool,
        typer.Option(
            "--by-kind",
            help="also feed the file once with each detector handler timed: microseconds "
            "per reading by device kind",
        ),
    ] = False,
) -> None:
    """Backtest readings/s (engine alone, and with reading the CSV) and KiB per device.

    Each rate is the median of ``--repeat`` runs over the same file (each run is
    printed): on a shared machine one run can be a fifth off.

    \b
    Examples:
      riskstream bench engine --devices 100000 --hours 0.25 --repeat 1
      riskstream bench engine --load-cells 1-8
      riskstream bench engine --long-file
      riskstream bench engine --by-kind --load-cells 1-8
    """
    cells = parse_load_cells(load_cells)
    if cells is None:
        console.print(f"error: --load-cells: {load_cells!r} is not N or FEWEST-MOST within 1-8")
        raise typer.Exit(2)
    console.print(f"machine: {machine()}")
    began = time.perf_counter()
    fleet = fleet_of(devices, seed, cells)
    n, built_s = len(fleet.devices()), time.perf_counter() - began
    console.print(f"fleet: {len(fleet.borrowers):,} borrowers, {n:,} devices ({built_s:.1f} s)")
    table = Table("measure", "value", "per CPU-s", "target", "ratio", title="riskstream engine")
    kinds: KindProfile | None = None
    if hours > 0:
        runs: list[Throughput] = []
        long_runs: list[LongRun] = []
        with tempfile.TemporaryDirectory(prefix="rs-bench-engine-") as tmp:
            began = time.perf_counter()
            path = write_telemetry(fleet, hours, seed, Path(tmp))
            long_path = Path(tmp) / "hourly-years.csv"
            if long_file:
                write_long_file(long_path)
            console.print(f"telemetry written in {time.perf_counter() - began:.1f} s")
            for n in range(repeat):
                t = measure_throughput(fleet, path)
                runs.append(t)
                console.print(
                    f"run {n + 1}/{repeat}: {t.readings:,} readings ({hours:g} h of event "
                    f"time, {t.alerts} alerts): backtest {t.readings / t.backtest_s:,.0f} "
                    f"readings/s (reading the CSV {t.read_s:.2f} s, building readings "
                    f"{t.build_s:.2f} s), engine alone {t.readings / t.engine_s:,.0f} "
                    f"readings/s; load average {_load()}"
                )
                if long_file:
                    lr = measure_long_file(long_path)
                    long_runs.append(lr)
                    console.print(
                        f"run {n + 1}/{repeat}, long file: {lr.readings:,} hourly readings "
                        f"over {YEARS} years ({lr.alerts} alerts): backtest "
                        f"{lr.readings / lr.seconds:,.0f} readings/s "
                        f"({lr.seconds:.2f} s); load average {_load()}"
                    )
            if by_kind:
                with console.status("feeding the file once more, each handler timed"):
                    work = list(step_groups(read_telemetry(path), fleet.tenant.id, STEP_S))
                    kinds = measure_by_kind(Engine([fleet], RuleSet()), work)
                    del work
        rows: list[tuple[str, Callable[[Throughput], float], Callable[[Throughput], float]]] = [
            (
                "engine only (process + tick), readings/s",
                lambda t: t.engine_s,
                lambda t: t.engine_cpu_s,
            ),
            (
                "backtest from CSV (read, seq checks, sort, build, engine), readings/s",
                lambda t: t.backtest_s,
                lambda t: t.backtest_cpu_s,
            ),
        ]
        for name, wall_s, cpu_s in rows:
            rate = _median_rate(runs, wall_s)
            table.add_row(
                f"{name}, median of {repeat}" if repeat > 1 else name,
                f"{rate:,.0f}",
                f"{_median_rate(runs, cpu_s):,.0f}",
                f"≥ {TARGET_READINGS_PER_S:,.0f}",
                _ratio(rate, TARGET_READINGS_PER_S, True),
            )
        if long_runs:
            standard = _median_rate(runs, lambda t: t.backtest_s)
            standard_cpu = _median_rate(runs, lambda t: t.backtest_cpu_s)
            rate = statistics.median(r.readings / r.seconds for r in long_runs)
            rate_cpu = statistics.median(r.readings / r.cpu_seconds for r in long_runs)
            table.add_row(
                f"{YEARS} years of one gauge's hourly readings, backtest from CSV, readings/s"
                + (f", median of {repeat}" if repeat > 1 else ""),
                f"{rate:,.0f}",
                f"{rate_cpu:,.0f}",
                f"≥ {standard:,.0f} (the file above)",
                _ratio(rate, standard, True).replace("target", "the file above")
                + f" ({rate_cpu / standard_cpu:.2f}× per CPU-s)",
            )
    size = measure_state(fleet)
    table.add_row(
        f"engine state, KiB per device ({size.devices:,} devices)",
        f"{size.kib_per_device:.2f}",
        "",
        f"≤ {TARGET_KIB_PER_DEVICE:g}",
        _ratio(size.kib_per_device, TARGET_KIB_PER_DEVICE, False),
    )
    index_kib, state_kib = (b / 1024 / size.devices for b in (size.index_bytes, size.state_bytes))
    table.add_row(
        "  of which fleet lookups / state built by the readings, KiB per device",
        f"{index_kib:.2f} / {state_kib:.2f}",
        "",
        "",
        "",
    )
    console.print(table)
    if kinds is not None:
        console.print(kind_table(kinds))
    console.print(f"load average at the end: {_load()}")
    if size.alerts:
        console.print(f"note: the steady-state feed raised {size.alerts} alerts (expected none)")


def kind_table(profile: KindProfile) -> Table:
    """The engine's time per device kind, from `measure_by_kind`."""
    table = Table(
        "device kind",
        "readings",
        "share of readings",
        "µs per reading in its detectors",
        "share of the engine's time",
        title=f"where the engine's time goes ({profile.readings:,} readings, one timed feed; "
        f"the timer's own {profile.timer_s * 1e6:.2f} µs per reading taken off)",
    )
    total = profile.seconds - sum(k.readings for k in profile.kinds) * profile.timer_s
    for k in profile.kinds:
        inside = k.micros_per_reading(profile.timer_s) * k.readings / 1e6
        table.add_row(
            k.kind,
            f"{k.readings:,}",
            f"{k.readings / max(1, profile.readings):.1%}",
            f"{k.micros_per_reading(profile.timer_s):.2f}",
            f"{inside / total:.1%}" if total > 0 else "",
        )
    rest = profile.rest_micros_per_reading()
    table.add_row(
        "every reading: route lookup, deadman bookkeeping, timers, scoring",
        f"{profile.readings:,}",
        "100%",
        f"{rest:.2f}",
        f"{rest * profile.readings / 1e6 / total:.1%}" if total > 0 else "",
    )
    return table


def register(bench_app: typer.Typer) -> None:
    """Add `riskstream bench engine`."""
    bench_app.command("engine")(engine)
