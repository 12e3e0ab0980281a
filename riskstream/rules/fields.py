"""What the rules file's tables share: their strict base classes, the error that names a
field, and the keys most detectors' ``[rules.*]`` tables have, described once (the rules
file reference is generated from them)."""

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from riskstream.durations import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Severity = Literal["info", "warning", "critical"]
AlertComponent = Literal["collateral", "operations", "conduct", "behaviour"]
"""The credit matrix components open alerts count in (`riskstream.scoring.components`)."""

Enabled = Annotated[bool, Field(description="false turns the rule off")]
HoldFor = Annotated[
    Seconds, Field(description="how long the condition holds before the alert opens")
]
ClearAfter = Annotated[
    Seconds, Field(description="how long the condition stays clear before the alert resolves")
]
AlertSeverity = Annotated[Severity, Field(description="severity of the alerts it raises")]


class FieldError(ValueError):
    """A value that does not fit the rest of its table; names the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


_NUMBERS: tuple[object, ...] = (int, float, int | None, float | None)


def refuse_text_numbers(model: type[BaseModel], data: object) -> object:
    """``data`` unchanged, or `FieldError` where a number field was given text or true/false
    (``coverage_below = "0.9"`` is a typo to point at, not a number to guess)."""
    if not isinstance(data, dict):
        return data
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = data.get(key, data.get(name))
        if not isinstance(value, str | bool):
            continue
        parsed_otherwise = any(isinstance(m, BeforeValidator) for m in field.metadata)
        if field.annotation in _NUMBERS and not parsed_otherwise:
            raise FieldError(key, f"write a number, not {type(value).__name__} ({value!r})")
    return data


class StrictSection(BaseModel):
    """A table of the rules file: unknown keys refused, values frozen, and text or
    true/false refused where a number goes."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: object) -> object:
        return refuse_text_numbers(cls, data)


class RuleTable(StrictSection):
    """A detector's ``[rules.<kind>]`` table: documented next to its detector, and put in
    the rules file's schema by its registry entry (`riskstream.detectors.registry`)."""

    matrix_component: ClassVar[AlertComponent]
    """The credit matrix component its alerts count in; every table names its own."""

    service_wide: ClassVar[frozenset[str]] = frozenset()
    """Keys that apply to the whole service: an ``[[overrides]]`` entry may not set them."""
