"""Pydantic fields described for readers of a settings file: type, default, range."""

import enum
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, BeforeValidator, SecretStr
from pydantic.fields import FieldInfo

from riskstream.docs_gen.markdown import code, table, text
from riskstream.durations import parse_duration
from riskstream.rules.calendar import HolidayDate, TimezoneName

LONG = 60
"""Defaults longer than this are shown in a block under their table."""
_UNIT_S = (("d", 86400.0), ("h", 3600.0), ("m", 60.0))
SECONDS = typing.Annotated[float, BeforeValidator(parse_duration)]
"""A duration field's type, for `toml`."""


def is_duration(info: FieldInfo) -> bool:
    return any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in info.metadata)


def duration(seconds: float) -> str:
    """``seconds`` as the rules file writes it (``"30m"``, ``"25h"``, ``"7d"``)."""
    if seconds == 0:
        return '"0s"'
    for unit, size in _UNIT_S:
        if seconds % size == 0:
            return f'"{seconds / size:g}{unit}"'
    return f'"{seconds:g}s"'


def type_name(annotation: Any) -> str:
    """A type as the rules file's reader sees it."""
    if annotation == HolidayDate:
        return "date (`MM-DD` or `YYYY-MM-DD`)"
    if annotation == TimezoneName:
        return "IANA timezone"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        if any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in args[1:]):
            return "duration"
        return type_name(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(code(a) for a in args)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(type_name(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is tuple:
        return "[" + ", ".join(type_name(a) for a in args) + "]"
    if origin is dict:
        return f"table of {type_name(args[0])} → {type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(code(m.value) for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "{" + ", ".join(key_of(n, f) for n, f in annotation.model_fields.items()) + "}"
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        Path: "path",
        SecretStr: "secret",
    }
    return names.get(annotation, "any")


def key_of(name: str, info: FieldInfo) -> str:
    return info.alias or name


def _duration_type(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return typing.get_origin(annotation) is typing.Annotated and any(
        isinstance(m, BeforeValidator) and m.func is parse_duration for m in args[1:]
    )


def toml(value: Any, annotation: Any = None) -> str:
    """``value`` written as TOML; ``annotation`` says where durations are."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _duration_type(annotation) and isinstance(value, int | float):
        return duration(float(value))
    if isinstance(value, enum.Enum):
        return toml(value.value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) and value != int(value) else repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        item = args[0] if origin is list and args else None
        return "[" + ", ".join(toml(v, item) for v in value) + "]"
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    if isinstance(value, dict):
        item = args[1] if origin is dict and len(args) == 2 else None
        inner = ", ".join(f"{_bare(k)} = {toml(v, item)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    return repr(value)


def _bare(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else toml(key)


def default_of(info: FieldInfo) -> Any:
    """The field's default, built if it has a factory."""
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def constraints(info: FieldInfo) -> str:
    """The range or form a value must keep, e.g. ``> 0, ≤ 2``."""
    as_duration = is_duration(info)

    def show(value: object) -> str:
        number = float(str(value))  # bounds of the rules and settings are numbers
        return duration(number).strip('"') if as_duration else f"{number:g}"

    parts: list[str] = []
    for m in info.metadata:
        if isinstance(m, Gt):
            parts.append(f"> {show(m.gt)}")
        elif isinstance(m, Ge):
            parts.append(f"≥ {show(m.ge)}")
        elif isinstance(m, Lt):
            parts.append(f"< {show(m.lt)}")
        elif isinstance(m, Le):
            parts.append(f"≤ {show(m.le)}")
        elif isinstance(m, MaxLen):
            parts.append(f"at most {m.max_length} characters")
        elif isinstance(m, MinLen):
            parts.append(
                "not empty" if m.min_length == 1 else f"at least {m.min_length} characters"
            )
        elif getattr(m, "pattern", None):
            parts.append(f"matches {code(m.pattern)}")
    return ", ".join(parts)


def _model_arg(annotation: Any) -> type[BaseModel] | None:
    """``M`` of ``list[M]`` when it is a model."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and args:
        element = args[0]
        if isinstance(element, type) and issubclass(element, BaseModel):
            return element
    return None


def _without_none(annotation: Any) -> Any:
    """``X`` of ``X | None`` (an optional table or list of tables); else the annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        inner = args[0]
        if (isinstance(inner, type) and issubclass(inner, BaseModel)) or _model_arg(inner):
            return inner
    return annotation


def _none(_path: str) -> list[str]:
    return []


def model_sections(
    model: type[BaseModel],
    path: str,
    *,
    title: Callable[[str, bool], str],
    notes: Callable[[str], list[str]] = _none,
    extras: Callable[[str], list[str]] = _none,
    array: bool = False,
) -> list[str]:
    """A section with the table of ``model``'s keys, then one for each model under it.

    Args:
        model: the table's model.
        path: its dotted path from the top of the file ("" at the top).
        title: the section's heading for a path (and whether it is a list of tables).
        notes: sentences to add under a path's heading.
        extras: blocks to add after a path's table.
        array: whether the table is one of a list.
    """
    rows: list[list[str]] = []
    blocks: list[str] = []
    below: list[str] = []
    for name, info in model.model_fields.items():
        key = key_of(name, info)
        inner = f"{path}.{key}" if path else key
        ann = _without_none(info.annotation)
        element = _model_arg(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            below += model_sections(ann, inner, title=title, notes=notes, extras=extras)
            continue
        if element is not None:
            below += model_sections(
                element, inner, title=title, notes=notes, extras=extras, array=True
            )
            continue
        if info.is_required():
            shown = "required"
        else:
            value = default_of(info)
            shown = toml(value, SECONDS if is_duration(info) else ann)
            if len(shown) > LONG:
                blocks.append(f"Default of `{key}`:\n\n```toml\n{key} = {shown}\n```")
                shown = "see below"
            elif value is not None:
                shown = code(shown)
        kind = "duration" if is_duration(info) else type_name(ann)
        rows.append([code(key), kind, shown, constraints(info), text(info.description or "")])
    if not rows:
        return below
    about = text((model.__doc__ or "").split("\n\n")[0])
    out = [f"## {title(path, array)}", " ".join([about, *notes(path)])]
    out.append(table(["key", "type", "default", "allowed", "meaning"], rows))
    return out + blocks + extras(path) + below
