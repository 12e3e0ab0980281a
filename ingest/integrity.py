"""Data-integrity signals: what ingest refused or doubted about a device's messages.

Ingest drops a replayed message and accepts a seq conflict (it cannot tell which of
the two senders is genuine), so the risk engine never sees either as a reading. It
learns of them through these signals instead, one per message (or per gap), drained
from the pipeline with every batch. A backtest derives the same signals from a
telemetry file's ``seq`` column (`riskstream.backtest.sequence_pass`).
"""

from dataclasses import dataclass
from typing import Literal

IntegrityKind = Literal[
    "replayed", "conflict", "bad_signature", "missing_signature", "gap", "offline"
]

SUSPICIOUS: frozenset[str] = frozenset(
    {"replayed", "conflict", "bad_signature", "missing_signature"}
)
"""Kinds that suggest someone else is sending as the device; ``gap`` is lost messages."""

OFFLINE = "offline"
"""A gateway declared the device offline (a Sparkplug NDEATH or DDEATH): not an integrity
doubt but a silence known at once; the engine hands it to the deadman."""

MAX_PENDING_SIGNALS = 100_000


@dataclass(frozen=True, slots=True)
class IntegritySignal:
    """One doubtful message (or a run of missing ones) of a device.

    Attributes:
        tenant: the device's tenant.
        device_id: the device the message claims to come from.
        kind: ``replayed`` (a seq seen before, arriving long after its time),
            ``conflict`` (a seq already used by a message of another time),
            ``bad_signature`` / ``missing_signature`` (refused by the HMAC check),
            ``gap`` (messages missing from the seq sequence), ``offline`` (declared
            offline by its gateway's death certificate).
        at: when the receiver got it (epoch seconds, the receiver's clock).
        ts: the event time the message claims, when it has one.
        count: messages this signal stands for (the size of a gap; 1 otherwise).
    """

    tenant: str
    device_id: str
    kind: IntegrityKind
    at: float
    ts: float | None = None
    count: int = 1
