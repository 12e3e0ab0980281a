"""One HTTP attempt of a webhook delivery, bounded in every way a receiver could abuse.

The request is a POST with a timeout on connect, write and each read; redirects are not
followed (a 3xx is a failure: a receiver cannot send the service elsewhere); at most
`MAX_RESPONSE_BYTES` of the answer are read, then the connection is dropped.
"""

import time
from dataclasses import dataclass

import httpx

MAX_RESPONSE_BYTES = 1024
USER_AGENT = "riskstream-webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt gave: 2xx is delivered; anything else is retried."""

    status_code: int | None
    latency_ms: float
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> AttemptResult:
    """POST ``body`` to ``url``; never raises for what the receiver or network does."""
    started = time.perf_counter()
    try:
        request = client.build_request(
            "POST",
            url,
            content=body,
            headers={**headers, "Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        return AttemptResult(None, _ms(started), f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return AttemptResult(None, _ms(started), f"{type(exc).__name__}: {exc}")
    status = response.status_code
    error = None if 200 <= status < 300 else f"HTTP {status}"
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed"
    return AttemptResult(status, _ms(started), error)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)
