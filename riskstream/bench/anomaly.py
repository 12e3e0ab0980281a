"""`riskstream bench anomaly`: which online anomaly scorer to use, measured on labelled series.

Series are generated with a fixed seed: a base level with a daily pattern (two
harmonics, random phase), a weekly pattern (lower and flatter at weekends), a slow
wander and noise, rounded to 0.01, sampled every 1-10 min with gaps of 0.5-6 h about
once a day. Each series of an anomaly kind carries that kind in its second half (spikes
three times); clean series carry none. Every scorer of `riskstream.detectors.anomaly_methods`
reads every series once, in time order, scoring then learning each reading; the cohort
model reads all series together as one cohort (`riskstream.bench.anomaly_cohort`).

How it is counted: an event is found when an alert falls between its start and
`GRACE_S` after its end (the delay is to the first such alert). Alerts less than
`EPISODE_GAP_S` apart form one episode; an episode is true when it starts inside an
event's window, and precision is the share of true episodes. False alerts are the other
episodes, per 1,000 readings and per series-day. The recommendation is the best F1
(event recall with episode precision) among the scorers that raise at most
``--max-false-per-day`` false alerts per series-day on the clean series.
"""

import pickle
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import numpy.typing as npt
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from riskstream.bench.anomaly_cohort import COHORT, run_cohort
from riskstream.cli.terminal import command_console
from riskstream.detectors.anomaly_methods import (
    DAY,
    HOUR,
    AnyOfScorer,
    DispersionScorer,
    HalfSpaceTreesScorer,
    RobustSeasonalScorer,
    SeasonalResidualScorer,
    SeriesScorer,
)
from riskstream.service.local_broker import machine

console = command_console()

Floats = npt.NDArray[np.float64]

START_TS = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC, so local time is UTC
GRACE_S = 30 * 60.0
EPISODE_GAP_S = HOUR
GAPS_PER_STEP = 0.004  # about one gap a day at a 5-minute average step
SPIKES_PER_SERIES = 3
KINDS = ("spike", "level shift", "variance change", "slow drift", "stuck value", "seasonal break")
CLEAN = "clean"
ALL = "all"
SPANS_H = {  # how long each kind lasts, hours (a level shift is for good: its window)
    "level shift": (24.0, 24.0),
    "variance change": (12.0, 36.0),
    "slow drift": (24.0, 72.0),
    "stuck value": (3.0, 12.0),
    "seasonal break": (24.0, 48.0),
}
DRIFT_TAIL_S = 12 * HOUR  # a drift found soon after it stops still counts


def _residual_and_dispersion() -> AnyOfScorer:
    return AnyOfScorer((SeasonalResidualScorer(), DispersionScorer()))


METHODS: dict[str, Callable[[], SeriesScorer]] = {
    "half-space trees": HalfSpaceTreesScorer,
    "robust seasonal z": RobustSeasonalScorer,
    "seasonal residual": SeasonalResidualScorer,
    "step dispersion": DispersionScorer,
    "residual + dispersion": _residual_and_dispersion,
}


@dataclass(frozen=True, slots=True)
class Event:
    """One injected anomaly: alerts from ``start`` to ``end`` + `GRACE_S` find it."""

    kind: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Series:
    """A generated series and the anomalies put into it."""

    kind: str
    ts: list[float]
    values: list[float]
    events: tuple[Event, ...]


