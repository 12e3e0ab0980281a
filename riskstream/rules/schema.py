"""The rules file (TOML): which conditions raise alerts, with thresholds and timings.

Validated strictly: an unknown table or key, a wrong type or an out-of-range value
fails with `RulesFileError` naming the file, the line and the field.
See ``config/rules.toml`` for the documented sample.
"""

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_args

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from riskstream.detectors.custom_rule import CustomRule
from riskstream.detectors.registry import REGISTRY, DetectorSpec
from riskstream.errors import RulesFileError
from riskstream.rules.calendar import CalendarSettings
from riskstream.rules.fields import (
    AlertComponent,
    FieldError,
    RuleTable,
    Seconds,
    Severity,
    StrictSection,
)
from riskstream.rules.matrix import ScoringSettings
from riskstream.rules.overrides import Override, OverrideError, apply_override
from riskstream.rules.settings import (
    AlertSettings,
    BaselineSettings,
    ModelSettings,
    ScorecardSettings,
    SeverityPoints,
)
from riskstream.rules.toml_guard import TomlLimitError, load_toml

T = TypeVar("T", bound=RuleTable)

__all__ = [
    "EXTRA_ALERT_KINDS",
    "TABLES",
    "AlertSettings",
    "BaselineSettings",
    "ModelSettings",
    "RuleSet",
    "Rules",
    "ScorecardSettings",
    "Seconds",
    "Severity",
    "SeverityPoints",
    "load_rules",
    "locate",
    "parse_rules",
]


class _Section(StrictSection):
    """A table of this part of the rules file."""


_RESERVED = frozenset({"custom", "table"})  # Rules' own field and method


def tables_of(specs: Iterable[DetectorSpec]) -> dict[str, type[RuleTable]]:
    """Each detector's ``[rules.<kind>]`` tables, in the order of ``specs``."""
    tables: dict[str, type[RuleTable]] = {}
    for spec in specs:
        for kind, model in spec.tables.items():
            if kind in tables or model in tables.values():
                raise RuntimeError(f"[rules.{kind}] or its model {model.__name__} registered twice")
            if kind in _RESERVED:
                raise RuntimeError(f"[rules.{kind}] is taken by the rules file itself")
            if getattr(model, "matrix_component", None) not in get_args(AlertComponent):
                raise RuntimeError(
                    f"{model.__name__} names no credit matrix component: set its "
                    f"matrix_component to one of {', '.join(get_args(AlertComponent))}"
                )
            tables[kind] = model
    return tables


TABLES = tables_of(REGISTRY)
"""Table name (the alert kind) → the rule model of that ``[rules.*]`` table."""
_TABLE_OF = {model: kind for kind, model in TABLES.items()}

if TYPE_CHECKING:
    _Tables = _Section  # the tables themselves are read with `Rules.table`
else:
    _Tables = create_model(
        "_Tables",
        __base__=_Section,
        __module__=__name__,
        **{kind: (model, model()) for kind, model in TABLES.items()},
    )


class Rules(_Tables):
    """The ``[rules.*]`` tables: one per alert kind of a registered detector
    (`riskstream.detectors.registry`), and the user's ``[[rules.custom]]``."""

    custom: list[CustomRule] = Field(
        default_factory=list, description="user-defined rules (`riskstream.detectors.custom_rule`)"
    )

    @field_validator("custom")
    @classmethod
    def _custom_names_free(cls, rules: list[CustomRule]) -> list[CustomRule]:
        seen: set[str] = set()
        for i, rule in enumerate(rules):
            if rule.name in cls.model_fields:
                raise FieldError(f"{i}.name", f"{rule.name!r} is a built-in rule's; choose another")
            if rule.name in seen:
                raise FieldError(f"{i}.name", f"{rule.name!r} is used by two custom rules")
            seen.add(rule.name)
        return rules

    def table(self, model: type[T]) -> T:
        """The ``[rules.*]`` table whose model is ``model`` (e.g. ``table(InventoryRule)``)."""
        value = getattr(self, _TABLE_OF[model])
        if not isinstance(value, model):
            raise TypeError(f"[rules.{_TABLE_OF[model]}] is not a {model.__name__}")
        return value


EXTRA_ALERT_KINDS: frozenset[str] = frozenset()
"""Alert kinds not named after a ``[rules.*]`` table that ``[alerts]`` tables may name."""


