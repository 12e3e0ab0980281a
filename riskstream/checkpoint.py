"""Checkpoint files of engine state: what the detectors, the alert book and the models
learned, without what is rebuilt from the fleets and the rules file.

A component's state is its instance attributes minus the shared references named in
`SHARED` (fleet index, rules and their per-loan scope, settings), so a checkpoint
restores into an engine built from the same fleets under the current rules. Files are
pickles written atomically (temporary file, fsync, rename); load them only from a place
you trust, as with any pickle.
"""

import os
import pickle
from pathlib import Path
from typing import Any

FORMAT = 1
SHARED = frozenset(
    {
        "index",
        "rule",
        "lost_rule",
        "rules",
        "calendar",
        "scope",
        "coverage",
        "settings",
        "_heap_rules",
    }
)


def state_of(component: object) -> dict[str, Any]:
    """The learned attributes of a component (shared references left out)."""
    return {k: v for k, v in vars(component).items() if k not in SHARED}


def apply_state(component: object, state: dict[str, Any]) -> None:
    """Put saved attributes back on a component built from the same fleets."""
    vars(component).update(state)


def write_state(path: Path | str, parts: dict[str, Any]) -> None:
    """Write ``parts`` to ``path`` atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump({"format": FORMAT, "parts": parts}, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_state(path: Path | str) -> dict[str, Any]:
    """Read the parts written by `write_state`; ValueError for another format."""
    with Path(path).open("rb") as f:
        blob = pickle.load(f)  # noqa: S301 - our own checkpoint file, see module docstring
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a riskstream checkpoint of format {FORMAT}")
    parts: dict[str, Any] = blob["parts"]
    return parts
