"""Where an ingest partition reads on: the last telemetry message it handed on, and the
telemetry stream that message was in.

A position is kept in `riskstream.cluster.layout.SETTINGS_BUCKET` under `position_key`
as ``{sequence} {stream}``, the stream named by its creation time (`stream_identity`).
A telemetry stream made anew (deleted and added again while the positions remain)
numbers its messages from 1 again: a position of the old stream would make the partition
skip as many of the new stream's first messages, silently once the new stream holds that
many. A position of another stream is therefore not followed.
"""

from datetime import datetime
from typing import NamedTuple

from nats.js.api import StreamInfo


def position_key(partition: int) -> str:
    """Key (in `SETTINGS_BUCKET`) of the last telemetry message an ingest partition has
    handed on; whoever owns the partition next reads on from the message after it."""
    return f"position.ingest.p{partition}"


def stream_identity(info: StreamInfo) -> str:
    """The telemetry stream's creation time (ISO 8601, UTC): a stream made anew has
    another; "" if the server did not say."""
    created: datetime | None = info.created
    return created.isoformat() if created is not None else ""


def encode_position(sequence: int, stream: str) -> bytes:
    """The stored value of a position: message ``sequence`` of stream ``stream``."""
    return f"{sequence} {stream}".encode()


class Start(NamedTuple):
    """The telemetry sequence number to read a partition from, and why it is not the
    message after the stored position (None when it is)."""

    sequence: int
    reason: str | None = None


def start_after(value: bytes | None, stream: str, last_seq: int) -> Start:
    """Where to read a partition from, given its stored position ``value`` (None: none),
    the stream's `stream_identity` and its last sequence number.

    A position without a stream (written before positions named theirs) is followed
    unless it lies beyond the stream's end."""
    if value is None:
        return Start(1)
    try:
        text = value.decode()
        sequence_text, _, saved_stream = text.partition(" ")
        sequence = int(sequence_text)
    except (UnicodeDecodeError, ValueError):
        return Start(1, f"the position {value[:40]!r} is not a sequence number")
    if sequence < 0:
        return Start(1, f"the position {sequence} is not a sequence number")
    if saved_stream and stream and saved_stream != stream:
        return Start(
            1,
            f"the position {sequence} is of the telemetry stream made at {saved_stream}, "
            f"not of the one made at {stream}",
        )
    if sequence > last_seq:
        return Start(
            1,
            f"the position {sequence} is beyond the telemetry stream's last message "
            f"({last_seq}): the stream was made anew",
        )
    return Start(sequence + 1)
