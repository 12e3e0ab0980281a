"""Sparkplug edge-node sessions kept on disk, so an ingest restart goes on where it was.

Without them, the QoS 1 messages the broker redelivers after an ingest restart would be
refused (``sparkplug_no_birth``) until each node was born again: their aliases and
``seq`` lived only in memory. The file is SQLite (one row per edge node: group, edge
node, ``bdSeq``, last ``seq``, whether alive, and its devices' aliases and datatypes as
JSON), mode 0600, beside the ingest spool. The runner saves what changed after each batch
is stored and before it is acknowledged, so the stored ``seq`` covers the readings
stored. A crash between the two has the broker redeliver that batch; its readings are
then known by the store's newest readings of each device
(`ingest.device_table.seed_recent_readings`) and dropped as duplicates.
The file is made at the first save: a deployment without Sparkplug never has one.

Nothing read back is trusted blindly: rows of edge nodes or devices no fleet binds any
more are dropped, every field is checked for type, range and size, a row that fails is
dropped (logged) and the others kept, and a file that cannot be read at all is set aside
(renamed ``.bad``) so ingest starts with no sessions, as before this file existed: the
nodes are then asked for a rebirth. A restored session is replaced by the node's next
NBIRTH, and ended by an NDEATH with another ``bdSeq``.
"""

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from devices.private_files import create_private, make_private_dirs
from ingest.sparkplug.codec import SEQ_MODULUS
from ingest.sparkplug.session import NODE, DeviceState, EdgeSession

log = logging.getLogger(__name__)

SESSIONS_FILE = "sparkplug-sessions.sqlite"
MAX_ALIASES_PER_DEVICE = 100_000
MAX_DEVICES_JSON_BYTES = 64 << 20
MAX_NAME_CHARS = 1024
MAX_ALIAS = (1 << 64) - 1
MAX_DATATYPE = 1 << 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sparkplug_sessions (
    grp TEXT NOT NULL,
    edge TEXT NOT NULL,
    bd_seq INTEGER,
    seq INTEGER NOT NULL,
    alive INTEGER NOT NULL,
    devices TEXT NOT NULL,
    PRIMARY KEY (grp, edge)
)
"""

EdgeKey = tuple[str, str]
Binding = tuple[str, str, str | None]


@dataclass(frozen=True, slots=True)
class SessionChange:
    """What to save of one edge node: always its counters; its devices when births or
    deaths changed them (None: as stored)."""

    group: str
    edge: str
    bd_seq: int | None
    seq: int
    alive: bool
    devices: bytes | None


def sessions_file_beside(spool_dir: Path) -> Path:
    """The default sessions file: beside the ingest spool directory."""
    return spool_dir.parent / SESSIONS_FILE


def devices_json(session: EdgeSession) -> bytes:
    """The session's devices, aliases and datatypes as JSON."""
    return orjson.dumps(
        {
            device: {
                "aliases": {str(alias): name for alias, name in state.aliases.items()},
                "datatypes": state.datatypes,
            }
            for device, state in session.devices.items()
        }
    )


