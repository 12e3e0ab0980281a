"""A plain paho-mqtt publisher for ingest tests (independent of the simulator)."""

import time

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


def sequenced_payloads(
    tenant: str, devices: tuple[str, ...], per_device: int, start_ts: float
) -> list[tuple[str, bytes]]:
    """One-reading messages, seq 1..per_device for each device, interleaved in time."""
    return [
        (
            f"rs/v1/{tenant}/{device}/telemetry",
            orjson.dumps({"ts": start_ts + i, "seq": i + 1, "values": {"weight_kg": float(i)}}),
        )
        for i in range(per_device)
        for device in devices
    ]


def publish_all(
    port: int,
    messages: list[tuple[str, bytes]],
    rate_per_s: float,
    client_id: str,
    login: tuple[str, str] | None = None,
    tls_ca: str | None = None,
) -> int:
    """Publish at QoS 1 at about ``rate_per_s``, riding out broker restarts; wait for every ack.

    A persistent paho session keeps unacknowledged messages and resends them after it
    reconnects, which is what a well-behaved device or gateway does.
    """
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    acked: set[int] = set()
    # is_published() raises for a message queued while disconnected, although paho does
    # send it after reconnecting; the PUBACK callback is the reliable signal.
    client.on_publish = lambda _c, _u, mid, _rc, _p: acked.add(mid)
    client.reconnect_delay_set(0.2, 2)
    client.max_queued_messages_set(0)
    if login is not None:
        client.username_pw_set(*login)
    if tls_ca is not None:
        client.tls_set(ca_certs=tls_ca)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        mids = []
        started = time.monotonic()
        for i, (topic, payload) in enumerate(messages):
            ahead = i / rate_per_s - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
            mids.append(client.publish(topic, payload, qos=1).mid)
        deadline = time.monotonic() + 60
        while not acked.issuperset(mids):
            if time.monotonic() > deadline:
                missing = len(set(mids) - acked)
                raise TimeoutError(f"{missing} messages not acknowledged by the broker in 60 s")
            time.sleep(0.02)
        return len(mids)
    finally:
        client.disconnect()
        client.loop_stop()
