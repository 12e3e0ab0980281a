"""The service's engine checkpoint: written periodically and on shutdown, read at start.

A checkpoint carries a digest of the fleets the engine was built from; at start it is
restored only when the registered fleets are the same, so the engine resumes with its
open alerts, detector state and learned models. The file is authenticated with the
checkpoint key (`riskstream.engine.checkpoint_key`) and nothing of it is unpickled unless its
MAC matches. A missing file means a first start; an unreadable, corrupt, altered,
foreign-keyed, old-format or mismatched one is logged with the reason and the engine
starts fresh (the file is left in place for inspection until the next checkpoint
replaces it). The checkpoint file is mode 0600, the directories made for it 0700.
"""

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

from devices.model import Fleet
from devices.private_files import make_private_dirs
from riskstream.engine.lenders import LenderEngines

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 300.0


def fleets_digest(fleets: Iterable[Fleet]) -> str:
    """SHA-256 over the fleets (by tenant), the identity a checkpoint is tied to."""
    h = hashlib.sha256()
    for fleet in sorted(fleets, key=lambda f: f.tenant.id):
        h.update(fleet.model_dump_json().encode())
        h.update(b"\n")
    return h.hexdigest()


def save(engine: LenderEngines, path: Path, digest: str, key: bytes) -> None:
    """Write the engine's checkpoint to ``path`` atomically, authenticated with ``key``."""
    make_private_dirs(path.parent)
    engine.checkpoint(path, meta={"fleets": digest}, key=key)


def restore(engine: LenderEngines, path: Path, digest: str, key: bytes) -> str | None:
    """Restore ``engine`` from ``path``; return why not (None when it was restored).

    On a reason other than "no checkpoint", the engine may be partly restored: the
    caller must build a fresh one.
    """
    if not path.exists():
        return "no checkpoint"
    try:
        engine.restore(path, meta={"fleets": digest}, key=key)
    except Exception as exc:  # any failure of an old file means: start fresh
        return f"{type(exc).__name__}: {exc}"
    return None
