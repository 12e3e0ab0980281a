"""The Sparkplug B topic namespace: ``spBv1.0/{group}/{type}/{edge}[/{device}]``.

Message types with a device level: DBIRTH, DDATA, DDEATH, DCMD; without: NBIRTH, NDATA,
NDEATH, NCMD. ``spBv1.0/STATE/{host}`` is a host application's state (it has no message
type level and is not parsed here). Group, edge node and device ids are single levels
of any characters but ``/``, ``+`` and ``#`` (Sparkplug 3.0.0, section 4.1.1).
"""

import re
from dataclasses import dataclass
from typing import Literal

from devices.errors import TopicError

NAMESPACE = "spBv1.0"
REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"
MAX_ID_LENGTH = 128

MessageType = Literal["NBIRTH", "NDATA", "NDEATH", "NCMD", "DBIRTH", "DDATA", "DDEATH", "DCMD"]
NODE_TYPES: frozenset[str] = frozenset({"NBIRTH", "NDATA", "NDEATH", "NCMD"})
DEVICE_TYPES: frozenset[str] = frozenset({"DBIRTH", "DDATA", "DDEATH", "DCMD"})


_ID = re.compile(rf"[^/+#]{{1,{MAX_ID_LENGTH}}}")


def _check_id(topic: str, name: str, value: str) -> None:
    if _ID.fullmatch(value) is None:
        raise TopicError(topic, f"{name} {value[:40]!r} is not a Sparkplug id")


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """A parsed Sparkplug topic; checks its parts when built."""

    group: str
    message_type: MessageType
    edge: str
    device: str | None = None

    def __post_init__(self) -> None:
        text = str(self)
        _check_id(text, "group", self.group)
        _check_id(text, "edge node", self.edge)
        if self.message_type in DEVICE_TYPES:
            if self.device is None:
                raise TopicError(text, f"{self.message_type} needs a device level")
            _check_id(text, "device", self.device)
        elif self.message_type in NODE_TYPES:
            if self.device is not None:
                raise TopicError(text, f"{self.message_type} has no device level")
        else:
            raise TopicError(text, f"unknown message type {self.message_type!r}")

    def __str__(self) -> str:
        tail = "" if self.device is None else f"/{self.device}"
        return f"{NAMESPACE}/{self.group}/{self.message_type}/{self.edge}{tail}"


def format_sparkplug_topic(
    group: str, message_type: MessageType, edge: str, device: str | None = None
) -> str:
    """Build the topic of a Sparkplug message."""
    return str(SparkplugTopic(group, message_type, edge, device))


def parse_sparkplug_topic(topic: str) -> SparkplugTopic:
    """Parse a Sparkplug topic; raise `TopicError` with the reason."""
    parts = topic.split("/")
    if parts[0] != NAMESPACE:
        raise TopicError(topic, f"does not start with {NAMESPACE}/")
    if len(parts) not in (4, 5):
        raise TopicError(topic, "expected spBv1.0/{group}/{type}/{edge}[/{device}]")
    message_type = parts[2]
    if message_type not in NODE_TYPES and message_type not in DEVICE_TYPES:
        raise TopicError(topic, f"unknown message type {message_type[:20]!r}")
    device = parts[4] if len(parts) == 5 else None
    return SparkplugTopic(parts[1], message_type, parts[3], device)  # type: ignore[arg-type]


def sparkplug_subscriptions() -> tuple[str, str]:
    """What ingest subscribes to: every edge node's and every device's messages (the
    ``STATE`` topics of host applications have one level less and match neither)."""
    return (f"{NAMESPACE}/+/+/+", f"{NAMESPACE}/+/+/+/+")
