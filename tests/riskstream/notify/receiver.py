"""A real HTTP receiver of webhooks on a loopback port (uvicorn), for the notify tests."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson

from riskstream.service.notify import verify
from tests.servers import app_serving

Scope = dict[str, object]
Receive = Callable[[], object]


@dataclass
class Received:
    """One request the receiver answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    @property
    def json(self) -> dict[str, object]:
        return dict(orjson.loads(self.body))

    def verified(self, secret: str, now: float) -> bool:
        return verify(
            secret,
            self.headers.get("x-riskstream-timestamp", ""),
            self.headers.get("x-riskstream-signature", ""),
            self.body,
            now,
        )


@dataclass
class Receiver:
    """Answers each POST with the next status of ``statuses`` (cycling); records it."""

    statuses: list[int] = field(default_factory=lambda: [200])
    got: list[Received] = field(default_factory=list)
    base_url: str = ""
    redirect_to: str = "http://127.0.0.1:9/elsewhere"
    drip_s: float = 0.0
    """When set, the body goes out one byte every ``drip_s`` seconds (100 bytes)."""

    def answer(self) -> int:
        return self.statuses[len(self.got) % len(self.statuses)]

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = self.answer()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}  # type: ignore[attr-defined]
        self.got.append(Received(str(scope["path"]), headers, body, status, time.time()))
        extra = [(b"location", self.redirect_to.encode())] if 300 <= status < 400 else []
        await send({"type": "http.response.start", "status": status, "headers": extra})
        if self.drip_s:
            for _ in range(100):
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                await asyncio.sleep(self.drip_s)
        await send({"type": "http.response.body", "body": b"x" * 100_000})

    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.got if 200 <= r.status < 300]


@asynccontextmanager
async def receiving(statuses: list[int] | None = None) -> AsyncIterator[Receiver]:
    """A `Receiver` serving on a free loopback port."""
    receiver = Receiver(statuses or [200])
    async with app_serving(receiver) as url:  # type: ignore[arg-type]
        receiver.base_url = url
        yield receiver
