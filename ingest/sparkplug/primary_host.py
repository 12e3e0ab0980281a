"""Ingest as a Sparkplug Primary Host Application: its STATE on the broker.

Each MQTT connection gets a timestamp ``T`` (ms since the epoch) when it is made: the
will registered for it says ``{"online": false, "timestamp": T}`` and, once connected,
ingest publishes ``{"online": true, "timestamp": T}``, both retained at QoS 1 on
``spBv1.0/STATE/{host_id}`` (`devices.sparkplug.host_state`). Ingest also reads its own
STATE topic: an "offline" as new as its connection, published by someone else while it
is connected, is answered with "online" again; an older one (an earlier connection's
will) is let be.
"""

import time

import paho.mqtt.client as paho

from devices.sparkplug.host_state import HostState, parse_state, state_topic


class PrimaryHost:
    """The STATE of one host id, for one paho client at a time."""

    def __init__(self, host_id: str) -> None:
        """``host_id``: the id gateways are configured with; `TopicError` if not one."""
        self.topic = state_topic(host_id)
        self.timestamp_ms = 0

    def register_will(self, client: paho.Client) -> None:
        """Take a new connection timestamp and register the offline STATE as the will of
        the client's next CONNECT."""
        self.timestamp_ms = int(time.time() * 1000)
        offline = HostState(online=False, timestamp_ms=self.timestamp_ms).payload()
        client.will_set(self.topic, offline, qos=1, retain=True)

    def announce(self, client: paho.Client, *, online: bool) -> paho.MQTTMessageInfo:
        """Publish this connection's STATE (its will's timestamp), retained, QoS 1."""
        payload = HostState(online=online, timestamp_ms=self.timestamp_ms).payload()
        return client.publish(self.topic, payload, qos=1, retain=True)

    def answer(self, client: paho.Client, payload: bytes) -> None:
        """A message on the host's own STATE topic: say online again if it said offline
        as of this connection or later."""
        said = parse_state(payload)
        if said is not None and not said.online and said.timestamp_ms >= self.timestamp_ms:
            self.announce(client, online=True)