@dataclass(slots=True)
class Tally:
    """What one scorer did on some series."""

    events: int = 0
    delays_s: list[float] = field(default_factory=list)
    episodes: int = 0
    true_episodes: int = 0
    readings: int = 0
    series_days: float = 0.0
    seconds: float = 0.0
    state_bytes: int = 0  # the largest pickled scorer after a whole series

    def add(self, other: "Tally") -> None:
        """Fold another tally into this one."""
        self.events += other.events
        self.delays_s += other.delays_s
        self.episodes += other.episodes
        self.true_episodes += other.true_episodes
        self.readings += other.readings
        self.series_days += other.series_days
        self.seconds += other.seconds
        self.state_bytes = max(self.state_bytes, other.state_bytes)

    @property
    def false_episodes(self) -> int:
        """Episodes that start in no event's window."""
        return self.episodes - self.true_episodes

    @property
    def false_per_day(self) -> float:
        """False episodes per series-day."""
        return self.false_episodes / self.series_days if self.series_days else 0.0

    @property
    def recall(self) -> float | None:
        """Share of events found (None without events)."""
        return len(self.delays_s) / self.events if self.events else None

    @property
    def precision(self) -> float | None:
        """Share of episodes that are true (None without episodes)."""
        return self.true_episodes / self.episodes if self.episodes else None

    @property
    def f1(self) -> float:
        """Harmonic mean of recall and precision (0 when either is missing or 0)."""
        r, p = self.recall or 0.0, self.precision or 0.0
        return 2 * r * p / (r + p) if r + p else 0.0


def generate(series_per_kind: int, days: float, seed: int) -> list[Series]:
    """``series_per_kind`` series of each anomaly kind, then as many clean ones."""
    rng = np.random.default_rng(seed)
    return [_series(kind, days, rng) for kind in (*KINDS, CLEAN) for _ in range(series_per_kind)]


