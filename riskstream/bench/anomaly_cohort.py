"""The cohort row of `riskstream bench anomaly`: the generated series as one cohort.

``[rules.anomaly.series] model = "cohort"`` shares one model among the series of one
metric of one device kind at one lender (`riskstream.detectors.cohort_series`). The
bench's series share one generator (levels 20-200, their own noise and daily pattern,
readings every 1-10 min), as like devices of one lender would, so the row runs all of
them (every anomaly kind and the clean ones) as one cohort: fed together in time order,
as their devices would report, each reading judged and then learned by its own series'
`CohortMember` with the rule's default warm-ups. A series is then judged by a cohort
whose other members carry anomalies of their own in their second halves, as a real
cohort would. Speed is the whole run's readings over its seconds.
"""

import heapq
import pickle
import time
from collections.abc import Iterator

from riskstream.detectors.cohort_anomaly import AnomalyRule
from riskstream.detectors.cohort_series import CohortMember, CohortModel
from riskstream.rules.schema import RuleSet

__all__ = ["COHORT", "CohortRun", "run_cohort"]

COHORT = "cohort model"


class CohortRun:
    """Alerts per series of one cohort run, its seconds and each member's pickled size."""

    def __init__(self, series: int) -> None:
        self.alerts: list[list[float]] = [[] for _ in range(series)]
        self.seconds = 0.0
        self.state_bytes: list[int] = [0] * series


def run_cohort(series: list[tuple[list[float], list[float]]]) -> CohortRun:
    """Score then learn every reading of ``series`` ((times, values) each) in time order,
    each series a member of one cohort."""
    rule = RuleSet().rules.table(AnomalyRule).series
    cohort = CohortModel()
    members = [CohortMember(cohort, rule.cohort_warmup, rule.warmup) for _ in series]
    run = CohortRun(len(series))
    merged = heapq.merge(*(_tagged(k, times, values) for k, (times, values) in enumerate(series)))
    started = time.perf_counter()
    for ts, k, value in merged:
        member = members[k]
        verdict = member.score(ts, value)
        if verdict is not None and verdict.anomalous:
            run.alerts[k].append(ts)
        member.learn(ts, value)
    run.seconds = time.perf_counter() - started
    run.state_bytes = [len(pickle.dumps(member)) for member in members]
    return run


def _tagged(k: int, times: list[float], values: list[float]) -> Iterator[tuple[float, int, float]]:
    """Series ``k``'s readings as ``(ts, k, value)``: ``k`` bound now, not when merged."""
    for ts, value in zip(times, values, strict=True):
        yield ts, k, value
