"""The credit matrix: a borrower's segment, and its components combined by that segment's
weights.

``score = Σ wᵢ·sᵢ / Σ wᵢ`` over the components that have data; a component without
data gives its weight to the others in proportion to theirs, and says so.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devices.model import Borrower
from riskstream.rules.matrix import MatrixSettings, Segment, SizeBand, Weights
from riskstream.scoring.components import ComponentScore

DAY_S = 86_400.0


def size_band(settings: MatrixSettings, principal: float) -> SizeBand:
    """The size band of a borrower whose loans total ``principal``."""
    if principal < settings.small_below:
        return "small"
    return "large" if principal >= settings.large_from else "medium"


def matches(segment: Segment, borrower: Borrower, band: SizeBand, history_days: float) -> bool:
    """Whether every condition of ``segment`` holds for the borrower."""
    if segment.industry and borrower.industry not in segment.industry:
        return False
    if segment.size and band not in segment.size:
        return False
    if history_days < segment.min_history_days:
        return False
    if segment.max_history_days is not None and history_days >= segment.max_history_days:
        return False
    return all(str(getattr(borrower, name)) in values for name, values in segment.fields.items())


def segment_of(
    settings: MatrixSettings, borrower: Borrower, history_days: float
) -> tuple[str, Weights]:
    """The name and weights of the first segment matching the borrower, else the default."""
    band = size_band(settings, sum(loan.principal for loan in borrower.loans))
    for segment in settings.segments:
        if matches(segment, borrower, band, history_days):
            return segment.name, segment.weights
    return "default", settings.default


@dataclass(frozen=True)
class MatrixRow:
    """One component in a borrower's matrix score."""

    component: str
    score: float
    has_data: bool
    weight: float
    weight_used: float
    contribution: float
    reasons: list[str]


@dataclass(frozen=True)
class MatrixScore:
    """A borrower's matrix score (0–100), its segment and its rows."""

    segment: str
    score: float
    rows: list[MatrixRow]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "segment": self.segment,
            "score": self.score,
            "notes": self.notes,
            "components": [vars(row) for row in self.rows],
        }


def combine(segment: str, weights: Weights, parts: Sequence[ComponentScore]) -> MatrixScore:
    """Combine component scores by ``weights``, handing the weight of a component without
    data to the others in proportion."""
    configured = weights.as_dict()
    total = sum(configured.values())
    usable = sum(configured[p.name] for p in parts if p.has_data)
    notes: list[str] = []
    rows: list[MatrixRow] = []
    for part in parts:
        share = configured[part.name] / total
        used = configured[part.name] / usable if part.has_data and usable > 0 else 0.0
        if not part.has_data and share > 0:
            notes.append(
                f"{part.name.replace('_', ' ')} lacks data ({'; '.join(part.reasons)}): its weight "
                f"{share:.0%} goes to the others"
            )
        rows.append(
            MatrixRow(
                part.name,
                part.score,
                part.has_data,
                round(share, 4),
                round(used, 4),
                round(used * part.score, 2),
                part.reasons,
            )
        )
    if usable <= 0:
        notes.append("no weighted component has data: score 0")
    score = round(sum(row.contribution for row in rows), 1)
    return MatrixScore(segment, min(100.0, score), rows, notes)
