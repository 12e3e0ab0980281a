"""The ``[scoring]`` table of the rules file: the credit matrix.

No single score fits every borrower. Six component scores (each 0–100, high = risky;
`riskstream.scoring.components`) are combined with weights that depend on the
borrower's segment: ``[scoring.matrix]`` holds the default row, and each
``[[scoring.matrix.segments]]`` row names what it matches (industry, size band, days of
data history, any text field of the fleet file's borrower) and its own weights. The
first segment that matches a borrower gives its weights; otherwise the default row.
A component without data for a borrower gives its weight to the others in proportion.
"""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from riskstream.rules.fields import FieldError, StrictSection

COMPONENTS: tuple[str, ...] = (
    "collateral",
    "operations",
    "conduct",
    "behaviour",
    "repayment",
    "outcome_model",
)
"""The component scores, in the order they are shown."""

BORROWER_FIELDS: tuple[str, ...] = ("id", "name", "industry", "timezone")
"""Text fields of a fleet file's borrower that a segment may match in ``fields``."""

SizeBand = Literal["small", "medium", "large"]


class _Strict(StrictSection):
    """A table of this part of the rules file."""


class Weights(_Strict):
    """The weight of each component (any scale: they are divided by their sum)."""

    collateral: float = Field(0.30, ge=0, le=100, description="weight of the collateral score")
    operations: float = Field(0.20, ge=0, le=100, description="weight of the operations score")
    conduct: float = Field(0.15, ge=0, le=100, description="weight of the conduct score")
    behaviour: float = Field(0.10, ge=0, le=100, description="weight of the behaviour score")
    repayment: float = Field(0.15, ge=0, le=100, description="weight of the repayment score")
    outcome_model: float = Field(
        0.10, ge=0, le=100, description="weight of the outcome model's score"
    )

    @model_validator(mode="after")
    def _not_all_zero(self) -> "Weights":
        if sum(self.as_dict().values()) <= 0:
            raise ValueError("at least one weight must be above 0")
        return self

    def as_dict(self) -> dict[str, float]:
        """Component → weight, in `COMPONENTS` order."""
        return {name: float(getattr(self, name)) for name in COMPONENTS}


class Segment(_Strict):
    """One ``[[scoring.matrix.segments]]`` row: what it matches and its weights.

    Every condition given must hold; a row with no condition matches everyone.
    """

    name: str = Field(min_length=1, max_length=64, description="shown on the borrower page")
    industry: list[str] = Field(default_factory=list, description="borrower industries it matches")
    size: list[SizeBand] = Field(
        default_factory=list, description="size bands it matches (by total principal)"
    )
    min_history_days: float = Field(
        0.0, ge=0, description="days of data history the borrower has at least"
    )
    max_history_days: float | None = Field(
        None, gt=0, description="days of data history the borrower has less than"
    )
    fields: dict[str, list[str]] = Field(
        default_factory=dict,
        description="fleet-file borrower field → values it matches (id, name, industry, timezone)",
    )
    weights: Weights = Field(default_factory=Weights, description="the weights of this segment")

    @field_validator("fields")
    @classmethod
    def _fields_known(cls, fields: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(fields) - set(BORROWER_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown borrower field {unknown[0]!r}; use one of {', '.join(BORROWER_FIELDS)}"
            )
        return fields

    @model_validator(mode="after")
    def _history_range(self) -> "Segment":
        if self.max_history_days is not None and self.max_history_days <= self.min_history_days:
            raise ValueError("max_history_days must be above min_history_days")
        return self


class MatrixSettings(_Strict):
    """The ``[scoring.matrix]`` table: the default weights and the segments' rows."""

    default: Weights = Field(default_factory=Weights, description="weights of unmatched borrowers")
    segments: list[Segment] = Field(
        default_factory=list, max_length=200, description="rows tried in order; first match wins"
    )
    min_history_days: float = Field(
        30.0,
        ge=0,
        description="below this many days of data the behaviour component lacks data (its "
        "weight goes to the others)",
    )
    small_below: float = Field(
        1_000_000.0, gt=0, description="total principal below this: size band `small`"
    )
    large_from: float = Field(
        10_000_000.0, gt=0, description="total principal from this: size band `large`"
    )

    @field_validator("segments")
    @classmethod
    def _names_unique(cls, segments: list[Segment]) -> list[Segment]:
        seen: set[str] = set()
        for i, segment in enumerate(segments):
            if segment.name == "default" or segment.name in seen:
                raise FieldError(
                    f"{i}.name", f"segment name {segment.name!r} is used twice (or is `default`)"
                )
            seen.add(segment.name)
        return segments

    @model_validator(mode="after")
    def _bands_ordered(self) -> "MatrixSettings":
        if self.large_from <= self.small_below:
            raise ValueError("large_from must be above small_below")
        return self


class ScoringSettings(_Strict):
    """The ``[scoring]`` table: how the borrower score is made."""

    score_from: Literal["scorecard", "matrix"] = Field(
        "scorecard",
        description="what the borrower's headline score is: the scorecard blended with the "
        "outcome model, or the credit matrix (both are always shown)",
    )
    matrix: MatrixSettings = Field(default_factory=MatrixSettings, description="the credit matrix")
