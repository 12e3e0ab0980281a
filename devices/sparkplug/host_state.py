"""The Primary Host Application's STATE (Sparkplug 3.0.0, section 5.2.3 / 7.1 "STATE").

A host application (riskstream's ingest) publishes ``spBv1.0/STATE/{host_id}``, QoS 1,
retained, with the UTF-8 JSON ``{"online": true, "timestamp": T}`` once connected, and
registers in its MQTT CONNECT a will on the same topic, QoS 1, retained, with
``{"online": false, "timestamp": T}``: the same ``T``, in milliseconds since the epoch
(UTC), taken when it connects. Edge nodes configured with that host subscribe to the
topic, publish their births only while it is online, and treat a STATE whose timestamp is
older than the newest they saw as stale. Both sides need it, so it lives in ``devices``.
"""

from dataclasses import dataclass

import orjson

from devices.sparkplug.topic import NAMESPACE, _check_id

STATE_LEVEL = "STATE"
MAX_STATE_BYTES = 256


@dataclass(frozen=True, slots=True)
class HostState:
    """One STATE message: the host online or not, as of ``timestamp_ms``."""

    online: bool
    timestamp_ms: int

    def payload(self) -> bytes:
        """The message's JSON payload."""
        return orjson.dumps({"online": self.online, "timestamp": self.timestamp_ms})


def state_topic(host_id: str) -> str:
    """``spBv1.0/STATE/{host_id}``; `TopicError` for an id with ``/``, ``+`` or ``#``."""
    topic = f"{NAMESPACE}/{STATE_LEVEL}/{host_id}"
    _check_id(topic, "host id", host_id)
    return topic


def parse_state(payload: bytes) -> HostState | None:
    """A STATE payload, or None when it is not one (wrong JSON, types or size)."""
    if len(payload) > MAX_STATE_BYTES:
        return None
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    online, timestamp = raw.get("online"), raw.get("timestamp")
    if type(online) is not bool or type(timestamp) is not int or timestamp < 0:
        return None
    return HostState(online, timestamp)


__all__ = ["STATE_LEVEL", "HostState", "parse_state", "state_topic"]
