"""The rules file (TOML): which conditions raise alerts, with thresholds and timings.

Validated strictly: an unknown table or key, a wrong type or an out-of-range value
fails with `RulesFileError` naming the file, the line and the field.
See ``config/rules.toml`` for the documented sample.
"""

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

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


class Rules(_Section):
    """The ``[rules.*]`` tables."""

    inventory_below_pledge: InventoryRule = InventoryRule()
    geofence_exit: GeofenceRule = GeofenceRule()
    device_silent: DeadmanRule = DeadmanRule()


class AlertSettings(_Section):
    """The ``[alerts]`` table."""

    update_every: Seconds = Field(300.0, description="event time between updates of an open alert")


class RuleSet(_Section):
    """A whole rules file."""

    version: int = 1
    rules: Rules = Rules()
    alerts: AlertSettings = AlertSettings()


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
    """Best line for a field path: its ``key =`` line, else its table header."""
    if not loc:
        return None
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
