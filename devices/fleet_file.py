"""Read and write YAML fleet files (the registry's import/export format)."""

from pathlib import Path

import yaml
from pydantic import ValidationError

from devices.errors import FleetFileError
from devices.model import Fleet


def load_fleet(path: Path | str) -> Fleet:
    """Load and validate a fleet file; raise `FleetFileError` naming file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise FleetFileError(path, f"{line}not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise FleetFileError(path, "expected a mapping with 'tenant' and 'borrowers'")
    try:
        return Fleet.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise FleetFileError(path, first["msg"], field) from exc


def dump_fleet(fleet: Fleet) -> str:
    """Serialise a fleet to YAML text, stable for the same fleet."""
    data = fleet.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def save_fleet(fleet: Fleet, path: Path | str) -> None:
    """Write a fleet file."""
    Path(path).write_text(dump_fleet(fleet), encoding="utf-8")
