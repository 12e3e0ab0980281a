"""How well each credit-matrix component ranked the loan outcomes that followed.

A backtest keeps one `MatrixSnapshot` per borrower and day. Each is labelled from the
loan outcomes: 1 if the borrower missed a payment or defaulted within ``horizon``
after it, 0 if it did not and the run covers the whole horizon; snapshots whose
horizon runs past the end of the data, or taken after the borrower defaulted, are left
out. Per segment (and over all), the ROC AUC of each component, the matrix score and
the old scorecard is computed with its sample size (ties count half).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from riskstream.backtest.outcomes_file import LoanOutcome
from riskstream.rules.matrix import COMPONENTS
from riskstream.scoring.matrix_input import MatrixSnapshot
from riskstream.scoring.outcome_model import BAD_EVENTS

ALL = "all"
PREDICTORS: tuple[str, ...] = (*COMPONENTS, "matrix", "scorecard")


@dataclass(frozen=True)
class Labelled:
    """A snapshot and whether a bad outcome followed within the horizon."""

    snapshot: MatrixSnapshot
    bad: bool


@dataclass(frozen=True)
class AucCell:
    """The AUC of one predictor in one segment, with its sample."""

    auc: float | None
    snapshots: int
    positives: int


def label(
    snapshots: Iterable[MatrixSnapshot],
    outcomes: Sequence[LoanOutcome],
    horizon: float,
    end: float,
) -> list[Labelled]:
    """Label each snapshot by the bad outcomes of ``horizon`` after it."""
    bad: dict[str, list[float]] = {}
    defaulted: dict[str, float] = {}
    for o in outcomes:
        if o.event in BAD_EVENTS:
            bad.setdefault(o.borrower_id, []).append(o.ts)
        if o.event == "default":
            defaulted.setdefault(o.borrower_id, o.ts)
    out: list[Labelled] = []
    for snap in snapshots:
        if snap.ts >= defaulted.get(snap.borrower_id, float("inf")):
            continue
        hit = any(snap.ts < ts <= snap.ts + horizon for ts in bad.get(snap.borrower_id, ()))
        if hit or snap.ts + horizon <= end:
            out.append(Labelled(snap, hit))
    return out


def rank_auc(pairs: Sequence[tuple[float, bool]]) -> float | None:
    """P(a positive scores above a negative), ties half; None without both classes."""
    positives = sum(1 for _, y in pairs if y)
    negatives = len(pairs) - positives
    if not positives or not negatives:
        return None
    ordered = sorted(pairs, key=lambda p: p[0])
    below = 0.0
    wins = 0.0
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        group_pos = sum(1 for _, y in ordered[i:j] if y)
        group_neg = (j - i) - group_pos
        wins += group_pos * (below + group_neg / 2)
        below += group_neg
        i = j
    return wins / (positives * negatives)


def _value(snap: MatrixSnapshot, predictor: str) -> float | None:
    if predictor == "matrix":
        return snap.matrix
    if predictor == "scorecard":
        return snap.scorecard
    return snap.components.get(predictor)


def auc_table(labelled: Sequence[Labelled]) -> dict[str, dict[str, AucCell]]:
    """Segment (and ``all``) → predictor → AUC with sample size."""
    by_segment: dict[str, list[Labelled]] = {ALL: list(labelled)}
    for item in labelled:
        by_segment.setdefault(item.snapshot.segment, []).append(item)
    table: dict[str, dict[str, AucCell]] = {}
    for segment, items in sorted(by_segment.items(), key=lambda kv: (kv[0] != ALL, kv[0])):
        row: dict[str, AucCell] = {}
        for predictor in PREDICTORS:
            pairs = [
                (v, item.bad)
                for item in items
                if (v := _value(item.snapshot, predictor)) is not None
            ]
            row[predictor] = AucCell(rank_auc(pairs), len(pairs), sum(1 for _, y in pairs if y))
        table[segment] = row
    return table
