"""Dry-run of proposed rules: backtest them and the rules in force over recent telemetry.

Both rule sets run on fresh engines (never the live one) over the same readings, read
from the telemetry store through its `TelemetryStore` interface (one query per device
and metric, so every backend works), in event time as `riskstream backtest` does. The
result says which alerts the proposed rules would raise, which of them the rules in
force raise too (same alert id: same borrower, kind, subject and evidence time), and
which only the rules in force raise. It also gives each borrower's headline score and
credit matrix score (with its segment) at the end of the window under both rule sets,
so a change of the scorecard or the matrix shows; the fresh engines have no loan
events, so the repayment and outcome-model components lack data in both.
"""

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devices.model import Fleet
from ingest.stores import TelemetryStore
from riskstream.backtest.replay import replay
from riskstream.backtest.telemetry_file import Telemetry
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet

STORE_PATH = Path("<telemetry store>")


def read_window(
    store: TelemetryStore, tenant: str, device_ids: Iterable[str], start: float, end: float
) -> Telemetry:
    """Every reading of ``tenant``'s ``device_ids`` with event time in [start, end), as
    sorted columns."""
    ids = sorted(set(device_ids))
    metrics: dict[str, int] = {}
    ts: list[float] = []
    device: list[int] = []
    metric: list[int] = []
    value: list[float] = []
    for d, device_id in enumerate(ids):
        for name in sorted(store.latest(device_id, tenant=tenant)):
            rows = store.query(device_id, name, start, end, tenant=tenant)
            if not rows:
                continue
            m = metrics.setdefault(name, len(metrics))
            ts.extend(t for t, _ in rows)
            value.extend(v for _, v in rows)
            device.extend([d] * len(rows))
            metric.extend([m] * len(rows))
    order = np.argsort(np.asarray(ts, dtype=np.float64), kind="stable")
    return Telemetry(
        path=STORE_PATH,
        ts=np.asarray(ts, dtype=np.float64)[order],
        device=np.asarray(device, dtype=np.int32)[order],
        device_ids=ids,
        metric=np.asarray(metric, dtype=np.int32)[order],
        metrics=list(metrics),
        value=np.asarray(value, dtype=np.float64)[order],
        tenant=None,
        tenants=[],
        seq=None,
        dropped=0,
        resorted=True,
    )


def counts(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Alerts counted in all, by kind, by severity, and by kind and severity."""
    by_kind_severity: dict[str, dict[str, int]] = {}
    for a in alerts:
        row = by_kind_severity.setdefault(a["kind"], {})
        row[a["severity"]] = row.get(a["severity"], 0) + 1
    return {
        "total": len(alerts),
        "by_kind": dict(Counter(a["kind"] for a in alerts).most_common()),
        "by_severity": dict(Counter(a["severity"] for a in alerts).most_common()),
        "by_kind_severity": by_kind_severity,
    }


@dataclass(frozen=True)
class DryRun:
    """What the proposed rules and the rules in force raise over one window.

    Attributes:
        start: first event time of the window (epoch seconds).
        end: end of the window.
        readings: readings replayed (per rule set).
        proposed: alerts of the proposed rules, final state, with ``raised_at``.
        current: alerts of the rules in force, likewise.
        seconds: wall time of both replays.
        scores: per borrower, the scores at the window's end under both rule sets.
    """

    start: float
    end: float
    readings: int
    proposed: list[dict[str, Any]]
    current: list[dict[str, Any]]
    seconds: float
    scores: list[dict[str, Any]]

    def report(self, limit: int) -> dict[str, Any]:
        """JSON-ready comparison; at most ``limit`` alerts per list."""
        current_by_id = {a["id"]: a for a in self.current}
        proposed_ids = {a["id"] for a in self.proposed}
        alerts = []
        for a in self.proposed:
            twin = current_by_id.get(a["id"])
            alerts.append(
                {
                    **a,
                    "in_current": twin is not None,
                    "current_severity": twin["severity"] if twin is not None else None,
                }
            )
        only_current = [a for a in self.current if a["id"] not in proposed_ids]
        return {
            "window": {
                "start": self.start,
                "end": self.end,
                "days": (self.end - self.start) / 86400,
            },
            "readings": self.readings,
            "seconds": round(self.seconds, 3),
            "proposed": counts(self.proposed),
            "current": counts(self.current),
            "new": sum(1 for a in alerts if not a["in_current"]),
            "dropped": len(only_current),
            "alerts": alerts[:limit],
            "only_current": only_current[:limit],
            "truncated": len(alerts) > limit
            or len(only_current) > limit
            or len(self.scores) > limit,
            "scores": self.scores[:limit],
        }


def dry_run(
    fleet: Fleet,
    current: RuleSet,
    proposed: RuleSet,
    telemetry: Telemetry,
    window: tuple[float, float],
) -> DryRun:
    """Replay ``telemetry`` (of ``window``) of ``fleet`` under both rule sets on fresh engines."""
    began = time.perf_counter()
    alerts: list[list[dict[str, Any]]] = []
    scores: list[dict[str, dict[str, Any]]] = []
    readings = 0
    for rules in (proposed, current):
        if not len(telemetry):
            alerts.append([])
            scores.append({})
            continue
        engine = Engine([fleet], rules)
        result = replay(engine, telemetry, fleet.tenant.id)
        alerts.append(result.alerts)
        readings = result.readings
        scores.append({b.id: _scores(engine, b.id) for b in fleet.borrowers})
    return DryRun(
        start=window[0],
        end=window[1],
        readings=readings,
        proposed=alerts[0],
        current=alerts[1],
        seconds=time.perf_counter() - began,
        scores=_compare(scores[0], scores[1]),
    )


def _scores(engine: Engine, borrower_id: str) -> dict[str, Any]:
    risk = engine.borrower_risk(borrower_id)
    return {"score": risk.score, "matrix": risk.matrix["score"], "segment": risk.matrix["segment"]}


def _compare(
    proposed: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per borrower, both rule sets' scores; the largest change of either score first."""
    rows = [
        {"borrower_id": b, "proposed": proposed[b], "current": current[b]}
        for b in sorted(proposed.keys() & current.keys())
    ]

    def change(row: dict[str, Any]) -> float:
        p, c = row["proposed"], row["current"]
        return float(max(abs(p["score"] - c["score"]), abs(p["matrix"] - c["matrix"])))

    return sorted(rows, key=lambda row: -change(row))
