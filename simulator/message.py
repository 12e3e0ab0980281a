"""The unit the simulator produces: one message of one device, as it is sent."""

from typing import Literal

import msgspec

MessageKind = Literal["telemetry", "forged", "online", "offline"]


class Message(msgspec.Struct, frozen=True):
    """One message of one device, in the order the device (or an attacker) sends it.

    Attributes:
        ts: event time, epoch seconds.
        device_id: the sending device.
        seq: the device's message counter, from 1 (0 for status messages).
        values: metric name -> value; empty for status messages.
        kind: ``telemetry``; ``forged`` (spoofed by an attacker: signed with a wrong
            key); ``online`` or ``offline`` (a status message: birth or last will).
    """

    ts: float
    device_id: str
    seq: int
    values: dict[str, float]
    kind: MessageKind = "telemetry"
