"""Online default model: logistic regression learning from loan outcomes, delayed labels.

Per tenant (one lender's outcomes never train another's model), a river pipeline
``StandardScaler | LogisticRegression`` on borrower-level features (the scorecard's
components and the borrower's repayment record). Labels arrive late:

- when a borrower is scored, its features are snapshotted with the event time and
  the model's prediction of that moment (at most one snapshot per ``snapshot_every``);
- a ``payment_missed`` or ``default`` at time ``t`` labels the borrower's pending
  snapshots taken in ``[t - horizon, t]`` as 1; snapshots after ``t`` stay pending (no
  learning from the future);
- a snapshot is learned once it is ``horizon + outcome_grace`` old: as 1 if a bad
  outcome labelled it, else as 0.

Both classes are learned at the same age, in the order the snapshots were taken. When
bad labels were learned at once and good ones a horizon later, the model saw only bad
outcomes for its first month and its intercept swung with the mix of what had come in,
not with the borrowers: on a simulated 200-borrower half year its progressive AUC was
0.41, worse than chance (`docs/user-guide/credit-matrix.md`). The intercept starts at the log-odds
of ``prior_bad_rate``, the share of snapshots a lender expects to go bad, rather than
at p = 0.5.

Progressive validation: each snapshot's metric update uses the prediction made when it
was taken, before the model learned its label (`BinnedROCAUC` and river ``LogLoss``).
"""

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from riskstream.rules.settings import ModelSettings
from riskstream.scoring.binned_auc import BinnedROCAUC

