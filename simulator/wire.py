"""Messages on the wire: JSON payloads as DESIGN.md sets them, signatures, gateway batches.

A telemetry object is ``{"ts": …, "seq": …, "values": {…}}``; with signing it carries
``sig``, the hex HMAC-SHA256 keyed with the device secret (UTF-8) over the object
without ``sig`` as canonical JSON (keys sorted at every level, separators ``,`` and
``:``, UTF-8), computed by `devices.signing` as ingest checks it. A forged message
(``spoof``) is signed with a key that is not the device's. `Packer` turns a message
stream into MQTT packets: a retained ``online`` birth message before a device's first
telemetry, status messages as they come, and telemetry one object per message or,
with ``batch`` > 1, arrays of up to ``batch`` consecutive reports of one device, as a
gateway sends them.
"""

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from devices.signing import sign
from devices.topics import DEFAULT_PREFIX, format_topic
from simulator.message import Message

MAX_BATCH = 500


__all__ = ["MAX_BATCH", "Packer", "Packet", "forged_key", "sign", "telemetry_object"]


def forged_key(device_id: str) -> str:
    """The key an attacker signs forged messages of ``device_id`` with (not its secret)."""
    return hashlib.sha256(f"attacker:{device_id}".encode()).hexdigest()[:32]


def telemetry_object(message: Message, secret: str | None) -> dict[str, Any]:
    """The JSON object of one report, signed when ``secret`` is given."""
    obj: dict[str, Any] = {"ts": message.ts, "seq": message.seq, "values": message.values}
    if secret is not None:
        key = forged_key(message.device_id) if message.kind == "forged" else secret
        obj["sig"] = sign(obj, key)
    return obj


@dataclass(frozen=True, slots=True)
class Packet:
    """One MQTT publish.

    Attributes:
        topic: where to publish.
        payload: the bytes.
        retain: whether the broker keeps it (status messages).
        readings: metric values in it (0 for status).
        send_ts: event time at which it is sent (the latest ``ts`` seen so far).
    """

    topic: str
    payload: bytes
    retain: bool
    readings: int
    send_ts: float

    @property
    def is_telemetry(self) -> bool:
        """True for telemetry, False for status messages."""
        return not self.retain


class Packer:
    """Turns messages into packets for one tenant."""

    def __init__(
        self,
        tenant: str,
        prefix: str = DEFAULT_PREFIX,
        batch: int = 1,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        """Pack for ``tenant``; sign with ``secrets`` (device id -> secret) when given."""
        if not 1 <= batch <= MAX_BATCH:
            raise ValueError(f"batch must be between 1 and {MAX_BATCH}, got {batch}")
        self.tenant = tenant
        self.prefix = prefix
        self.batch = batch
        self.secrets = secrets
        self._topics: dict[str, str] = {}
        self._announced: set[str] = set()
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._clock = float("-inf")

    def _topic(self, device: str) -> str:
        topic = self._topics.get(device)
        if topic is None:
            topic = self._topics[device] = format_topic(
                self.tenant, device, "telemetry", self.prefix
            )
        return topic

    def _status(self, device: str, status: str) -> Packet:
        topic = format_topic(self.tenant, device, "status", self.prefix)
        return Packet(topic, status.encode(), True, 0, self._clock)

    def _secret(self, device: str) -> str | None:
        return None if self.secrets is None else self.secrets.get(device)

    def _flush(self, device: str) -> Iterator[Packet]:
        objects = self._pending.pop(device, None)
        if objects:
            readings = sum(len(o["values"]) for o in objects)
            yield Packet(self._topic(device), orjson.dumps(objects), False, readings, self._clock)

    def packets(self, messages: Iterable[Message]) -> Iterator[Packet]:
        """The packets of ``messages``, in send order; pending batches flushed at the end."""
        single = self.batch == 1
        dumps = orjson.dumps
        for m in messages:
            device = m.device_id
            if m.ts > self._clock:
                self._clock = m.ts
            if m.kind == "online" or m.kind == "offline":
                yield from self._flush(device)
                self._announced.add(device)
                yield self._status(device, m.kind)
                continue
            if device not in self._announced:
                self._announced.add(device)
                yield self._status(device, "online")
            obj = telemetry_object(m, self._secret(device))
            if single or m.kind == "forged":
                yield Packet(self._topic(device), dumps(obj), False, len(m.values), self._clock)
                continue
            pending = self._pending.setdefault(device, [])
            pending.append(obj)
            if len(pending) >= self.batch:
                yield from self._flush(device)
        for device in list(self._pending):
            yield from self._flush(device)
