"""The PUBACKs of a stored batch, sent in one write.

paho's `Client.ack` queues one 4-byte packet per message and wakes its network thread
for each (a byte down a socket pair), which then writes each packet on its own: at one
reading per message that was a quarter of what ingest with the risk engine spent per
message (`riskstream bench ingest`). A PUBACK is the same 4 bytes in MQTT 3.1.1 and 5
(type 0x40, remaining length 2, the packet id; a success needs no reason code in 5), so
a batch's acknowledgements go to paho's out queue as one buffer: one wake-up and one
socket write for the batch. The broker reads them as the separate packets they are.

Only QoS 1 is sent this way (QoS 2 answers with PUBCOMP, after a PUBREL exchange paho
keeps per message), and only on a paho client that has its out queue where this
module expects it; otherwise each message is acknowledged with `Client.ack`.
"""

import struct
from collections.abc import Sequence

import paho.mqtt.client as paho

__all__ = ["PUBACK_PACKET", "ack_all", "pubacks"]

PUBACK_PACKET = 0x40
_PUBACK = struct.Struct("!BBH")


def pubacks(mids: Sequence[int]) -> bytes:
    """The PUBACK packets of ``mids``, one after another."""
    pack = _PUBACK.pack
    return b"".join([pack(PUBACK_PACKET, 2, mid) for mid in mids])


def ack_all(client: paho.Client, mids: Sequence[int], qos: int) -> None:
    """Acknowledge the messages ``mids`` (received with ``manual_ack``) at ``qos``."""
    if not mids:
        return
    queue = getattr(client, "_packet_queue", None)
    if qos != 1 or queue is None:
        for mid in mids:
            client.ack(mid, qos)
        return
    # what `Client.ack` queues per message, as one buffer (paho writes it in pieces
    # if the socket takes less, as for any packet)
    queue(PUBACK_PACKET, pubacks(mids), 0, 0)
