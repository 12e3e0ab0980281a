"""An MQTT broker inside the riskstream process (amqtt), for the demo: no root, no install.

amqtt is pure Python (about 2,700 msg/s here): right for a demo, not for production,
where mosquitto or another real broker is expected (``--broker mqtt://HOST:PORT``).
"""

import contextlib
import logging
import socket
from collections.abc import AsyncIterator

from amqtt.broker import Broker


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int | None = None) -> AsyncIterator[str]:
    """Run an amqtt broker on ``host:port`` (a free port if None); yield its mqtt:// URL."""
    port = port or free_port(host)
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
    )
    await broker.start()
    try:
        yield f"mqtt://{host}:{port}"
    finally:
        await broker.shutdown()
