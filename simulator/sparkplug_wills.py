"""Each simulated Sparkplug B edge node's death certificate, held by the broker as a will.

A Sparkplug edge node registers its NDEATH (with the ``bdSeq`` of the NBIRTH it is about
to send) as its MQTT connection's will, so that if it drops off the network the broker
tells the host application. The simulator publishes every edge node's messages over one
connection, so it opens one more connection per edge node, with the node's id as client
id, that holds only its will: if the simulator dies (killed, network lost), the broker
publishes each node's NDEATH; at a clean end the simulator sends the NDEATHs itself and
these connections close without their wills.
"""

__all__ = ["Will", "drop_wills", "edge_node_wills", "hold_wills"]

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulator.mqtt_link import CONNECT_TIMEOUT_S, KEEPALIVE_S, LinkError

Will = tuple[str, str, bytes]
"""(client id, NDEATH topic, NDEATH payload)."""


def _connect_one(host: str, port: int, will: Will) -> mqtt.Client:
    client_id, topic, payload = will
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.will_set(topic, payload, qos=1, retain=False)
    ready = threading.Event()
    failed: list[str] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            failed.append(str(reason))
        ready.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, KEEPALIVE_S)
    except (OSError, ValueError) as exc:
        raise LinkError(f"cannot hold the will of edge node {client_id}: {exc}") from None
    client.loop_start()
    if not ready.wait(CONNECT_TIMEOUT_S) or failed:
        drop_wills([client])
        reason = failed[0] if failed else f"no CONNACK within {CONNECT_TIMEOUT_S:.0f} s"
        raise LinkError(f"cannot hold the will of edge node {client_id}: {reason}")
    return client


def hold_wills(host: str, port: int, wills: list[Will]) -> list[mqtt.Client]:
    """Connect one client per will (blocking); `LinkError` if any cannot connect."""
    clients: list[mqtt.Client] = []
    try:
        for will in wills:
            clients.append(_connect_one(host, port, will))
    except LinkError:
        drop_wills(clients)
        raise
    return clients


def drop_wills(clients: Iterable[mqtt.Client]) -> None:
    """Disconnect cleanly: the broker discards the wills."""
    for client in clients:
        with contextlib.suppress(Exception):
            client.disconnect()  # a clean DISCONNECT: the broker drops the will
        with contextlib.suppress(Exception):
            client.loop_stop()


@contextlib.asynccontextmanager
async def edge_node_wills(host: str, port: int, wills: list[Will]) -> AsyncIterator[None]:
    """Hold ``wills`` at the broker while the block runs; drop them cleanly at its end."""
    clients = await asyncio.to_thread(hold_wills, host, port, wills)
    try:
        yield
    finally:
        await asyncio.to_thread(drop_wills, clients)