LoanEvent = Literal["payment_missed", "default", "cured"]
BAD_EVENTS = frozenset({"payment_missed", "default"})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Features of a borrower at an event time, with the prediction made then.

    Feature names are one tuple shared by every snapshot of a model (memory: a pending
    snapshot is about 300 bytes).
    """

    ts: float
    names: tuple[str, ...]
    values: tuple[float, ...]
    p: float

    @property
    def features(self) -> dict[str, float]:
        """The features as river takes them."""
        return dict(zip(self.names, self.values, strict=True))


def _log_odds(p: float) -> float:
    return math.log(p / (1.0 - p))


class OutcomeModel:
    """One tenant's model, its pending snapshots and its progressive validation.

    ``pending``: per borrower, snapshots no bad outcome has labelled (yet);
    ``labelled_bad``: snapshots a bad outcome labelled, waiting to be old enough to
    learn, as (snapshot time, order, snapshot, whether it is its outcome's last).
    """

    def __init__(self, settings: ModelSettings) -> None:
        # imported here: river's linear models take most of a second to import, which
        # every `riskstream` command paid at start, using them or not
        from river import linear_model, metrics, optim, preprocessing

        self.settings = settings
        self.pipeline = preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(settings.learning_rate),
            intercept_init=_log_odds(settings.prior_bad_rate),
        )
        self.auc = BinnedROCAUC()
        self.logloss = metrics.LogLoss()  # type: ignore[no-untyped-call]
        self.pending: dict[str, deque[Snapshot]] = {}
        self.labelled_bad: list[tuple[float, int, Snapshot, bool]] = []
        self._labelled_count = 0
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.labels = 0
        self.positive_labels = 0
        self.bad_outcomes = 0
        self.bad_outcomes_seen = 0
        self.outcomes = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        # checkpoints written before BinnedROCAUC hold river's ROCAUC: start the area anew
        if not isinstance(state.get("auc"), BinnedROCAUC):
            state["auc"] = BinnedROCAUC()
        # before bad labels waited for their age, they were learned at once
        state.setdefault("labelled_bad", [])
        state.setdefault("_labelled_count", 0)
        state.setdefault("bad_outcomes_seen", state.get("bad_outcomes", 0))
        self.__dict__.update(state)

    def predict(self, features: dict[str, float]) -> float:
        """p(bad outcome within the horizon) for these features."""
        proba: dict[Any, float] = self.pipeline.predict_proba_one(features)
        return float(proba.get(True, 0.0))

    @property
    def weight(self) -> float:
        """Share of the borrower score given to the model; grows with bad outcomes learned."""
        s = self.settings
        return min(s.max_weight, self.bad_outcomes / s.outcomes_for_full_weight)

    def snapshot_due(self, borrower_id: str, ts: float) -> bool:
        """Whether a scoring at ``ts`` is kept (`snapshot`): the borrower's last snapshot
        is at least ``snapshot_every`` older."""
        queue = self.pending.get(borrower_id)
        return not queue or ts >= queue[-1].ts + self.settings.snapshot_every

    def snapshot(
        self, borrower_id: str, ts: float, features: dict[str, float], p: float | None = None
    ) -> bool:
        """Keep the features of a scoring with the prediction made for them (``p``,
        `predict` when not given); False when the last one is too recent."""
        queue = self.pending.get(borrower_id)
        if queue is None:
            queue = self.pending[borrower_id] = deque(maxlen=self.settings.max_snapshots)
        if queue and ts < queue[-1].ts + self.settings.snapshot_every:
            return False
        names = tuple(features)
        names = self._names.setdefault(names, names)
        prediction = self.predict(features) if p is None else p
        queue.append(Snapshot(ts, names, tuple(features.values()), prediction))
        return True

    def outcome(self, borrower_id: str, ts: float, event: LoanEvent) -> int:
        """Take a loan outcome; return how many snapshots it labelled bad (they are
        learned when `expire` reaches their age)."""
        self.outcomes += 1
        if event not in BAD_EVENTS:
            return 0
        queue = self.pending.get(borrower_id)
        if not queue:
            return 0
        start = ts - self.settings.horizon
        joined = [s for s in queue if start <= s.ts <= ts]
        if not joined:
            return 0
        self.pending[borrower_id] = deque(
            (s for s in queue if not start <= s.ts <= ts), maxlen=self.settings.max_snapshots
        )
        for i, snap in enumerate(joined):
            self._labelled_count += 1
            last = i == len(joined) - 1
            heapq.heappush(self.labelled_bad, (snap.ts, self._labelled_count, snap, last))
        self.bad_outcomes_seen += 1
        return len(joined)

    def expire(self, now: float) -> int:
        """Learn the snapshots old enough that no bad outcome can claim them any more:
        as 1 those a bad outcome labelled, the others as 0, oldest first; return how
        many were learned."""
        cutoff = now - self.settings.horizon - self.settings.outcome_grace
        due: list[tuple[float, int, Snapshot, bool]] = []
        while self.labelled_bad and self.labelled_bad[0][0] < cutoff:
            snap_ts, order, snap, last = heapq.heappop(self.labelled_bad)
            due.append((snap_ts, order, snap, last))
        good: list[Snapshot] = []
        for queue in self.pending.values():
            while queue and queue[0].ts < cutoff:
                good.append(queue.popleft())
        learning = [(s.ts, 1, 0, s, False, False) for s in good]
        learning += [(t, 0, order, s, True, last) for t, order, s, last in due]
        learning.sort(key=lambda item: item[:3])
        for _, _, _, snap, bad, last in learning:
            self._learn(snap, bad)
            if last:
                self.bad_outcomes += 1
        return len(learning)

    def _learn(self, snap: Snapshot, label: bool) -> None:
        proba = {True: snap.p, False: 1.0 - snap.p}
        self.auc.update(label, snap.p)
        self.logloss.update(label, proba)
        self.pipeline.learn_one(snap.features, label)
        self.labels += 1
        self.positive_labels += int(label)

    def summary(self) -> dict[str, Any]:
        """Figures for ``GET /api/models``."""
        has_both = 0 < self.positive_labels < self.labels
        auc = self.auc.get()
        logloss: float = self.logloss.get()  # type: ignore[no-untyped-call]
        return {
            "model": "StandardScaler | LogisticRegression",
            "auc": round(float(auc), 4) if has_both else None,
            "logloss": round(float(logloss), 4) if self.labels else None,
            "labels": self.labels,
            "positive_labels": self.positive_labels,
            "bad_outcomes": self.bad_outcomes,
            "bad_outcomes_waiting": self.bad_outcomes_seen - self.bad_outcomes,
            "outcomes": self.outcomes,
            "pending_snapshots": sum(len(q) for q in self.pending.values())
            + len(self.labelled_bad),
            "weight": round(self.weight, 4),
        }


class OutcomeModels:
    """One `OutcomeModel` per tenant, built lazily."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.by_tenant: dict[str, OutcomeModel] = {}

    def of(self, tenant: str) -> OutcomeModel:
        """The tenant's model (created on first use)."""
        model = self.by_tenant.get(tenant)
        if model is None:
            model = self.by_tenant[tenant] = OutcomeModel(self.settings)
        return model

    def expire(self, now: float) -> int:
        """`OutcomeModel.expire` on every tenant."""
        return sum(m.expire(now) for m in self.by_tenant.values())

    def set_settings(self, settings: ModelSettings) -> None:
        """Apply new settings (learned state is kept; the learning rate is not changed)."""
        self.settings = settings
        for model in self.by_tenant.values():
            model.settings = settings
