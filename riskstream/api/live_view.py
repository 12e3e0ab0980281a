"""A borrower's live engine state, wherever the engine runs.

In one process (`riskstream serve`) the borrower pages read the engine. Behind
``serve --nats`` the engine runs in the cluster's risk workers, and the pages read the
state the borrower's risk partition last sent (`riskstream.cluster.live_states`); the
answer says where the state came from and how old it is (`freshness`), and the same
JSON shapes follow from either. The coverage chart of one process reads its telemetry
store; behind ``serve --nats`` it is drawn from the coverage history in the state
(`coverage_points`).
"""

import math
import time
from dataclasses import dataclass
from typing import Any

from riskstream.engine.coverage_history import LotHistory
from riskstream.engine.live_state import BorrowerState, borrower_state
from riskstream.scoring.borrower_risk import BorrowerRisk
from riskstream.scoring.exposure import CoverageSource
from riskstream.service.runtime import Runtime

wall_clock = time.time
"""The API process's wall clock, for a state's age (tests set it)."""
STALE_AFTER_S = 120.0
"""A state older than this is stale: its risk worker sends every borrower again at least
every `riskstream.cluster.live_states.REFRESH_S` (30 s) while it runs, so the borrower's
partition has most likely no working owner (four refreshes missed)."""


@dataclass(frozen=True)
class LiveView:
    """What the borrower pages show from the engine."""

    risk: BorrowerRisk
    coverage: CoverageSource
    history: list[tuple[float, float]]
    freshness: dict[str, Any]
    state: BorrowerState | None = None
    """The state a risk worker sent (`serve --nats`), None in one process."""

    def coverage_history(self, collateral_id: str) -> LotHistory | None:
        """The lot's coverage history sent with the state (None: none, or one process)."""
        return None if self.state is None else self.state.coverage_of(collateral_id)

    @property
    def scored(self) -> bool:
        """False for a borrower no risk worker has sent yet (`serve --nats`): its engine
        figures are those of a borrower without data, placeholders rather than a score."""
        return bool(self.freshness["source"] != "none")

    def score_fields(self) -> dict[str, Any]:
        """``score``, ``computed_at``, ``reasons``, ``components`` and ``matrix`` as the API
        answers them: for a borrower not scored yet, null scores and no reasons, so a
        script that ranks or filters by score does not read its placeholder 0 as no risk."""
        risk = self.risk
        if self.scored:
            return {
                "score": risk.score,
                "computed_at": risk.computed_at,
                "reasons": risk.reasons,
                "components": risk.components,
                "matrix": risk.matrix,
            }
        return {
            "score": None,
            "computed_at": None,
            "reasons": [],
            "components": {},
            "matrix": unscored_matrix(risk.matrix),
        }


def unscored_matrix(matrix: dict[str, Any]) -> dict[str, Any]:
    """A credit matrix with no score: only its segment and the rules' weights are known."""
    return {
        "segment": matrix["segment"],
        "score": None,
        "notes": [],
        "components": [
            {
                "component": c["component"],
                "score": None,
                "has_data": False,
                "weight": c["weight"],
                "weight_used": None,
                "contribution": None,
                "reasons": [],
            }
            for c in matrix["components"]
        ],
    }


def live_view(runtime: Runtime, tenant: str, borrower_id: str) -> LiveView:
    """The live state of ``tenant``'s registered ``borrower_id`` (KeyError if unknown)."""
    engine = runtime.engines.of(tenant)
    if runtime.cluster is None:
        risk = engine.borrower_risk(borrower_id)
        history = engine.scoring.history_of(borrower_id)
        return LiveView(risk, engine.coverage, history, _fresh("engine", None, None))
    state = runtime.cluster.live.of(tenant, borrower_id)
    if state is None:  # no risk worker sent it yet: the registry's borrower, unscored
        state = borrower_state(engine, borrower_id)
        risk = BorrowerRisk(
            borrower_id, tenant, state.score, state.reasons, state.components,
            state.computed_at, state.matrix,
        )  # fmt: skip
        return LiveView(risk, state, [], _fresh("none", None, None), state)
    risk = BorrowerRisk(
        borrower_id, tenant, state.score, list(state.reasons), dict(state.components),
        state.computed_at, state.matrix,
    )  # fmt: skip
    history = [(ts, score) for ts, score in state.history]
    freshness = _fresh("risk_worker", state.worker, state.published_at)
    return LiveView(risk, state, history, freshness, state)


def _fresh(source: str, worker: str | None, published_at: float | None) -> dict[str, Any]:
    age = None if published_at is None else round(max(0.0, wall_clock() - published_at), 3)
    return {
        "source": source,
        "worker": worker,
        "published_at": published_at,
        "age_s": age,
        "stale_after_s": None if source == "engine" else STALE_AFTER_S,
        "stale": source == "none" or (age is not None and age > STALE_AFTER_S),
    }


def coverage_points(
    history: LotHistory | None, start: float, end: float, points: int
) -> list[tuple[float, float]]:
    """(bucket start, coverage) of a lot's history inside [start, end), at most ``points``
    of them: when there are more, each group of consecutive buckets gives its last."""
    inside = [p for p in history.points() if start <= p[0] < end] if history else []
    if len(inside) <= points:
        return inside
    k = math.ceil(len(inside) / points)
    ends = range(len(inside) - 1, -1, -k)  # groups counted back from the latest
    groups = [inside[max(0, i - k + 1) : i + 1] for i in reversed(ends)]
    return [(group[0][0], group[-1][1]) for group in groups]


def event_time(runtime: Runtime, tenant: str) -> float | None:
    """The event time ``tenant``'s telemetry reached: the engine's watermark, or on a
    cluster the latest time a risk worker scored one of its borrowers at."""
    if runtime.cluster is None:
        return runtime.engines.of(tenant).watermark
    times = [s.computed_at for s in runtime.cluster.live.of_tenant(tenant)]
    return max(times) if times else None


def open_severities(runtime: Runtime, tenant: str) -> dict[str, list[str]]:
    """borrower id -> severities of its open (or acknowledged) alerts: the engine's, or
    on a cluster those the API tier stored."""
    if runtime.cluster is not None:
        return runtime.alerts.open_by_borrower(tenant)
    found: dict[str, list[str]] = {}
    for alert in runtime.engines.of(tenant).open_alerts():
        found.setdefault(alert.borrower_id, []).append(alert.severity)
    return found
