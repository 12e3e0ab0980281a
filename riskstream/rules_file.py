"""The rules file (TOML): which conditions raise alerts, with thresholds and timings.

Validated strictly: an unknown table or key, a wrong type or an out-of-range value
fails with `RulesFileError` naming the file, the line and the field.
See ``config/rules.toml`` for the documented sample.
"""

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from riskstream.durations import parse_duration
from riskstream.errors import RulesFileError

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Severity = Literal["info", "warning", "critical"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class InventoryRule(_Section):
    """Inventory on hand below the pledged quantity."""

    enabled: bool = True
    coverage_below: float = Field(0.9, gt=0, le=2, description="on hand / pledged quantity")
    clear_above: float = Field(0.95, gt=0, le=2, description="coverage that clears the alert")
    for_: Seconds = Field(1800.0, alias="for", description="how long before alerting")
    clear_after: Seconds = 3600.0
    severity: Severity = "critical"


class GeofenceRule(_Section):
    """A vehicle (or yard stock) outside its geofence."""

    enabled: bool = True
    for_: Seconds = Field(300.0, alias="for")
    clear_after: Seconds = 1800.0
    severity: Severity = "warning"


class DeadmanRule(_Section):
    """A device silent for longer than its expected reporting allows."""

    enabled: bool = True
    missed_intervals: float = Field(5.0, ge=1, description="silent for this many intervals")
    min_silence: Seconds = 600.0
    severity: Severity = "warning"


class ColdChainRule(_Section):
    """Perishable collateral outside its storage temperature band."""

    enabled: bool = True
    tolerance_c: float = Field(0.5, ge=0, description="allowed overshoot of the band, °C")
    for_: Seconds = Field(900.0, alias="for")
    clear_after: Seconds = 1800.0
    severity: Severity = "critical"


class ParkedMovingRule(_Section):
    """A vehicle moving during the hours it should be parked (local time of its site)."""

    enabled: bool = True
    night_start_hour: int = Field(22, ge=0, le=23)
    night_end_hour: int = Field(5, ge=0, le=23)
    speed_above_kmh: float = Field(5.0, ge=0)
    for_: Seconds = Field(600.0, alias="for")
    clear_after: Seconds = 1800.0
    severity: Severity = "warning"


class StuckValuesRule(_Section):
    """A sensor repeating exactly the same value (frozen, or replaced by a fake)."""

    enabled: bool = True
    metrics: list[str] = Field(
        default_factory=lambda: ["weight_kg", "temperature_c", "humidity_pct", "power_kw"],
        description="metrics that always carry noise when the sensor is alive",
    )
    min_repeats: int = Field(10, ge=2)
    for_: Seconds = Field(3600.0, alias="for")
    severity: Severity = "warning"


class Rules(_Section):
    """The ``[rules.*]`` tables."""

    inventory_below_pledge: InventoryRule = InventoryRule()
    geofence_exit: GeofenceRule = GeofenceRule()
    device_silent: DeadmanRule = DeadmanRule()
    cold_chain_excursion: ColdChainRule = ColdChainRule()
    vehicle_moving_when_parked: ParkedMovingRule = ParkedMovingRule()
    values_stuck: StuckValuesRule = StuckValuesRule()


class AlertSettings(_Section):
    """The ``[alerts]`` table."""

    update_every: Seconds = Field(300.0, description="event time between updates of an open alert")


class SeverityPoints(_Section):
    """Scorecard points of one open alert, by its severity."""

    info: float = Field(5.0, ge=0, le=100)
    warning: float = Field(15.0, ge=0, le=100)
    critical: float = Field(30.0, ge=0, le=100)


def _default_alert_points() -> dict[str, SeverityPoints]:
    return {"default": SeverityPoints()}


class ScorecardSettings(_Section):
    """The ``[scorecard]`` table: points per feature band, summed and capped to 0–100."""

    alert_points: dict[str, SeverityPoints] = Field(
        default_factory=_default_alert_points,
        description="points per open alert by kind (``default`` for kinds not named)",
    )
    alert_points_max: float = Field(60.0, ge=0, le=100)
    coverage: list[tuple[float, float]] = Field(
        default_factory=lambda: [(1.1, 0.0), (1.0, 10.0), (0.9, 30.0), (0.0, 60.0)],
        description="[threshold, points]: worst lot coverage ≥ threshold gives points",
    )
    silent_device_points: float = Field(5.0, ge=0, le=100)
    data_quality_max: float = Field(20.0, ge=0, le=100)

    @field_validator("coverage")
    @classmethod
    def _bands_descend(cls, bands: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not bands:
            raise ValueError("needs at least one [threshold, points] band")
        thresholds = [t for t, _ in bands]
        if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(bands):
            raise ValueError("band thresholds must strictly decrease")
        if any(t < 0 or not 0 <= p <= 100 for t, p in bands):
            raise ValueError("thresholds must be ≥ 0 and points within 0..100")
        return bands


class ModelSettings(_Section):
    """The ``[models]`` table: the online default model learning from loan outcomes."""

    horizon: Seconds = Field(
        30 * 86400.0, gt=0, description="snapshots this long before a bad outcome are labelled 1"
    )
    outcome_grace: Seconds = Field(86400.0, ge=0, description="how late an outcome may arrive")
    snapshot_every: Seconds = Field(86400.0, gt=0, description="feature snapshot period")
    max_snapshots: int = Field(1000, ge=1, description="pending snapshots kept per borrower")
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_weight: float = Field(0.6, ge=0, le=1)
    outcomes_for_full_weight: int = Field(30, ge=1)


class RuleSet(_Section):
    """A whole rules file."""

    version: int = 1
    rules: Rules = Rules()
    alerts: AlertSettings = AlertSettings()
    scorecard: ScorecardSettings = ScorecardSettings()
    models: ModelSettings = ModelSettings()


def load_rules(path: Path | str) -> RuleSet:
    """Read and validate a rules file; `RulesFileError` names file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(path, f"cannot read: {exc.strerror or exc}", None, None) from exc
    return parse_rules(text, path)


def parse_rules(text: str, path: Path | str = "<rules>") -> RuleSet:
    """Validate rules given as TOML text (``path`` is only used in messages)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise RulesFileError(path, f"not valid TOML: {exc}", line, None) from exc
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        field = ".".join(loc)
        reason = _reason(first)
        raise RulesFileError(path, reason, locate(text, loc), field) from exc


def _reason(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling against config/rules.toml)"
    if error["type"] == "missing":
        return "required field is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{message} (got {error.get('input')!r})"


def locate(text: str, loc: list[str]) -> int | None:
    """Best line for a field path: its ``key =`` line, else its table header.

    Inside inline tables and arrays (``coverage = [[1.1, 0], ...]``) the line of the
    nearest enclosing key is given.
    """
    if not loc:
        return None
    line = _locate_exact(text, loc)
    if line is None and len(loc) > 1:
        return locate(text, loc[:-1])
    return line


def _locate_exact(text: str, loc: list[str]) -> int | None:
    *tables, key = loc
    wanted_table = ".".join(tables)
    current = ""
    header_line: int | None = None
    key_pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    header_pattern = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    for number, line in enumerate(text.splitlines(), start=1):
        header = header_pattern.match(line)
        if header:
            current = header.group(1).replace(" ", "")
            if current == ".".join(loc):
                return number
            if current == wanted_table:
                header_line = number
            continue
        if current == wanted_table and key_pattern.match(line):
            return number
    return header_line
