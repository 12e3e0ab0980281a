"""What travels on the cluster's streams between workers, and its encoding.

- On the risk stream: one message per device message an ingest worker accepted, with the
  readings and data-integrity signals it gave (msgpack). Its de-duplication id is the
  telemetry stream's sequence number of the device message, so a retry after a crash is
  stored once.
- On the alerts stream: one alert change (JSON, the alert contract of DESIGN.md). Its
  de-duplication id names the alert and the change (status and event time), not the
  wall-clock time it was detected, so the same change found again by the worker that took
  over a partition is stored once.
- On the moves stream: one candidate lot move of a partition (`MoveMessage`, msgpack),
  for the partitions of the lender's other borrowers to pair (double pledge). Its
  de-duplication id names the lot and the move's event times, so the same move found
  again by the partition's next owner is stored once.
"""

import math
from dataclasses import astuple

import msgspec
import orjson

from devices.reading import Reading
from ingest.integrity import IntegritySignal
from riskstream.engine.alerts import Alert

SEVERITIES = frozenset({"info", "warning", "critical"})
STATUSES = frozenset({"open", "acknowledged", "resolved"})
_SignalRow = tuple[str, str, str, float, float | None, int]


class RiskMessage(msgspec.Struct, array_like=True):
    """Readings and signals of one device message, on their way to a risk worker; or a
    person's actions on alerts (``(action, tenant, alert id)``, action ``acknowledge`` or
    ``resolve``), which travel in the same partition so that a replay applies them at
    the same place among the readings."""

    readings: list[Reading]
    signals: list[_SignalRow] = []
    actions: list[tuple[str, str, str]] = []
    source: int = -1
    """The ingest partition it came through (-1: not from ingest)."""
    seq: int = 0
    """The telemetry stream's sequence number of the device message (readings)."""
    through: int = 0
    """On a heartbeat of an ingest partition: it has handed on every message of its own
    up to this telemetry sequence number."""
    throughs: dict[int, int] = {}
    """On a heartbeat of an ingest worker: ``through`` of each ingest partition it works."""
    rules: list[tuple[str, int, str]] = []
    """Rules the API tier put in force: ``(lender, version, rules text)``, lender "" for
    the service's rules."""
    rules_after: int = 0
    """With ``rules``: the telemetry stream's last sequence number when they were put in
    force; the readings of device messages up to it are judged under the rules before."""

    def integrity_signals(self) -> list[IntegritySignal]:
        return [IntegritySignal(t, d, k, at, ts, n) for t, d, k, at, ts, n in self.signals]  # type: ignore[arg-type]


_risk_encoder = msgspec.msgpack.Encoder()
_risk_decoder = msgspec.msgpack.Decoder(RiskMessage)


def encode_risk(
    readings: list[Reading], signals: list[IntegritySignal], source: int, seq: int
) -> bytes:
    rows: list[_SignalRow] = [astuple(s) for s in signals]
    return _risk_encoder.encode(RiskMessage(readings, rows, [], source, seq))


def decode_risk(data: bytes) -> RiskMessage:
    """One risk message; ValueError (or `msgspec.DecodeError`, a ValueError) if it is not
    one, or carries a time or value that is not a finite number."""
    message = _risk_decoder.decode(data)
    for reading in message.readings:
        if not (math.isfinite(reading.ts) and math.isfinite(reading.value)):
            raise ValueError(f"reading of {reading.device_id} is not finite")
    return message


def risk_message_id(telemetry_seq: int) -> str:
    return f"t{telemetry_seq}"


def encode_heartbeat(throughs: dict[int, int]) -> bytes:
    """How far each of a worker's ingest partitions has come, in one message."""
    return _risk_encoder.encode(RiskMessage([], [], [], throughs=throughs))


def encode_rules(scope: str, version: int, text: str, after: int) -> bytes:
    """Rules of a lender (``scope``; "" for the service's) for every risk partition, in
    force after telemetry sequence number ``after``."""
    return _risk_encoder.encode(RiskMessage([], rules=[(scope, version, text)], rules_after=after))


