"""What the detectors' ``[rules.*]`` tables share: their base class and the keys most
of them have, described once (the rules file reference is generated from them)."""

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field

from riskstream.durations import parse_duration
from riskstream.rules.custom import StrictSection

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Severity = Literal["info", "warning", "critical"]

Enabled = Annotated[bool, Field(description="false turns the rule off")]
HoldFor = Annotated[
    Seconds, Field(description="how long the condition holds before the alert opens")
]
ClearAfter = Annotated[
    Seconds, Field(description="how long the condition stays clear before the alert resolves")
]
AlertSeverity = Annotated[Severity, Field(description="severity of the alerts it raises")]


class RuleTable(StrictSection):
    """A detector's ``[rules.<kind>]`` table: documented next to its detector, and put in
    the rules file's schema by its registry entry (`riskstream.detectors.registry`)."""

    service_wide: ClassVar[frozenset[str]] = frozenset()
    """Keys that apply to the whole service: an ``[[overrides]]`` entry may not set them."""