class SessionStore:
    """The SQLite file of Sparkplug sessions; one writer (the ingest runner)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            make_private_dirs(self.path.parent)
            made = create_private(self.path)
            if made is not None:
                made.close()
            self._connection = self._open()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.execute("SELECT grp, edge, bd_seq, seq, alive, devices FROM sparkplug_sessions")
        except sqlite3.DatabaseError as exc:
            bad = self.path.with_name(self.path.name + ".bad")
            log.error(
                "Sparkplug sessions file %s cannot be read (%s); set aside as %s, "
                "edge nodes will be asked for a rebirth",
                self.path,
                exc,
                bad,
            )
            self.path.replace(bad)
            made = create_private(self.path)
            if made is not None:
                made.close()
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        return db

    def load(
        self, edges: frozenset[EdgeKey], bindings: Iterable[Binding]
    ) -> dict[EdgeKey, EdgeSession]:
        """The stored sessions of the edge nodes the fleets bind, each checked."""
        if self._connection is None and not self.path.exists():
            return {}
        bound = set(bindings)
        sessions: dict[EdgeKey, EdgeSession] = {}
        dropped = 0
        for row in self._db.execute(
            "SELECT grp, edge, bd_seq, seq, alive, devices FROM sparkplug_sessions"
        ):
            try:
                key, session = _session_of(row, edges, bound)
            except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
                dropped += 1
                log.warning("Sparkplug sessions: a stored row is not used: %s", str(exc)[:200])
                continue
            sessions[key] = session
        if sessions or dropped:
            log.info(
                "Sparkplug sessions: %d edge nodes restored from %s, %d rows not used",
                len(sessions),
                self.path,
                dropped,
            )
        return sessions

    def save(self, changes: list[SessionChange]) -> None:
        """Write the changes in one transaction."""
        if not changes:
            return
        db = self._db
        counters = [
            (c.bd_seq, c.seq, int(c.alive), c.group, c.edge) for c in changes if c.devices is None
        ]
        births = [
            (c.group, c.edge, c.bd_seq, c.seq, int(c.alive), c.devices.decode())
            for c in changes
            if c.devices is not None
        ]
        db.execute("BEGIN")
        try:
            db.executemany(
                "UPDATE sparkplug_sessions SET bd_seq = ?, seq = ?, alive = ? "
                "WHERE grp = ? AND edge = ?",
                counters,
            )
            db.executemany(
                "INSERT INTO sparkplug_sessions (grp, edge, bd_seq, seq, alive, devices) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (grp, edge) DO UPDATE SET "
                "bd_seq = excluded.bd_seq, seq = excluded.seq, alive = excluded.alive, "
                "devices = excluded.devices",
                births,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the file."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _int_in(value: Any, low: int, high: int, what: str) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{what} {value!r} is not an integer in {low}..{high}")
    return value


def _session_of(
    row: tuple[Any, ...], edges: frozenset[EdgeKey], bound: set[Binding]
) -> tuple[EdgeKey, EdgeSession]:
    group, edge, bd_seq, seq, alive, devices = row
    if not isinstance(group, str) or not isinstance(edge, str) or (group, edge) not in edges:
        raise ValueError(f"edge node {str(edge)[:80]!r} of group {str(group)[:80]!r} is not bound")
    session = EdgeSession(
        bd_seq=None if bd_seq is None else _int_in(bd_seq, 0, MAX_ALIAS, "bdSeq"),
        seq=_int_in(seq, 0, SEQ_MODULUS - 1, "seq"),
        alive=bool(_int_in(alive, 0, 1, "alive")),
        restored=True,
    )
    if not isinstance(devices, str) or len(devices) > MAX_DEVICES_JSON_BYTES:
        raise ValueError("devices is not JSON text of a bounded size")
    parsed = orjson.loads(devices)
    if not isinstance(parsed, dict):
        raise ValueError("devices is not a JSON object")
    for device, state in parsed.items():
        if device != NODE and (group, edge, device) not in bound:
            continue  # a device no fleet binds any more
        session.devices[device] = _device_state(state)
    if session.alive and NODE not in session.devices:
        raise ValueError("a live session without its node's own aliases")
    return (group, edge), session


def _device_state(state: Any) -> DeviceState:
    if not isinstance(state, dict) or set(state) != {"aliases", "datatypes"}:
        raise ValueError("a device is not {aliases, datatypes}")
    aliases, datatypes = state["aliases"], state["datatypes"]
    if not isinstance(aliases, dict) or not isinstance(datatypes, dict):
        raise ValueError("aliases and datatypes must be objects")
    if len(aliases) > MAX_ALIASES_PER_DEVICE or len(datatypes) > MAX_ALIASES_PER_DEVICE:
        raise ValueError(f"more than {MAX_ALIASES_PER_DEVICE:,} aliases on a device")
    result = DeviceState()
    for alias, name in aliases.items():
        if not alias.isdigit() or not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
            raise ValueError(f"alias {alias[:40]!r} is not a number naming a metric")
        result.aliases[_int_in(int(alias), 0, MAX_ALIAS, "alias")] = name
    for name, datatype in datatypes.items():
        if len(name) > MAX_NAME_CHARS:
            raise ValueError("a metric name is too long")
        result.datatypes[name] = _int_in(datatype, 0, MAX_DATATYPE, "datatype")
    return result