class RuleSet(_Section):
    """A whole rules file."""

    version: int = Field(1, description="version of the file format")
    rules: Rules = Rules()
    alerts: AlertSettings = AlertSettings()
    scorecard: ScorecardSettings = ScorecardSettings()
    models: ModelSettings = ModelSettings()
    scoring: ScoringSettings = ScoringSettings()
    baseline: BaselineSettings = BaselineSettings()
    calendar: CalendarSettings = CalendarSettings()
    overrides: list[Override] = Field(
        default_factory=list, description="per-tenant and per-loan [rules.*] overrides"
    )

    @field_validator("overrides")
    @classmethod
    def _overrides_fit(cls, overrides: list[Override], info: ValidationInfo) -> list[Override]:
        base = info.data.get("rules")
        if isinstance(base, Rules):
            for i, override in enumerate(overrides):
                apply_override(base, override.rules, i)
        return overrides


def load_rules(path: Path | str) -> RuleSet:
    """Read and validate a rules file; `RulesFileError` names file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(path, f"cannot read: {exc.strerror or exc}", None, None) from exc
    return parse_rules(text, path)


def parse_rules(text: str, path: Path | str = "<rules>") -> RuleSet:
    """Validate rules given as TOML text (``path`` is only used in messages).

    Bounded (`riskstream.rules.toml_guard`): nesting, integers of 64 bits, finite numbers.
    """
    try:
        raw = load_toml(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise RulesFileError(path, f"not valid TOML: {exc}", line, None) from exc
    except TomlLimitError as exc:
        line = exc.line if exc.line is not None else locate(text, exc.keys)
        raise RulesFileError(path, exc.reason, line, ".".join(exc.keys) or None) from exc
    try:
        context = {"alert_kinds": alert_kinds(), "custom_kinds": _custom_names(raw)}
        return RuleSet.model_validate(raw, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"] if p != "[key]"]  # a bad key: its own line
        reason = _reason(first)
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, OverrideError):
            loc, reason = cause.loc, cause.reason
        elif isinstance(cause, FieldError):
            loc, reason = [*loc, *cause.field.split(".")], cause.reason
        field = ".".join(loc)
        raise RulesFileError(path, reason, locate(text, loc), field) from exc


def alert_kinds() -> frozenset[str]:
    """The alert kinds of the built-in rules, which ``[alerts]`` tables may name."""
    return (frozenset(Rules.model_fields) - {"custom"}) | EXTRA_ALERT_KINDS


def _custom_names(raw: dict[str, Any]) -> list[str]:
    """Names of the ``[[rules.custom]]`` tables, for the tables that may name alert kinds."""
    rules = raw.get("rules")
    tables = rules.get("custom") if isinstance(rules, dict) else None
    if not isinstance(tables, list):
        return []
    return [t["name"] for t in tables if isinstance(t, dict) and isinstance(t.get("name"), str)]


def _reason(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling against config/rules.toml)"
    if error["type"] == "missing":
        return "required field is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    got = repr(error.get("input"))
    return f"{message} (got {got if len(got) <= 120 else got[:119] + '…'})"


def locate(text: str, loc: list[str]) -> int | None:
    """Best line for a field path: its ``key =`` line, else its table header.

    Inside inline tables and arrays (``coverage = [[1.1, 0], ...]``) the line of the
    nearest enclosing key is given.
    """
    if not loc:
        return None
    if len(loc) > 1 and _is_index(loc[1]):
        return _locate_in_array(text, loc)
    nested = next((i for i in range(2, len(loc)) if _is_index(loc[i])), None)
    if nested is not None:  # an array of tables under a table, e.g. [[rules.custom]]
        found = _locate_in_array(text, [".".join(loc[:nested]), *loc[nested:]])
        if found is not None:
            return found
    line = _locate_exact(text, loc)
    if line is None and len(loc) > 1:
        return locate(text, loc[:-1])
    return line


def _is_index(part: str) -> bool:
    """Whether a location part is an array index (not a key such as "²" or 5,000 digits)."""
    return part.isascii() and part.isdigit() and len(part) <= 9


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


def _locate_in_array(text: str, loc: list[str]) -> int | None:
    """Line of ``loc`` = [name, index, ...] inside the index-th ``[[name]]`` table."""
    name, index, *rest = loc
    lines = text.splitlines()
    table = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]")
    opens = [i for i, line in enumerate(lines) if table.match(line)]
    if int(index) >= len(opens):
        return None
    begin = opens[int(index)]
    end = len(lines)
    for i in range(begin + 1, len(lines)):
        header = re.match(r"^\s*\[\[?\s*([^\]]+?)\s*\]", lines[i])
        if header and (lines[i].lstrip().startswith("[[") or not header.group(1).startswith(name)):
            end = i
            break
    found = locate("\n".join([f"[{name}]", *lines[begin + 1 : end]]), [name, *rest]) if rest else 1
    return begin + (found or 1)
