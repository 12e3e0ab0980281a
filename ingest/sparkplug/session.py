"""The state of one Sparkplug edge node's session, as a host application keeps it.

An NBIRTH opens a session: its ``bdSeq`` names it, its ``seq`` starts the counter
(0–255, wrapping, one counter for the node and all its devices), its metrics define
the node's aliases. A DBIRTH brings a device (and its aliases) online. Every later
message must carry the next ``seq``; a message that does not (a gap), or data from a
node or device with no birth, ends the session: its data is refused until a new
birth, and the host asks for one (`Verdict.REBIRTH`). An NDEATH whose ``bdSeq`` is the
session's ends it (every device offline); one with another ``bdSeq`` is stale (the
will of an earlier connection) and changes nothing. A DDEATH takes one device offline.

A ``seq`` up to `REDELIVERY_WINDOW` behind the last one is a duplicate: the broker
redelivers what ingest had not acknowledged when it reconnects or restarts, and those
messages were handled already (their readings stored or about to be). A session restored
from disk after an ingest restart (`ingest.sparkplug.session_store`) goes on from the
``seq`` that was stored with the readings; the first NDEATH or NBIRTH whose ``bdSeq``
differs from the restored one replaces it.
"""

from dataclasses import dataclass, field
from enum import Enum

from ingest.sparkplug.codec import SEQ_MODULUS

REDELIVERY_WINDOW = 64
"""How far behind the last ``seq`` a message counts as a redelivery (mosquitto lets 20
QoS 1 messages be in flight to a client by default)."""

NODE = ""
"""The key of the edge node's own aliases beside its devices'."""


class Verdict(Enum):
    """What to do with a message after the session saw its ``seq``."""

    ACCEPT = "accept"
    DUPLICATE = "duplicate"
    REBIRTH = "rebirth"


@dataclass(slots=True)
class DeviceState:
    """A device's metric definitions from its birth certificate."""

    aliases: dict[int, str] = field(default_factory=dict)
    datatypes: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class EdgeSession:
    """One edge node: its session (None when dead or never born) and its devices."""

    bd_seq: int | None = None
    seq: int = 0
    alive: bool = False
    devices: dict[str, DeviceState] = field(default_factory=dict)
    """Born devices by Sparkplug device id; `NODE` for the node's own metrics."""
    rebirth_asked_at: float = float("-inf")
    restored: bool = False
    """Read back from disk and not yet confirmed by a birth of this process."""

    def birth(self, bd_seq: int | None, seq: int) -> DeviceState:
        """An NBIRTH: a new session; every device must be born again."""
        self.bd_seq = bd_seq
        self.seq = seq
        self.alive = True
        self.restored = False
        self.devices = {NODE: DeviceState()}
        return self.devices[NODE]

    def step(self, seq: int | None) -> Verdict:
        """Check the ``seq`` of a DBIRTH, data or DDEATH message of a live session."""
        if not self.alive or seq is None:
            return Verdict.REBIRTH
        if (self.seq - seq) % SEQ_MODULUS < REDELIVERY_WINDOW:
            return Verdict.DUPLICATE
        if seq != (self.seq + 1) % SEQ_MODULUS:
            self.end()
            return Verdict.REBIRTH
        self.seq = seq
        return Verdict.ACCEPT

    def end(self) -> list[str]:
        """End the session; return the devices that were online."""
        online = [device for device in self.devices if device != NODE]
        self.alive = False
        self.devices = {}
        return online

    def matches_death(self, bd_seq: int | None) -> bool:
        """Whether an NDEATH with ``bd_seq`` ends this session (not a stale will)."""
        if self.restored and bd_seq != self.bd_seq:
            self.end()  # the stored session is not the node's: trust it no more
            return False
        return self.alive and bd_seq is not None and bd_seq == self.bd_seq

    def may_ask_rebirth(self, now: float, every_s: float) -> bool:
        """Ask an edge node for a rebirth at most once every ``every_s`` seconds."""
        if now - self.rebirth_asked_at < every_s:
            return False
        self.rebirth_asked_at = now
        return True
