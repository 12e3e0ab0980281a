"""ROC AUC of a stream of predictions, O(1) per label.

river's ``ROCAUC`` keeps a confusion matrix per threshold and updates every one of them
on each label (200 updates for the 200 thresholds the outcome model needs), which made
learning a day's snapshots the largest cost of a long backtest. Here each label adds one
count to a histogram of predicted probabilities, one per class; the area is computed
from the two histograms when it is asked for. Predictions in the same bin count as ties
(half a correctly ranked pair), so the resolution is the bin width.
"""

from dataclasses import dataclass, field

BINS = 1000


def _empty() -> list[int]:
    return [0] * BINS


@dataclass(slots=True)
class BinnedROCAUC:
    """Histogram ROC AUC: `update` per label, `get` for the area (0.0 without both classes)."""

    positives: list[int] = field(default_factory=_empty)
    negatives: list[int] = field(default_factory=_empty)

    def update(self, label: bool, p: float) -> None:
        """Count one labelled prediction (``p`` = probability of the positive class)."""
        k = min(BINS - 1, max(0, int(p * BINS)))
        if label:
            self.positives[k] += 1
        else:
            self.negatives[k] += 1

    def get(self) -> float:
        """The area under the ROC curve: P(a positive ranks above a negative)."""
        n_pos, n_neg = sum(self.positives), sum(self.negatives)
        if not n_pos or not n_neg:
            return 0.0
        below = 0
        pairs = 0.0
        for pos, neg in zip(self.positives, self.negatives, strict=True):
            pairs += pos * (below + neg / 2)
            below += neg
        return pairs / (n_pos * n_neg)
