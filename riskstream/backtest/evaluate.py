"""Score alerts against ground truth: precision, recall, time to detect, false alarm rate.

- Recall (per scenario kind): share of injected events matched by at least one alert
  (`riskstream.backtest.matching`). Kinds without a detector are listed with their
  events but left out of the engine's overall recall ("with a detector").
- Time to detect: event time from the event's start to the moment the engine raised
  its first matching alert (``raised_at``; or, with ``ttd_from="opened_at"``, to the
  time of its evidence, which hides the rule's ``for`` duration). Median and 90th
  percentile (linear interpolation between ranks) over detected events; never below 0.
- Precision (per alert kind and overall): share of alerts that match an event.
- False alerts per 100 borrower-days: unmatched alerts / (borrowers × days) × 100.
  Borrowers and days come from the caller (the fleet, the run) or, failing that, from
  the files: borrowers named in truth or alerts, and the span from the earliest start
  to the latest end of either.
- Baselines (`riskstream.backtest.baselines`): the same recall and time to detect
  for a monthly field exam and a quarterly review, over the same events.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from devices.truth import TruthRecord
from riskstream.backtest.alerts_file import AlertRecord
from riskstream.backtest.baselines import BASELINES, DAY_S, caught_at
from riskstream.backtest.matching import GRACE_S, Matching, alert_kinds, match

TtdFrom = Literal["raised_at", "opened_at"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Detection:
    """How many events a detector (or a periodic check) caught, and how soon."""

    events: int
    ttd_s: tuple[float, ...] = ()

    @property
    def detected(self) -> int:
        """Events caught."""
        return len(self.ttd_s)

    @property
    def recall(self) -> float | None:
        """Caught / events; None without events."""
        return self.detected / self.events if self.events else None

    @property
    def median_s(self) -> float | None:
        """Median time to detect, seconds of event time."""
        return percentile(self.ttd_s, 50)

    @property
    def p90_s(self) -> float | None:
        """90th percentile time to detect."""
        return percentile(self.ttd_s, 90)

    def to_dict(self) -> dict[str, Any]:
        """Numbers for ``--json``."""
        return {
            "events": self.events,
            "detected": self.detected,
            "recall": self.recall,
            "ttd_median_s": self.median_s,
            "ttd_p90_s": self.p90_s,
        }


def _merge(parts: Sequence[Detection]) -> Detection:
    return Detection(sum(p.events for p in parts), tuple(t for p in parts for t in p.ttd_s))


@dataclass(frozen=True, slots=True)
class ScenarioRow:
    """Engine and baselines on the events of one scenario kind (or a group of them)."""

    scenario: str
    alert_kinds: tuple[str, ...]
    engine: Detection
    baselines: dict[str, Detection]

    @property
    def has_detector(self) -> bool:
        """Whether some alert kind detects this scenario."""
        return bool(self.alert_kinds)

    def to_dict(self) -> dict[str, Any]:
        """Numbers for ``--json``."""
        return {
            "scenario": self.scenario,
            "alert_kinds": list(self.alert_kinds),
            "engine": self.engine.to_dict() if self.has_detector else None,
            "baselines": {k: v.to_dict() for k, v in self.baselines.items()},
        }


@dataclass(frozen=True, slots=True)
class KindRow:
    """Precision of one alert kind."""

    kind: str
    alerts: int
    matched: int

    @property
    def false(self) -> int:
        """Alerts that match no event."""
        return self.alerts - self.matched

    @property
    def precision(self) -> float | None:
        """Matched / alerts; None without alerts."""
        return self.matched / self.alerts if self.alerts else None


@dataclass(frozen=True)
class Evaluation:
    """Everything `riskstream evaluate` prints."""

    scenarios: list[ScenarioRow]
    detectable: ScenarioRow
    everything: ScenarioRow
    kinds: list[KindRow]
    borrowers: int
    days: float
    grace_s: float
    seed: int
    ttd_from: TtdFrom = "raised_at"
    notes: list[str] = field(default_factory=list)

    @property
    def alerts(self) -> int:
        """Alerts evaluated."""
        return sum(k.alerts for k in self.kinds)

    @property
    def false_alerts(self) -> int:
        """Alerts that match no event."""
        return sum(k.false for k in self.kinds)

    @property
    def precision(self) -> float | None:
        """Share of all alerts that match an event."""
        return (self.alerts - self.false_alerts) / self.alerts if self.alerts else None

    @property
    def borrower_days(self) -> float:
        """Borrowers × days watched."""
        return self.borrowers * self.days

    @property
    def false_per_100_borrower_days(self) -> float | None:
        """False alerts per 100 borrower-days; None when nothing was watched."""
        return self.false_alerts / self.borrower_days * 100 if self.borrower_days > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """All numbers, JSON-ready."""
        return {
            "precision": self.precision,
            "recall_with_detector": self.detectable.engine.recall,
            "recall_all_events": self.everything.engine.recall,
            "alerts": self.alerts,
            "false_alerts": self.false_alerts,
            "borrowers": self.borrowers,
            "days": self.days,
            "borrower_days": self.borrower_days,
            "false_alerts_per_100_borrower_days": self.false_per_100_borrower_days,
            "grace_s": self.grace_s,
            "baseline_seed": self.seed,
            "ttd_from": self.ttd_from,
            "scenarios": [row.to_dict() for row in self.scenarios],
            "with_detector": self.detectable.to_dict(),
            "all_events": self.everything.to_dict(),
            "alert_kinds": [{**asdict(k), "precision": k.precision} for k in self.kinds],
            "notes": self.notes,
        }


def _row(
    scenario: str,
    kinds: tuple[str, ...],
    indices: Sequence[int],
    truth: Sequence[TruthRecord],
    alerts: Sequence[AlertRecord],
    matching: Matching,
    seed: int,
    ttd_from: TtdFrom,
) -> ScenarioRow:
    ttd: list[float] = []
    for i in indices:
        raised = [getattr(alerts[j], ttd_from) for j in matching.alerts_of[i]]
        if raised:
            ttd.append(max(0.0, min(raised) - truth[i].start_ts))
    baselines: dict[str, Detection] = {}
    for check in BASELINES:
        caught = []
        for i in indices:
            r = truth[i]
            at = caught_at(check, r.tenant, r.borrower_id, r.start_ts, r.end_ts, seed)
            if at is not None:
                caught.append(at - r.start_ts)
        baselines[check.key] = Detection(len(indices), tuple(caught))
    return ScenarioRow(scenario, kinds, Detection(len(indices), tuple(ttd)), baselines)


def _group(name: str, rows: Sequence[ScenarioRow]) -> ScenarioRow:
    kinds = tuple(sorted({k for r in rows for k in r.alert_kinds}))
    baselines = {c.key: _merge([r.baselines[c.key] for r in rows]) for c in BASELINES}
    return ScenarioRow(name, kinds, _merge([r.engine for r in rows]), baselines)


def evaluate(
    truth: Sequence[TruthRecord],
    alerts: Sequence[AlertRecord],
    borrowers: int | None = None,
    days: float | None = None,
    grace_s: float = GRACE_S,
    seed: int = 0,
    ttd_from: TtdFrom = "raised_at",
) -> Evaluation:
    """Score ``alerts`` against ``truth``.

    Args:
        truth: injected events.
        alerts: alerts in their final state.
        borrowers: borrowers watched (the fleet's); None to count those in the files.
        days: days of event time watched; None to take the span of the files.
        grace_s: how long before an event's start its evidence may lie.
        seed: seed of the periodic checks' phases.
        ttd_from: the alert time that ends the time to detect: when the engine raised
            it, or the time of its evidence.
    """
    matching = match(truth, alerts, grace_s)
    notes: list[str] = []
    by_scenario: dict[str, list[int]] = {}
    for i, record in enumerate(truth):
        by_scenario.setdefault(record.scenario, []).append(i)
    rows = [
        _row(name, alert_kinds(name), idx, truth, alerts, matching, seed, ttd_from)
        for name, idx in sorted(by_scenario.items())
    ]
    undetectable = [r.scenario for r in rows if not r.has_detector]
    if undetectable:
        notes.append(f"no detector yet for: {', '.join(undetectable)}")
    counts = Counter(a.kind for a in alerts)
    matched = Counter(
        a.kind for a, t in zip(alerts, matching.truth_of, strict=True) if t is not None
    )
    kinds = [KindRow(k, n, matched[k]) for k, n in sorted(counts.items())]
    if borrowers is None:
        borrowers = len(
            {(r.tenant, r.borrower_id) for r in truth} | {(a.tenant, a.borrower_id) for a in alerts}
        )
        notes.append(f"borrowers counted from the files ({borrowers}); give --borrowers or --fleet")
    if days is None:
        starts = [r.start_ts for r in truth] + [a.opened_at for a in alerts]
        ends = [r.end_ts for r in truth] + [a.until for a in alerts]
        days = (max(ends) - min(starts)) / DAY_S if starts else 0.0
        notes.append(f"days taken from the files' span ({days:.2f}); give --days for the run's")
    return Evaluation(
        scenarios=rows,
        detectable=_group("all with a detector", [r for r in rows if r.has_detector]),
        everything=_group("all injected", rows),
        kinds=kinds,
        borrowers=borrowers,
        days=days,
        grace_s=grace_s,
        seed=seed,
        ttd_from=ttd_from,
        notes=notes,
    )
