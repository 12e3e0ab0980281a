"""The receivers `riskstream bench notify` delivers to: an HTTP server and an SMTP server
on loopback, each in a thread with its own event loop, noting when each change arrived."""

import asyncio
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

import orjson
import uvicorn

from riskstream.service.local_broker import free_port

ARRIVED = re.compile(r"borrower (\S+)")


@dataclass
class Arrivals:
    """When each alert (by id, or by borrower for mail) first arrived; answers counted."""

    first: dict[str, float] = field(default_factory=dict)
    answers: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, key: str, status: int) -> None:
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1
            if 200 <= status < 300:
                self.first.setdefault(key, time.time())


class _FlakyHook:
    """ASGI app: answers 500 with probability ``fail_share`` (seeded), else 204."""

    def __init__(self, arrivals: Arrivals, fail_share: float, seed: int) -> None:
        self.arrivals = arrivals
        self.fail_share = fail_share
        self.rng = random.Random(seed)

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 500 if self.rng.random() < self.fail_share else 204
        self.arrivals.note(str(orjson.loads(body)["alert"]["id"]), status)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextmanager
def http_receiver(fail_share: float, seed: int = 1) -> Iterator[tuple[str, Arrivals]]:
    """An HTTP receiver on a free loopback port: (its URL, what arrived)."""
    arrivals = Arrivals()
    port = free_port()
    config = uvicorn.Config(
        _FlakyHook(arrivals, fail_share, seed),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bench-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the bench's HTTP receiver did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/hook", arrivals
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, Arrivals]]:
    """An SMTP server (aiosmtpd, from the test extra) on a free loopback port."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError as exc:  # pragma: no cover - the test extra is missing
        raise RuntimeError(
            "the e-mail part needs aiosmtpd: pip install 'riskstream[test]'"
        ) from exc
    arrivals = Arrivals()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            message = message_from_bytes(envelope.content, policy=policy.default)
            found = ARRIVED.search(str(message["Subject"]))
            arrivals.note(found.group(1) if found else "?", 250)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, arrivals
    finally:
        controller.stop()


async def wait_for(check: Callable[[], bool], within_s: float) -> bool:
    """Whether ``check()`` came true within ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