def rules_message_id(scope: str, version: int, sha256: str, partition: int) -> str:
    """One per partition: the risk stream's de-duplication spans its subjects."""
    return f"rules:{scope}:{version}:{sha256[:16]}:p{partition}"


def encode_action(action: str, tenant: str, alert_id: str) -> bytes:
    return _risk_encoder.encode(RiskMessage([], [], [(action, tenant, alert_id)]))


def encode_alert(alert: Alert) -> bytes:
    return orjson.dumps(alert.to_dict())


def decode_alert(data: bytes) -> Alert:
    """One alert change; ValueError if the message is not one."""
    try:
        alert = Alert(**orjson.loads(data))
    except TypeError as exc:  # not an object, fields missing or unknown
        raise ValueError(f"not an alert change: {exc}") from None
    texts = (alert.id, alert.tenant, alert.borrower_id, alert.kind, alert.subject, alert.rule)
    times = (alert.opened_at, alert.detected_at, alert.updated_at, alert.score)
    if (
        not all(isinstance(t, str) for t in texts)
        or not all(isinstance(t, int | float) and math.isfinite(t) for t in times)
        or alert.severity not in SEVERITIES
        or alert.status not in STATUSES
        or not isinstance(alert.reasons, list)
        or not isinstance(alert.evidence, dict)
    ):
        raise ValueError(f"not an alert change: a field of the wrong type in {alert.id!r:.80}")
    return alert


def alert_message_id(alert: Alert) -> str:
    return f"{alert.id}:{alert.status}:{alert.severity}:{alert.updated_at!r}"


MAX_ID_CHARS = 128


class MoveMessage(msgspec.Struct, array_like=True, frozen=True):
    """A lot move (`riskstream.detectors.lot_moves.Move`) one risk partition found and
    the others may pair: what double pledge needs of it."""

    tenant: str
    borrower_id: str
    collateral_id: str
    delta_kg: float
    start: float
    end: float
    seen_at: float
    quiet: bool
    partition: int
    """The risk partition that found it (its borrower's)."""


_move_decoder = msgspec.msgpack.Decoder(MoveMessage)


def encode_move(move: MoveMessage) -> bytes:
    return _risk_encoder.encode(move)


def decode_move(data: bytes) -> MoveMessage:
    """One move message; ValueError if it is not one, or its times and weight are not
    finite, out of order or zero, or an id is empty or too long."""
    move = _move_decoder.decode(data)
    numbers = (move.delta_kg, move.start, move.end, move.seen_at)
    if not all(math.isfinite(n) for n in numbers):
        raise ValueError(f"move of lot {move.collateral_id[:MAX_ID_CHARS]!r} is not finite")
    if move.delta_kg == 0 or not move.start <= move.end <= move.seen_at:
        raise ValueError(f"move of lot {move.collateral_id[:MAX_ID_CHARS]!r} is not a move")
    if not all(
        0 < len(t) <= MAX_ID_CHARS for t in (move.tenant, move.borrower_id, move.collateral_id)
    ):
        raise ValueError("move with an empty or over-long id")
    return move


def move_message_id(move: MoveMessage) -> str:
    return f"m:{move.tenant}:{move.collateral_id}:{move.start!r}:{move.seen_at!r}"


def encode_rules_entry(version: int, sha256: str, text: str) -> bytes:
    """A rules text as the rules bucket keeps it."""
    return orjson.dumps({"version": version, "sha256": sha256, "text": text})


def decode_rules_entry(data: bytes) -> tuple[int, str, str]:
    """(version, sha256, text) of a rules bucket entry; ValueError if it is not one."""
    try:
        entry = orjson.loads(data)
        version, sha256, text = entry["version"], entry["sha256"], entry["text"]
    except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
        raise ValueError(f"not a rules entry: {exc}") from None
    if not (isinstance(version, int) and isinstance(sha256, str) and isinstance(text, str)):
        raise ValueError("not a rules entry: a field of the wrong type")
    return version, sha256, text