def _series(kind: str, days: float, rng: np.random.Generator) -> Series:
    steps = rng.uniform(60.0, 600.0, int(days * DAY / 60) + 2)
    gaps = rng.random(steps.size) < GAPS_PER_STEP
    steps[gaps] = rng.uniform(0.5 * HOUR, 6 * HOUR, int(gaps.sum()))
    ts = START_TS + np.cumsum(steps)
    ts = ts[ts < START_TS + days * DAY]
    hours = (ts - START_TS) / HOUR
    weekend = (hours // 24) % 7 >= 5
    sigma = rng.uniform(0.5, 2.0)
    amplitude = sigma * rng.uniform(3.0, 8.0) * np.where(weekend, 0.5, 1.0)
    phases = rng.uniform(0.0, 24.0, 2)

    def daily(h: Floats) -> Floats:
        first = 0.75 * np.sin(2 * np.pi * (h - phases[0]) / 24)
        second = 0.25 * np.sin(4 * np.pi * (h - phases[1]) / 24)
        return np.asarray(amplitude * (first + second), dtype=np.float64)

    noise = sigma * rng.standard_normal(ts.size)
    values = (
        rng.uniform(20.0, 200.0)
        - weekend * sigma * rng.uniform(1.0, 3.0)
        + _wander(ts, 0.7 * sigma, DAY, rng)
        + daily(hours)
        + noise
    )
    events = _inject(kind, ts, values, noise, sigma, daily, rng)
    return Series(kind, ts.tolist(), np.round(values, 2).tolist(), events)


def _inject(
    kind: str,
    ts: Floats,
    values: Floats,
    noise: Floats,
    sigma: float,
    daily: Callable[[Floats], Floats],
    rng: np.random.Generator,
) -> tuple[Event, ...]:
    """Put ``kind`` into ``values`` (in place) in the second half of the series."""
    first = (ts[0] + ts[-1]) / 2
    sign = float(rng.choice([-1.0, 1.0]))
    if kind == CLEAN:
        return ()
    if kind == "spike":
        events = []
        width = (ts[-1] - first) / SPIKES_PER_SERIES
        for k in range(SPIKES_PER_SERIES):
            i = min(
                int(np.searchsorted(ts, first + width * (k + rng.uniform(0.2, 0.8)))), ts.size - 3
            )
            n = int(rng.integers(1, 4))
            values[i : i + n] += float(rng.choice([-1.0, 1.0])) * sigma * rng.uniform(6.0, 12.0)
            events.append(Event(kind, float(ts[i]), float(ts[i + n - 1])))
        return tuple(events)
    span = rng.uniform(*SPANS_H[kind]) * HOUR
    start = first + rng.uniform(0.0, max(0.0, ts[-1] - first - span))
    end = start + span
    inside = (ts >= start) & (ts <= end)
    hours = (ts - START_TS) / HOUR
    if kind == "level shift":
        values[ts >= start] += sign * sigma * rng.uniform(4.0, 8.0)
    elif kind == "variance change":
        values[inside] += noise[inside] * rng.uniform(2.0, 4.0)
    elif kind == "slow drift":
        values += sign * sigma * rng.uniform(6.0, 10.0) * np.clip((ts - start) / span, 0.0, 1.0)
        end += DRIFT_TAIL_S
    elif kind == "stuck value" and inside.any():
        values[inside] = values[np.argmax(inside)]
    elif kind == "seasonal break":  # the daily pattern stops, or comes 6-12 h late
        late = daily(hours - rng.uniform(6.0, 12.0)) if rng.random() < 0.5 else 0.0
        values[inside] += (late - daily(hours))[inside]
    return (Event(kind, float(start), float(end)),)


def _wander(ts: Floats, sd: float, tau: float, rng: np.random.Generator) -> Floats:
    """An Ornstein-Uhlenbeck path sampled at ``ts`` (exact for any spacing)."""
    keep = np.exp(-np.diff(ts, prepend=ts[0]) / tau)
    shocks = sd * np.sqrt(1.0 - keep * keep) * rng.standard_normal(ts.size)
    out = np.empty(ts.size)
    x = rng.normal(0.0, sd)
    for i in range(ts.size):
        x = x * keep[i] + shocks[i]
        out[i] = x
    return out


def run_scorer(scorer: SeriesScorer, series: Series) -> tuple[list[float], float]:
    """Score then learn every reading; the alert times and the seconds it took."""
    alerts: list[float] = []
    score, learn = scorer.score, scorer.learn
    started = time.perf_counter()
    for ts, value in zip(series.ts, series.values, strict=True):
        verdict = score(ts, value)
        if verdict is not None and verdict.anomalous:
            alerts.append(ts)
        learn(ts, value)
    return alerts, time.perf_counter() - started


def tally(series: Series, alerts: list[float], seconds: float) -> Tally:
    """Events found, episodes and readings of one series."""
    windows = [(e.start, e.end + GRACE_S) for e in series.events]
    result = Tally(events=len(windows), readings=len(series.ts), seconds=seconds)
    result.series_days = (series.ts[-1] - series.ts[0]) / DAY if series.ts else 0.0
    for start, end in windows:
        first = next((t for t in alerts if start <= t <= end), None)
        if first is not None:
            result.delays_s.append(first - start)
    previous = -float("inf")
    for t in alerts:
        if t - previous >= EPISODE_GAP_S:
            result.episodes += 1
            result.true_episodes += any(start <= t <= end for start, end in windows)
        previous = t
    return result


def measure(cases: list[Series], progress: Progress | None = None) -> dict[str, dict[str, Tally]]:
    """Tallies per scorer and per kind of series, and over all series (`ALL`); the
    cohort model's (`COHORT`) from one run over all series as one cohort."""
    task = progress.add_task("scoring", total=len(METHODS) * len(cases)) if progress else None
    found: dict[str, dict[str, Tally]] = {}
    for name, make in METHODS.items():
        by_kind = found[name] = {ALL: Tally()}
        for series in cases:
            scorer = make()
            alerts, seconds = run_scorer(scorer, series)
            one = tally(series, alerts, seconds)
            one.state_bytes = len(pickle.dumps(scorer))
            by_kind.setdefault(series.kind, Tally()).add(one)
            by_kind[ALL].add(one)
            if progress is not None and task is not None:
                progress.advance(task)
    by_kind = found[COHORT] = {ALL: Tally()}
    run = run_cohort([(c.ts, c.values) for c in cases])
    readings = sum(len(c.ts) for c in cases) or 1
    for k, series in enumerate(cases):
        one = tally(series, run.alerts[k], run.seconds * len(series.ts) / readings)
        one.state_bytes = run.state_bytes[k]
        by_kind.setdefault(series.kind, Tally()).add(one)
        by_kind[ALL].add(one)
    return found


def recommend(found: dict[str, dict[str, Tally]], max_false_per_day: float) -> str:
    """The rule's choice, said in a sentence."""

    def clean_rate(name: str) -> float:
        return found[name].get(CLEAN, Tally()).false_per_day

    rule = (
        f"the best F1 among scorers with at most {max_false_per_day:g} false alerts per "
        "series-day on clean series"
    )
    eligible = [name for name in found if clean_rate(name) <= max_false_per_day]
    if not eligible:
        quietest = min(found, key=clean_rate)
        return (
            f"no scorer meets the rule ({rule}); the quietest is {quietest} with "
            f"{clean_rate(quietest):.2f} false alerts per series-day"
        )
    best = max(eligible, key=lambda name: (found[name][ALL].f1, -found[name][ALL].seconds))
    overall = found[best][ALL]
    return (
        f"recommended: {best} — {rule}: F1 {overall.f1:.0%}, recall {overall.recall or 0:.0%}, "
        f"precision {overall.precision or 0:.0%}, {clean_rate(best):.2f} false alerts per "
        "series-day on clean series"
    )


def _row(kind: str, t: Tally) -> list[str]:
    recall, precision = t.recall, t.precision
    return [
        kind,
        f"{recall:.0%} of {t.events}" if recall is not None else "—",
        f"{precision:.0%} of {t.episodes}" if precision is not None else "— of 0",
        f"{t.false_episodes * 1000 / t.readings:.2f} /1k readings" if t.readings else "—",
        f"{t.false_per_day:.2f} /series-day" if t.series_days else "—",
        f"{statistics.median(t.delays_s) / 60:,.0f} min" if t.delays_s else "—",
        f"{t.readings / t.seconds:,.0f} readings/s" if t.seconds else "—",
        f"{t.f1:.0%}" if t.events else "—",
    ]


def _table(found: dict[str, dict[str, Tally]]) -> Table:
    table = Table(
        "scorer",
        "series",
        "recall",
        "precision",
        "false alerts",
        "false alerts",
        "median delay",
        "speed",
        "F1",
        title="online anomaly scorers, by kind of series",
    )
    for name, by_kind in found.items():
        for kind in (*KINDS, CLEAN, ALL):
            last = kind == ALL
            table.add_row(
                name if kind == KINDS[0] else "",
                *_row(kind, by_kind.get(kind, Tally())),
                end_section=last,
                style="bold" if last else None,
            )
    return table


def anomaly(
    series: Annotated[int, typer.Option(min=1, max=100, help="series of each kind")] = 6,
    days: Annotated[float, typer.Option(min=1.0, max=120.0, help="days in each series")] = 14.0,
    seed: Annotated[int, typer.Option(help="seed of the generated series")] = 7,
    max_false_per_day: Annotated[
        float,
        typer.Option(min=0.0, help="false alerts per series-day a recommended scorer may raise"),
    ] = 0.2,
) -> None:
    """Recall, precision, false alerts, delay and speed of each online anomaly scorer.

    \b
    Example: riskstream bench anomaly --series 6 --days 14 --seed 7
    """
    cases = generate(series, days, seed)
    readings = sum(len(c.ts) for c in cases)
    console.print(f"machine: {machine()}; one process, one core")
    console.print(
        f"{len(cases)} generated series ({series} of each of {len(KINDS)} anomaly kinds and "
        f"{series} clean), {days:g} days each, {readings:,} readings, seed {seed}; a reading "
        "every 1-10 min with gaps of 0.5-6 h; anomalies in the second half of each series"
    )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} series × scorers"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        found = measure(cases, progress)
    console.print(_table(found))
    console.print(
        "recall: events found of all events; precision: true episodes of all episodes; "
        f"an event is found by an alert between its start and {GRACE_S / 60:.0f} min after "
        f"its end; alerts less than {EPISODE_GAP_S / 60:.0f} min apart are one episode, "
        "false when it starts in no event's window; delay to the first alert; speed of "
        "score + learn on one core; F1 of recall and precision"
    )
    sizes = ", ".join(f"{name} {t[ALL].state_bytes / 1024:,.1f} KiB" for name, t in found.items())
    console.print(f"state per series after {days:g} days, pickled: {sizes}")
    console.print(recommend(found, max_false_per_day))


def register(bench_app: typer.Typer) -> None:
    """Add `bench anomaly`."""
    bench_app.command("anomaly")(anomaly)


if __name__ == "__main__":
    typer.run(anomaly)
